"""2D Gray-Scott on [0, 1)^2, periodic: D_u = 2e-5, D_v = 5e-6, f = 0.04, kappa = 0.06.

Data justification: filled in by the foundation issue (see benchmarks.md).
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(solver_grid=32, grid=16, dt=1.0, substeps=2, k=4, N=2, n_macro=8,
                  spinup=0.0, n_train=2, n_test=2),
    "quick": dict(solver_grid=128, grid=32, dt=1.0, substeps=2, k=5, N=5, n_macro=200,
                  spinup=100.0, n_train=2, n_test=5),
    "paper": dict(solver_grid=128, grid=64, dt=0.5, substeps=1, k=8, N=5, n_macro=500,
                  spinup=100.0, n_train=2, n_test=10),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(system="gray_scott", ndim=2,
                coefficients=dict(d_u=2e-5, d_v=5e-6, f=0.04, kappa=0.06),
                length=1.0, seed_train=1, seed_test=2, dtype="float64",
                **_DATA[profile])
    model = dict(micro=dict(c_up=4e-5, n_conv=3, kernel=1, hidden=8))
    return make_config("gs2d", profile, data, model)
