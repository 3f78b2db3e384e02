"""2D viscous Burgers, u_t = nu Lap u - (u.grad) u, nu = 0.005, on [0, 1)^2, periodic.

Data justification: filled in by the foundation issue (see benchmarks.md).
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(solver_grid=32, grid=16, dt=0.002, substeps=2, k=4, N=2, n_macro=8,
                  spinup=0.0, n_train=2, n_test=2),
    "quick": dict(solver_grid=128, grid=32, dt=0.001, substeps=2, k=5, N=4, n_macro=200,
                  spinup=0.0, n_train=5, n_test=5),
    "paper": dict(solver_grid=128, grid=64, dt=0.0005, substeps=2, k=8, N=5, n_macro=350,
                  spinup=0.0, n_train=5, n_test=10),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(system="burgers", ndim=2, coefficients=dict(nu=0.005), length=1.0,
                seed_train=1, seed_test=2, dtype="float64", **_DATA[profile])
    model = dict(micro=dict(c_up=0.0108, n_conv=4, kernel=5, hidden=8))
    return make_config("burgers", profile, data, model)
