"""3D Gray-Scott on [-50, 50)^3, periodic: D_u = 0.2, D_v = 0.1, f = 0.025, kappa = 0.055.

Data justification: filled in by the foundation issue (see benchmarks.md).
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(solver_grid=16, grid=8, dt=1.0, substeps=2, k=4, N=2, n_macro=8,
                  spinup=0.0, n_train=2, n_test=2),
    "quick": dict(solver_grid=48, grid=24, dt=1.0, substeps=2, k=5, N=5, n_macro=100,
                  spinup=100.0, n_train=2, n_test=5),
    "paper": dict(solver_grid=48, grid=48, dt=0.5, substeps=1, k=8, N=5, n_macro=375,
                  spinup=100.0, n_train=3, n_test=5),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(system="gray_scott", ndim=3,
                coefficients=dict(d_u=0.2, d_v=0.1, f=0.025, kappa=0.055),
                length=100.0, seed_train=1, seed_test=2, dtype="float64",
                initial=dict(n_seeds=4, seed_shape="mixed", seed_size=(0.05, 0.12), noise=0.01),
                **_DATA[profile])
    model = dict(micro=dict(c_up=0.274, n_conv=3, kernel=1, hidden=2, init_scale=0.01))
    return make_config("gs3d", profile, data, model)
