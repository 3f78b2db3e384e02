"""1D Korteweg-de Vries, u_t + u u_x + u_xxx = 0 on [0, 128), periodic.

Data justification: filled in by the foundation issue (see benchmarks.md).

    make train EXP=kdv            # quick profile, PIMRL
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(solver_grid=64, grid=32, dt=0.05, substeps=2, k=4, N=2, n_macro=8,
                  spinup=0.0, n_train=2, n_test=2),
    "quick": dict(solver_grid=256, grid=64, dt=0.05, substeps=2, k=5, N=4, n_macro=100,
                  spinup=0.0, n_train=8, n_test=5),
    "paper": dict(solver_grid=256, grid=128, dt=0.0025, substeps=1, k=10, N=5, n_macro=600,
                  spinup=0.0, n_train=13, n_test=10),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(system="kdv", ndim=1, coefficients=dict(), length=128.0,
                seed_train=1, seed_test=2, dtype="float64", **_DATA[profile])
    model = dict(micro=dict(known_terms=("dispersion",), n_conv=2, kernel=5, hidden=8))
    return make_config("kdv", profile, data, model)
