"""3D Gray-Scott on [-50, 50)^3, periodic: D_u = 0.2, D_v = 0.1, f = 0.025, kappa = 0.055.

Data (benchmarks.md; u = 1, v = 0 with 4 random cubic/Gaussian seeds u = 0.5, v = 0.25, 1%
noise; the solver's box is [0, 100)^3, the same periodic domain shifted). Solver: pseudo-spectral
ETDRK4 on 48^3 (the lab's grid), float64, fine step 0.5 (the lab's storage step). The seeds grow
slowly, so quick simulates 300 and paper 500 time units of spin-up (PeRCNN trains from t = 500).

| profile | grid (dx)  | dt  | k | Dt | N | T   | horizon | spin-up | bursts | Euler number |
|---------|------------|-----|---|----|---|-----|---------|---------|--------|--------------|
| smoke   | 8 (12.5)   | 1.0 | 4 | 4  | 2 | 8   | 32      | 0       | 4      | 0.020        |
| quick   | 24 (4.167) | 1.0 | 5 | 5  | 5 | 100 | 500     | 300     | 20     | 0.184        |
| paper   | 48 (2.083) | 0.5 | 8 | 4  | 5 | 375 | 1500    | 500     | 75     | 0.369        |

Euler number = dt*D_u*ndim*(16/3)/dx^2 (D_u = 0.2), must be <= 2; the reaction rates (<= ~0.3)
keep dt*rate inside Euler's region at dt = 1. The lab stores every 0.5 over t in [0, 1500]
(MindFlow's demo: t in [0, 500]); quick covers 500 time units at 24^3, paper 1500
at 48^3. Measured on quick (`make data EXP=gs3d PROFILE=quick`: 346 s on the shared 2-core
machine, 163 MiB): u's spatial std grows 0.076 -> 0.13 as the seeds' shells expand through the
box, last-minus-first RMS 0.19, RMS change per macro step 0.003-0.004 throughout (still
growing at the end). 24^3 under-resolves the sharp shells (dx = 4.2), so the Fourier-truncated
frames show slight Gibbs ringing (v >= -0.037, u <= 1.018); paper's 48^3 resolves it. 2 (quick) /
3 (paper) train trajectories, 5 test with their own seed.
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(
        length=100.0,
        solver_grid=16,
        grid=8,
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
        length=50.0,
        solver_grid=48,
        grid=24,
        dt=1.0,
        substeps=2,
        k=5,
        N=5,
        n_macro=100,
        spinup=300.0,
        n_train=2,
        n_val=2,
        n_test=5,
    ),
    "paper": dict(
        length=100.0,
        solver_grid=96,
        grid=48,
        dt=0.5,
        substeps=1,
        k=8,
        N=5,
        n_macro=375,
        spinup=500.0,
        n_train=3,
        n_val=1,
        n_test=5,
    ),
}

# FNO/CROP sizes. The defaults (12 modes, width 20, CROP latent 32) suit the 48^3 paper grid; at
# 24^3 they keep every Fourier mode (22M parameters) and a training step costs 14 s (FNO) and
# 46 s (CROP, 5.8 GiB) on 2 CPUs, so smaller grids get proportionally smaller operators.
_OPERATORS = {
    "smoke": dict(
        fno=dict(modes=2, width=8, layers=2), crop=dict(modes=2, width=8, layers=2, latent=8)
    ),
    "quick": dict(fno=dict(modes=6, width=12), crop=dict(modes=6, width=12, latent=16)),
    "paper": dict(),
}

# Training (pimrl_jax.train): quick windows span two PIMRL cycles (N = 5); the rest are defaults.
_TRAIN = {"quick": dict(window=10)}


# Macro sizes: common.MACRO_SIZES, except a 64-channel top level and ConvLSTM at paper scale
# (3D activations are large; a choice, not a measured limit).
_MACRO = {"paper": dict(features=(8, 32, 64), lstm_features=64)}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(
        system="gray_scott",
        ndim=3,
        coefficients=dict(d_u=0.2, d_v=0.1, f=0.025, kappa=0.055),
        seed_train=1,
        seed_test=2,
        dtype="float64",
        initial=dict(n_seeds=4, seed_shape="mixed", seed_size=(0.05, 0.12), noise=0.01),
        **_DATA[profile],
    )
    # PeRCNN 3D Gray-Scott: 3 parallel 1x1x1 convs, 2 channels, init x0.01; c_up = 2x D_u.
    model = dict(
        micro=dict(c_up=0.4, n_conv=3, kernel=1, hidden=2, init_scale=0.01),
        macro=_MACRO.get(profile, {}),
        **_OPERATORS[profile],
    )
    return make_config("gs3d", profile, data, model, train=_TRAIN.get(profile))
