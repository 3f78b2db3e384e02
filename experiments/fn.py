"""2D FitzHugh-Nagumo on [0, 128)^2, periodic: D_u = 1, D_v = 100, alpha = 0.01, beta = 0.25.

Data justification: filled in by the foundation issue (see benchmarks.md).
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(solver_grid=32, grid=16, dt=0.02, substeps=1, k=4, N=2, n_macro=8,
                  spinup=1.0, n_train=2, n_test=2),
    "quick": dict(solver_grid=128, grid=64, dt=0.005, substeps=1, k=10, N=4, n_macro=200,
                  spinup=10.0, n_train=4, n_test=5),
    "paper": dict(solver_grid=128, grid=128, dt=0.001, substeps=1, k=10, N=5, n_macro=1000,
                  spinup=10.0, n_train=4, n_test=10),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(system="fn", ndim=2,
                coefficients=dict(d_u=1.0, d_v=100.0, alpha=0.01, beta=0.25),
                length=128.0, seed_train=1, seed_test=2, dtype="float64",
                **_DATA[profile])
    model = dict(micro=dict(c_up=200.0, n_conv=3, kernel=1, hidden=8))
    return make_config("fn", profile, data, model)
