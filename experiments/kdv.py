"""1D Korteweg-de Vries, u_t + u u_x + u_xxx = 0 on [0, 128), periodic.

Data (benchmarks.md; LPSDA-style ICs: 10 sines, modes 1-3, amplitudes U[-0.5, 0.5]). Solver:
pseudo-spectral ETDRK4 on 256 points (the benchmark's solver grid), float64, no spin-up (the sine
sum is already a smooth, physical state; it steepens into solitons within the horizon).

| profile | grid (dx) | dt   | k  | Dt    | N | T   | horizon | bursts | Euler growth |
|---------|-----------|------|----|-------|---|-----|---------|--------|--------------|
| smoke   | 32 (4)    | 0.05 | 4  | 0.2   | 2 | 8   | 1.6     | 4      | 1.0002       |
| quick   | 64 (2)    | 0.05 | 5  | 0.25  | 4 | 100 | 25      | 25     | 1.23         |
| paper   | 128 (1)   | 0.0025 | 10 | 0.025 | 5 | 600 | 15    | 120    | 1.49         |

Forward Euler on pure dispersion is never strictly stable: the 4th-order 7-point d^3/dx^3 stencil
has symbol i*w/dx^3 with max|w| = 4.60, so each micro step multiplies the worst grid mode by
sqrt(1 + (dt*4.60/dx^3)^2) (quick: 1.00041, paper: 1.000066). Over the whole horizon
(n_macro*k micro steps, the PeRCNN baseline's longest rollout) that is the "Euler growth" column,
kept <= 2 by `solvers.stability.check_stability`. The paper profile's dx = 1 forces dt = 0.0025
(dt = 0.01 would grow 8.3x). The advection term adds at most max|u|*dt*0.686/dx per step
(quick: |u| <= 3.2 after steepening -> 0.11, amplification 1.006, and it is not a constant-sign
growth). LPSDA stores t in [0, 20]: quick covers 25 time units, in which the sine sums steepen
into solitons of amplitude ~3 (max|u| 1.8 -> 3.1, the field changes by its own RMS, 0.7) that
cross ~1/5 of the domain. Train 8 (quick) / 13 (paper) trajectories (paper's 2-13), test 5 / 10
with their own seed. `make data EXP=kdv PROFILE=quick`: 17 s on the shared 2-core machine,
0.8 MiB.

    make train EXP=kdv            # quick profile, PIMRL

Expected (2-core CPU): about 2.5 min (training 125 s); test RMSE 0.32, MAE 0.10, HCT 23.1 of
25 time units, against RMSE 0.61 for persistence (u_t = u_0).
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(
        length=128.0,
        solver_grid=64,
        grid=32,
        dt=0.05,
        substeps=2,
        k=4,
        N=2,
        n_macro=8,
        spinup=0.0,
        n_train=2,
        n_val=1,
        n_test=2,
    ),
    "quick": dict(
        length=64.0,
        solver_grid=256,
        grid=128,
        dt=0.05,
        substeps=2,
        k=5,
        N=4,
        n_macro=100,
        spinup=0.0,
        micro_integrator="rk4",
        n_train=8,
        n_val=3,
        n_test=5,
    ),
    "paper": dict(
        length=128.0,
        solver_grid=512,
        grid=256,
        dt=0.05,
        substeps=2,
        k=5,
        N=5,
        n_macro=200,
        spinup=0.0,
        micro_integrator="rk4",
        n_train=13,
        n_val=3,
        n_test=10,
    ),
}

# Training (pimrl_jax.train). quick: windows of 16 macro steps = 4 PIMRL cycles.
_TRAIN = {
    "quick": dict(
        micro_steps=1000,
        steps=3000,
        batch_size=8,
        window=16,
        lr=2e-3,
        lr_decay_every=1000,
        checkpoint_every=500,
        log_every=50,
    ),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(
        system="kdv",
        ndim=1,
        coefficients=dict(),
        seed_train=1,
        seed_test=2,
        dtype="float64",
        initial=dict(n_waves=10, amplitude=0.5, max_mode=3),
        **_DATA[profile],
    )
    # Fixed dispersion -u_xxx as the known term; u u_x is learned by 2 parallel kernel-5 convs.
    model = dict(micro=dict(known_terms=("dispersion",), n_conv=2, kernel=5, hidden=8))
    return make_config("kdv", profile, data, model, train=_TRAIN.get(profile))
