"""1D Korteweg-de Vries, u_t + u u_x + u_xxx = 0, periodic.

Data (benchmarks.md; LPSDA-style ICs: 10 sines, modes 1-3 of the domain, amplitudes
U[-0.5, 0.5]). Solver: pseudo-spectral ETDRK4 on twice the learning grid, float64, fine step
dt/2, no spin-up (the sine sum is already a smooth, physical state; it steepens into solitons
within the horizon).

| profile | domain   | grid (dx) | solver | dt   | k | Dt   | N | T   | horizon | integrator |
|---------|----------|-----------|--------|------|---|------|---|-----|---------|------------|
| smoke   | [0, 128) | 32 (4)    | 64     | 0.05 | 4 | 0.2  | 2 | 8   | 1.6     | euler      |
| quick   | [0, 64)  | 128 (0.5) | 256    | 0.05 | 5 | 0.25 | 4 | 100 | 25      | rk4        |
| paper   | [0, 128) | 256 (0.5) | 512    | 0.05 | 5 | 0.25 | 5 | 200 | 50      | rk4        |

Faithful learning problem (benchmarks.md; `python -m solvers.closure data/kdv-<profile>.h5`):

| profile | trajectories | r_state max | r_oracle max | r_oracle median |
|---------|--------------|-------------|--------------|-----------------|
| quick   | 3 val (all)  | 1.0e-5      | 0.080        | 0.023           |
| paper   | 2 val (of 3) | 3.5e-6      | 0.041        | 0.016           |

Why this grid. The micro module's dispersion stencil (4th-order, 7 points) is the error on coarse
grids: at dx = 2 (the old quick profile, 64 points on [0, 128)) the true PDE in the micro
module's form predicted the next macro frame worse than persistence once the solitons formed
(r_oracle 1.2-1.55); at dx = 1 still 0.67-0.82. At dx = 0.5 it is 0.08 (RK4) / 0.16 (Euler).
Resolution first, then the domain was halved to [0, 64) (modes 1-3 of the domain: the waves
are half as long as LPSDA's, so they steepen into solitons within the same 25 time units) to
keep the cost of quick at 128 points. Paper keeps LPSDA's [0, 128) at the same dx, 256 points.

Why RK4. At dx = 0.5 and dt = 0.05 forward Euler multiplies the stencil's worst mode by
|1 + i dt w_max/dx^3| = 2.1 per micro step, so any micro rollout longer than a few steps (PeRCNN
rolls 500 over the horizon) is dominated by that growth; classical RK4 is stable for
|dt w| <= 2.83 (here 1.84: |R| = 0.83 at the worst mode, <= 1 everywhere), and
`solvers.stability` checks the growth over the horizon for the integrator in use. Lowering dt
for Euler instead would need dt <= 0.0006 (growth <= 2 over the horizon): 80x more micro steps.

Train 8 (quick) / 13 (paper) trajectories (the paper's 2-13), validation 3, test 5 / 10, each
split with its own seed. `make data EXP=kdv PROFILE=quick`: 20 s, 2.0 MiB.

    make train EXP=kdv            # quick profile, PIMRL

Expected (2-core CPU, otherwise idle): about 7.5 min on a fresh clone with the environment
install (twenty-fifth session, 7 min 34 s; README, "make train"); test RMSE 0.134, HCT 25 of 25
time units, against 0.795 for persistence (u_t = u_0) and 0.024 for the physics oracle
(`MODEL=oracle`).
"""

from experiments.common import check_profile, make_config
from pimrl_jax import tuning

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


# Tuning (docs/profiles.md, "Tuning protocol"; the table is in docs/results.md): the candidate of
# pimrl_jax.tuning each model won on validation (quick, seed 0) and kept through the seed check:
# long_unroll for pimrl 0.0316, percnn 0.0287, convlstm 0.0392 and fno 0.140 (their defaults
# 0.0669, 0.0608, 0.124, 0.188); crop long_rollout 0.328 (default 0.397, long_unroll 0.361).
# The +noisy round (twenty-third session, third machine: `results --exp kdv --tune --candidates
# in_use,+noisy`), in use -> +noisy on seed 0: pimrl 0.0287 -> 0.0294, percnn 0.0126 -> 0.0146,
# convlstm 0.0443 -> 0.0555, crop 0.323 -> 0.400 (all keep), fno 0.147 -> 0.087 (seeds 1, 2:
# 0.098, 0.112, finite): fno long_unroll+noisy. The +pushforward round (twenty-third and
# twenty-fourth sessions, `--candidates +pushforward`), in use -> +pushforward on seed 0 (seeds 1,
# 2 of the new choice, all finite): pimrl 0.0287 -> 0.0193 (0.0151, 0.0193), percnn 0.0126 ->
# 0.0074 (0.0267, 0.0223), convlstm 0.0443 -> 0.0366 (0.0447, 0.137), fno 0.0872 -> 0.0852
# (0.0934, 0.107), crop 0.323 -> 0.297 (0.465, 0.356): pushforward wins on seed 0 for every
# model. Ranked by the mean over the three seeds of the candidates that passed the seed check
# (twenty-fifth session), it keeps winning for pimrl (0.0179 against long_unroll's 0.0450), fno
# (0.0953 / 0.0990) and crop (0.373 / 0.428) and loses for percnn (0.0188 against long_unroll's
# 0.0172: seeds 1, 2 0.0182, 0.0208) and convlstm (0.0729 against 0.0624: 0.0505, 0.0925).
_TUNED = {
    "quick": {
        "pimrl": "long_unroll+pushforward",
        "percnn": "long_unroll",
        "convlstm": "long_unroll",
        "fno": "long_unroll+noisy+pushforward",
        "crop": "long_rollout+pushforward",
    }
}
# Compute allowance (docs/profiles.md, "Compute allowance"): every model's recipe shortened to
# about 380 s of training on the 2-core reference machine, two runs at a time. With the recipes
# above at full length, `make results EXP=kdv` on a clean clone of ce07f48 took 45 min 44 s
# (twenty-sixth session; ~80 s environment and data), over its 45 minutes, its runs' test RMSEs
# those of the adopted runs (the table's means to every digit shown). Factor = 380 s / the
# recipe's full-length training time, mean of that clean clone's three seeds: percnn 517 s (545,
# 500, 507), fno 461 (488, 448, 447); pimrl (358: 412, 326, 337), convlstm (169) and crop (97)
# are under it and keep their whole recipes. 380 leaves the margin the day-to-day spread needs
# (this machine's tuning-time runs of fno took 417 s on average, the clean clone's 461).
_STEP_SCALE = {"quick": {"percnn": 0.73, "fno": 0.82}}


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
    config = make_config("kdv", profile, data, model, train=_TRAIN.get(profile))
    return tuning.record(config, _TUNED.get(profile, {}), _STEP_SCALE.get(profile))
