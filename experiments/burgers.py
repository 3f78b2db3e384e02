"""2D viscous Burgers, u_t = nu Lap u - (u.grad) u, nu = 0.005, on [0, 1)^2, periodic.

Data (benchmarks.md; P2C2Net-style ICs: random Fourier sum with modes up to 5 per axis, scaled
to max-abs 2, per-field offset, divided by 3). Solver: pseudo-spectral ETDRK4 on 128^2 (the
benchmark's solver grid), float64, fine step dt/2; no spin-up (the IC is smooth and the early
decay of its high modes is part of the dynamics the lab's data also start with).

| profile | grid (dx)     | dt     | k | Dt    | N | T   | horizon | bursts | Euler number |
|---------|---------------|--------|---|-------|---|-----|---------|--------|--------------|
| smoke   | 16 (0.0625)   | 0.002  | 4 | 0.008 | 2 | 8   | 0.064   | 4      | 0.027        |
| quick   | 32 (0.03125)  | 0.001  | 5 | 0.005 | 4 | 200 | 1.0     | 50     | 0.055        |
| paper   | 64 (0.015625) | 0.0005 | 8 | 0.004 | 5 | 350 | 1.4     | 70     | 0.109        |

Euler number = dt*nu*ndim*(16/3)/dx^2, the worst mode of the 4th-order Laplacian; forward Euler
needs <= 2 (`solvers.stability.check_stability`). The advection term is the tighter one here:
max|u|*dt*1.372/dx <= 0.9*0.001*1.372*32 = 0.04 (quick), so |1 + i*0.04| = 1.0008 per step.
The lab (P2C2Net) integrates at dt = 0.001 and tests over 1.4 s at 25^2-26^2; quick keeps their
dt and a 1.0 s horizon at 32^2, paper their 1.4 s at 64^2. Measured on quick: the spatial std of
u falls 0.20 -> 0.11 (t=0.25) -> 0.053 (t=1.0) while the field keeps moving (RMS change per
macro step 8.5e-3 at first, 6.4e-4 at the end; last-minus-first RMS 0.21): decaying but never
constant. 5 train trajectories (P2C2Net's split), 16 (quick) / 3 (paper) validation, 5 (quick) /
10 (paper) test, each split with its own seed. `make data EXP=burgers PROFILE=quick`: 145 s on the
shared 2-core machine, 51 MiB, with 3 validation trajectories (16: 147 s, 102 MiB).

Faithful learning problem (benchmarks.md; `python -m solvers.closure data/burgers-<profile>.h5`):

| profile | trajectories | r_state max | r_oracle max | r_oracle median |
|---------|--------------|-------------|--------------|-----------------|
| quick   | 16 val (all) | 0.023       | 0.122        | 0.026           |
| paper   | 2 val (of 3) | 4.6e-4      | 0.017        | 0.002           |

Validation split (quick: 16 trajectories, not P2C2Net's 3). The learned rollouts of Burgers fail
on single initial states: with 3 validation trajectories every tuned PeRCNN and PIMRL run stayed
finite there, yet on the test split PeRCNN diverged on every seed and PIMRL on one. On 16
validation trajectories the same checkpoints diverge on 2-3 of them (PeRCNN long_rollout, seeds
0-2) and 0-3 (PIMRL), so the tuning protocol sees what the test split would. Growing the split
changes nothing else: each split is drawn from its own seed, so the train and test arrays stay
bitwise the same, and runs trained before stay valid (`train.RESUMABLE_CHANGES`).

Burgers was the one quick profile whose grid already held the physics (dx = 1/32 resolves the
viscous fronts at nu = 0.005 with modes up to 5), so its grids are unchanged: the quick grid is
the lab's (P2C2Net trains at 25^2-26^2), the solver grid four times finer.
"""

from experiments.common import check_profile, make_config
from pimrl_jax import tuning

_DATA = {
    "smoke": dict(
        solver_grid=32,
        grid=16,
        dt=0.002,
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
        solver_grid=128,
        grid=32,
        dt=0.001,
        substeps=2,
        k=5,
        N=4,
        n_macro=200,
        spinup=0.0,
        n_train=5,
        n_val=16,  # see "Validation split" above
        n_test=5,
    ),
    "paper": dict(
        solver_grid=128,
        grid=64,
        dt=0.0005,
        substeps=2,
        k=8,
        N=5,
        n_macro=350,
        spinup=0.0,
        n_train=5,
        n_val=3,
        n_test=10,
    ),
}


# Tuning (docs/profiles.md, "Tuning protocol"; the table is in docs/results.md): the candidate of
# pimrl_jax.tuning each model won on validation (quick, seed 0, 16 validation trajectories; a
# diverged run loses; the seed check, seeds 1 and 2, then keeps the first candidate that stays
# finite there too): pimrl default 0.064 (long_rollout 0.058 on seed 0 diverged on validation
# with seeds 1 and 2; default finite on both, 0.070 and 0.121), percnn default 0.085
# (long_rollout and long_pretraining diverged; long_unroll 0.053 diverged with seed 1), convlstm
# long_unroll 0.062 (long_rollout 0.068, default 0.079), fno long_unroll 0.058 (long_rollout
# 0.099, default diverged at step 176), crop default 0.152 (long_rollout 0.216, long_unroll 0.168);
# pimrl's long_unroll (0.051) diverged with seed 1. The modifier round (twenty-second session,
# third machine; `results --exp burgers --tune --candidates +noisy`, after the candidates in use
# were trained again there), validation RMSE on seed 0, in use -> +noisy: pimrl 0.064 -> 0.066
# (keeps default), percnn 0.085 -> 0.083 (seeds 1, 2: 0.083, 0.084, finite), convlstm 0.059 ->
# 0.050 (0.064, 0.079), fno 0.063 -> 0.073 (keeps long_unroll), crop default diverged on seed 0
# there (step 154), +noisy too (step 133): none passes, keeps default. The +pushforward round
# (twenty-second and twenty-third sessions, `--candidates +pushforward`), in use -> +pushforward:
# pimrl 0.064 -> 0.0695, percnn 0.083 -> 0.0831, convlstm 0.050 -> 0.052, fno 0.063 -> 0.068
# (all keep), crop default+pushforward 0.183, finite on seeds 1, 2 too (0.165, 0.201): the first
# crop candidate to pass the seed check.
_TUNED = {
    "quick": {
        "pimrl": "default",
        "percnn": "default+noisy",
        "convlstm": "long_unroll+noisy",
        "fno": "long_unroll",
        "crop": "default+pushforward",
    }
}
# Compute allowance (docs/profiles.md, "Compute allowance"): every model's recipe shortened to
# about 300 s of training on the 2-core reference machine, two runs at a time. With the recipes
# above at full length, `make results EXP=burgers` on a clean clone of 2790e0c took 47 min 16 s
# (twenty-fifth session: 65 s environment, 223 s of data, 41.7 min of runs), over its 45 minutes.
# Factor = 300 s / the recipe's full-length training time, mean of that run's three seeds: fno
# 531 s (555, 520, 518), crop 388 (404, 386, 374); pimrl (151), percnn (272) and convlstm (133)
# are under it and keep their whole recipes. 300, not 350: the shortened recipes run over their
# allowance (each curriculum phase's compile is not shortened; fn ran 21-27 % over).
_STEP_SCALE = {"quick": {"fno": 0.56, "crop": 0.77}}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(
        system="burgers",
        ndim=2,
        coefficients=dict(nu=0.005),
        length=1.0,
        seed_train=1,
        seed_test=2,
        dtype="float64",
        initial=dict(max_mode=5),
        **_DATA[profile],
    )
    # PeRCNN Burgers: 4 parallel 5x5 convs, 8 channels, c_up 0.0108 (about 2x nu = 0.005).
    model = dict(micro=dict(c_up=0.0108, n_conv=4, kernel=5, hidden=8))
    config = make_config("burgers", profile, data, model)
    return tuning.record(config, _TUNED.get(profile, {}), _STEP_SCALE.get(profile))
