"""2D Gray-Scott, periodic: D_u = 2e-5, D_v = 5e-6, f = 0.04, kappa = 0.06.

Data (benchmarks.md; u = 1, v = 0 with random square/Gaussian seeds u = 0.5, v = 0.25, 1%
noise). Solver: pseudo-spectral ETDRK4 on twice the learning grid, float64, fine step = dt. The
seeds need time to start growing rings, so quick/paper simulate 100 time units of spin-up.

| profile | domain      | grid (dx)  | solver | dt   | k  | Dt | N | T   | horizon | Euler |
|---------|-------------|------------|--------|------|----|----|---|-----|---------|-------|
| smoke   | [0, 1)^2    | 16 (1/16)  | 32     | 1.0  | 4  | 4  | 2 | 8   | 32      | 0.055 |
| quick   | [0, 0.25)^2 | 40 (1/160) | 80     | 0.25 | 20 | 5  | 5 | 200 | 1000    | 1.37  |
| paper   | [0, 0.5)^2  | 80 (1/160) | 160    | 0.25 | 20 | 5  | 5 | 400 | 2000    | 1.37  |

Faithful learning problem (benchmarks.md; `python -m solvers.closure data/gs2d-<profile>.h5`):

| profile | trajectories | r_state max | r_oracle max | r_oracle median |
|---------|--------------|-------------|--------------|-----------------|
| quick   | 3 val (all)  | 4.1e-5      | 0.274        | 0.060           |
| paper   | 2 val (of 2) | 3.6e-5      | 0.341        | 0.179           |

Why this grid. The old quick profile ([0, 1)^2 at 32^2, dx = 1/32) did not hold the pattern: its
labyrinth wavelength is 3-4 points there, and the true PDE in the micro module's form predicted
the next macro frame worse than persistence (r_oracle 0.96-2.5), which is why every
physics-informed model failed on it. The measurement behind the choice, on 4-6 validation
trajectories over the same 200 macro steps of Dt = 5: dx = 1/128 gives r_oracle up to 0.6 late
in the horizon (the pattern settles, the persistence change shrinks to ~5e-4 per step and the
stencil's drift does not), dx = 1/160 up to 0.27, dx = 1/192 up to 0.14 (the time step is not
the error: dt = 0.5 or RK4 change nothing at dx = 1/128). dx = 1/160 is the coarsest spacing
that passes with a margin, at 40^2 points on [0, 0.25)^2 for quick (2-4 pattern wavelengths),
80^2 on [0, 0.5)^2 for paper. Seeds scale with the domain (`seed_size` is a fraction of it):
quick uses 2 seeds of 0.2-0.45 of the side (0.05-0.11 in length, as the benchmark's 4 seeds of
0.05-0.12 on [0, 1)^2); with the benchmark's fractions on the small domain the seeds are 2-4
points wide and die out in some trajectories.

Euler number = dt*D_u*ndim*(16/3)/dx^2 must be <= 2: dt <= 0.37 at dx = 1/160, so dt = 0.25
and k = 20 keep the lab's macro step Dt = 5 of the old profile; the micro module's diffusion
bound c_up (2.8e-5 = 1.4 x D_u) is set by the same Euler bound. Measured on quick (val): u's
spatial std 0.36 -> 0.15 as the rings fill the domain and settle into a labyrinth; RMS change per
macro step 0.021 -> 0.0005; last-minus-first RMS 0.34. 2 train trajectories (the paper's
count), 3 (quick) / 2 (paper) validation, 5 / 10 test, each split with its own seed.
`make data EXP=gs2d PROFILE=quick`: 58 s on the shared 2-core machine, 127 MiB.
"""

from experiments.common import check_profile, make_config
from pimrl_jax import tuning

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
# PIMRL's windows start at any macro index, not only at multiples of N: with 2 training
# trajectories of 200 steps, starts at multiples of 5 leave it 76 distinct windows (ConvLSTM,
# FNO, CROP and PeRCNN see 382). Validation, seed 0, its tuned long_rollout recipe: RMSE 0.134
# (HCT 238) with cycle starts, 0.065 (HCT 752) with any start (`--config.train.window_starts=any`,
# 2026-11-30). On kdv (8 trajectories) the same change was worse on both seeds tried (0.064 ->
# 0.249, 0.159 -> 0.169), so it is set per experiment, not globally.
_TRAIN = {"quick": dict(window=10, window_starts="any")}
# Tuning (docs/profiles.md, "Tuning protocol"; the table is in docs/results.md): the candidate of
# pimrl_jax.tuning each model won on validation (the others keep the defaults). PIMRL's
# long_unroll passed its seed check in the eleventh session, on the second machine: validation
# RMSE 0.063, 0.067, 0.064 on seeds 0-2 against long_rollout's 0.076, 0.071, 0.084 there. The
# thirteenth session gave every baseline the same candidate (on this machine, against each one's
# earlier choice scored on validation here): PeRCNN long_unroll 0.075, 0.066, 0.079 (long_rollout
# 0.077 on seed 0) and ConvLSTM long_unroll 0.082, 0.091, 0.093 (default 0.095) pass the seed
# check; FNO's long_unroll diverged on seed 0 (validation step 125; its default, kept, diverges on
# seed 1) and CROP's is worse than its default (0.141 against 0.093). The modifier round
# (twenty-second session, third machine, at the allowance below; `results --exp gs2d --tune
# --candidates +noisy`: each model's candidate in use with noise injection), validation RMSE on
# seed 0, candidate in use -> +noisy: pimrl 0.092 -> 0.086 (seeds 1, 2: 0.061, 0.100, finite),
# percnn 0.127 -> 0.079 (0.068, 0.085), convlstm 0.082 -> 0.064 (0.076, 0.080), fno default
# 0.089 -> 0.082 (seed 2 diverges at step 90; default diverges on seeds 1 and 2, so none passes
# and the lowest seed-0 RMSE is the choice), crop 0.094 -> 0.141 (keeps default). Then the
# pushforward round (same session; `--candidates +pushforward`: each candidate in use with the
# pushforward modifier on top), seed 0, in use -> +pushforward: pimrl 0.086 -> 0.075 (seeds 1,
# 2: 0.070, 0.086), percnn 0.079 -> 0.075 (0.085, 0.077), convlstm 0.064 -> 0.057 (0.064,
# 0.077), fno 0.082 -> 0.079 (seed 2 diverges at step 82: none passes, lowest seed-0 RMSE),
# crop 0.094 -> 0.148 (keeps default). Ranked by the mean over the three seeds of the candidates
# that passed the seed check (twenty-fifth session): pimrl and convlstm keep pushforward (0.0770
# against 0.0825 with noise alone, 0.0659 against 0.0730), percnn goes back to long_unroll+noisy
# (0.0776 against 0.0788); fno's none passes, so its seed-0 choice stands.
_TUNED = {
    "quick": {
        "pimrl": "long_unroll+noisy+pushforward",
        "percnn": "long_unroll+noisy",
        "convlstm": "long_unroll+noisy+pushforward",
        "fno": "default+noisy+pushforward",
    }
}
# Compute allowance (docs/profiles.md, "Compute allowance"): every model's recipe shortened to
# about 210 s of training on the 2-core reference machine, two runs at a time, so that `make
# results EXP=gs2d` (18 runs, 33 s of data) fits its 45 minutes. Factor = 210 s / the recipe's
# full-length training time, mean of the seventeenth session's three clean-clone seeds: pimrl
# 410 s, percnn 410, fno 373, crop 435; convlstm (206 s) keeps its whole recipe. 210, not
# 270: on fn the shortened recipes ran 21-27 % over their allowance (experiments/fn.py), and a
# first try here at 230 s (eighteenth session) trained PIMRL 312 and 328 s on seeds 0 and 1.
_STEP_SCALE = {"quick": {"pimrl": 0.51, "percnn": 0.51, "fno": 0.56, "crop": 0.48}}


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
    config = make_config("gs2d", profile, data, model, train=_TRAIN.get(profile))
    return tuning.record(config, _TUNED.get(profile, {}), _STEP_SCALE.get(profile))
