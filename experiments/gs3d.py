"""3D Gray-Scott on [-50, 50)^3, periodic: D_u = 0.2, D_v = 0.1, f = 0.025, kappa = 0.055.

Data justification: filled in by the foundation issue (see benchmarks.md).
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(solver_grid=16, grid=8, dt=1.0, substeps=2, k=4, N=2, n_macro=8,
                  spinup=0.0, n_train=2, n_test=2),
    "quick": dict(solver_grid=48, grid=24, dt=1.0, substeps=2, k=5, N=5, n_macro=100,
                  spinup=300.0, n_train=2, n_test=5),
    "paper": dict(solver_grid=48, grid=48, dt=0.5, substeps=1, k=8, N=5, n_macro=375,
                  spinup=500.0, n_train=3, n_test=5),
}

# FNO/CROP sizes. The defaults (12 modes, width 20, CROP latent 32) suit the 48^3 paper grid; at
# 24^3 they keep every Fourier mode (22M parameters) and a training step costs 14 s (FNO) and
# 46 s (CROP, 5.8 GiB) on 2 CPUs, so smaller grids get proportionally smaller operators.
_OPERATORS = {
    "smoke": dict(fno=dict(modes=2, width=8, layers=2), crop=dict(modes=2, width=8, layers=2,
                                                                  latent=8)),
    "quick": dict(fno=dict(modes=6, width=12), crop=dict(modes=6, width=12, latent=16)),
    "paper": dict(),
}

# Training (pimrl_jax.train): quick windows span two PIMRL cycles (N = 5); the rest are defaults.
_TRAIN = {"quick": dict(window=10)}


# Macro module (residual ConvLSTM autoencoder) sizes: PhyCRNet's 8 -> 32 -> 128 channels with a
# 128-channel ConvLSTM at paper scale; small enough to train in minutes on CPU at quick; tiny at
# smoke. Every grid of a profile is divisible by the total stride 2^len(features).
_MACRO = {
    "smoke": dict(features=(4,), lstm_features=8, kernel=3),
    "quick": dict(features=(8, 16), lstm_features=32, kernel=3),
    "paper": dict(features=(8, 32, 64), lstm_features=64, kernel=3),
}

def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(system="gray_scott", ndim=3,
                coefficients=dict(d_u=0.2, d_v=0.1, f=0.025, kappa=0.055),
                length=100.0, seed_train=1, seed_test=2, dtype="float64",
                initial=dict(n_seeds=4, seed_shape="mixed", seed_size=(0.05, 0.12), noise=0.01),
                **_DATA[profile])
    # PeRCNN 3D Gray-Scott: 3 parallel 1x1x1 convs, 2 channels, init x0.01; c_up = 2x D_u.
    model = dict(micro=dict(c_up=0.4, n_conv=3, kernel=1, hidden=2, init_scale=0.01),
                 macro=_MACRO[profile], **_OPERATORS[profile])
    return make_config("gs3d", profile, data, model, train=_TRAIN.get(profile))
