"""2D Gray-Scott on [0, 1)^2, periodic: D_u = 2e-5, D_v = 5e-6, f = 0.04, kappa = 0.06.

Data (benchmarks.md; u = 1, v = 0 with 4 random square/Gaussian seeds u = 0.5, v = 0.25, 1%
noise). Solver: pseudo-spectral ETDRK4 on 128^2, float64, fine step dt/2 (quick) or dt (paper:
dt = 0.5 is already the lab's storage step). The seeds need time to start growing rings, so
quick/paper simulate 100 time units of spin-up: t = 0 shows the first rings around the seeds.

| profile | grid (dx)     | dt  | k | Dt | N | T   | horizon | spin-up | bursts | Euler number |
|---------|---------------|-----|---|----|---|-----|---------|---------|--------|--------------|
| smoke   | 16 (0.0625)   | 1.0 | 4 | 4  | 2 | 8   | 32      | 0       | 4      | 0.055        |
| quick   | 32 (0.03125)  | 1.0 | 5 | 5  | 5 | 200 | 1000    | 100     | 40     | 0.218        |
| paper   | 64 (0.015625) | 0.5 | 8 | 4  | 5 | 500 | 2000    | 100     | 100    | 0.437        |

Euler number = dt*D_u*ndim*(16/3)/dx^2 (D_u = 2e-5), must be <= 2; the reaction rates (<= ~0.3)
keep dt*rate well inside Euler's region at dt = 1. The lab stores every 0.5 over 1500-2000 time
units and P2C2Net trains GS at 32^2 and tests over 2000 s: quick = 32^2 over 1000 (the whole
spread from isolated rings to a domain-filling labyrinth), paper = 64^2 over 2000. Measured on
quick: u's spatial std 0.16 -> 0.29 (t=500) -> 0.14 (t=1000) as the patterns spread and fill the
domain; last-minus-first RMS 0.43; RMS change per macro step stays 0.005-0.010. At 32^2 the
labyrinth's wavelength is only ~3-4 points, so Fourier truncation shows slight Gibbs undershoot
(v >= -0.06, u <= 1.013); paper's 64^2 resolves it. 2 train trajectories (the paper's count),
5 (quick) / 10 (paper) test with their own seed.
`make data EXP=gs2d PROFILE=quick`: 68 s on the shared 2-core machine, 24 MiB.
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(
        length=1.0,
        initial=dict(n_seeds=4, seed_shape="mixed", seed_size=(0.05, 0.12), noise=0.01),
        solver_grid=32,
        grid=16,
        dt=1.0,
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
        length=0.25,
        initial=dict(n_seeds=2, seed_shape="mixed", seed_size=(0.2, 0.45), noise=0.01),
        solver_grid=80,
        grid=40,
        dt=0.25,
        substeps=1,
        k=20,
        N=5,
        n_macro=200,
        spinup=100.0,
        n_train=2,
        n_val=3,
        n_test=5,
    ),
    "paper": dict(
        length=0.5,
        initial=dict(n_seeds=4, seed_shape="mixed", seed_size=(0.1, 0.25), noise=0.01),
        solver_grid=160,
        grid=80,
        dt=0.25,
        substeps=1,
        k=20,
        N=5,
        n_macro=400,
        spinup=100.0,
        n_train=2,
        n_val=2,
        n_test=10,
    ),
}

# Training (pimrl_jax.train): quick windows span two PIMRL cycles (N = 5); the rest are defaults.
_TRAIN = {"quick": dict(window=10)}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(
        system="gray_scott",
        ndim=2,
        coefficients=dict(d_u=2e-5, d_v=5e-6, f=0.04, kappa=0.06),
        seed_train=1,
        seed_test=2,
        dtype="float64",
        **_DATA[profile],
    )
    # PeRCNN 2D Gray-Scott: 3 parallel 1x1 convs, 8 channels. c_up = 2.8e-5 = 1.4x D_u: PeRCNN
    # uses 2x, but the Euler bound of the micro step at dx = 1/160, dt = 0.25 needs c_up <= 2.93e-5.
    model = dict(micro=dict(c_up=2.8e-5, n_conv=3, kernel=1, hidden=8))
    return make_config("gs2d", profile, data, model, train=_TRAIN.get(profile))
