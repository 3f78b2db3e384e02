"""2D FitzHugh-Nagumo on [0, 128)^2, periodic: D_u = 1, D_v = 100, alpha = 0.01, beta = 0.25.

Data (benchmarks.md; the lab's generator: i.i.d. N(0, 0.05^2) noise per point and field, on
[0, 128)^2). Solver: pseudo-spectral ETDRK4 on 128^2 (dx = 1, the lab's grid), float64, fine step
= dt (the stiff D_v = 100 diffusion is exact in ETDRK4; the reaction rates are O(1)). From the
noise, u stays noise for ~2 time units (spatial std 0.05), the instability grows it over t = 2-6
and patterns have formed by t ~ 6-7 (std 0.6-0.7; measured on a 64^2 run), so every profile
simulates a spin-up before t = 0 (10 time units for quick/paper): t = 0 already shows patterns
(quick: spatial std of u 0.62).

| profile | grid (dx) | dt    | k  | Dt   | N | T    | horizon | spin-up | bursts | Euler number |
|---------|-----------|-------|----|------|---|------|---------|---------|--------|--------------|
| smoke   | 16 (8)    | 0.02  | 4  | 0.08 | 2 | 8    | 0.64    | 1       | 4      | 0.33         |
| quick   | 64 (2)    | 0.005 | 10 | 0.05 | 4 | 200  | 10      | 10      | 50     | 1.33         |
| paper   | 128 (1)   | 0.001 | 10 | 0.01 | 5 | 1000 | 10      | 10      | 200    | 1.07         |

Euler number = dt*D_v*ndim*(16/3)/dx^2 with D_v = 100 (the tight one), must be <= 2
(`solvers.stability.check_stability`): dt <= 0.0075 at 64^2 and <= 0.001875 at 128^2, which is
why dt is 0.005 / 0.001 and k = 10 brings Dt to the lab's storage interval range (0.02) x 1-2.5.
The lab integrates at 0.002, stores every 0.02 over 10-20 time units; P2C2Net trains FN at 64^2
and tests over 10 s: quick = 64^2 over 10 time units. Measured on quick: u's spatial std grows
0.62 -> 0.85 as the pattern sharpens and coarsens, v's range drifts from [0.19, 0.46] to
[-0.15, 0.25]; last-minus-first RMS 0.57 against a field RMS of 0.58 (alive, not settled).
4 train trajectories, 5 (quick) / 10 (paper) test with their own seed. Quick's file is ~210 MiB
(bursts of 11 frames every 4 macro steps dominate). `make data EXP=fn PROFILE=quick`: 110 s on
the shared 2-core machine.
"""

from experiments.common import check_profile, make_config

_DATA = {
    "smoke": dict(
        length=128.0,
        solver_grid=32,
        grid=16,
        dt=0.02,
        substeps=1,
        k=4,
        N=2,
        n_macro=8,
        spinup=1.0,
        n_train=2,
        n_val=1,
        n_test=2,
    ),
    "quick": dict(
        length=64.0,
        solver_grid=128,
        grid=64,
        dt=0.001,
        substeps=1,
        k=20,
        N=5,
        n_macro=200,
        spinup=10.0,
        n_train=4,
        n_val=3,
        n_test=5,
    ),
    "paper": dict(
        length=128.0,
        solver_grid=256,
        grid=128,
        dt=0.001,
        substeps=1,
        k=20,
        N=5,
        n_macro=500,
        spinup=10.0,
        n_train=4,
        n_val=2,
        n_test=10,
    ),
}


def get_config(profile: str = "quick"):
    check_profile(profile)
    data = dict(
        system="fn",
        ndim=2,
        coefficients=dict(d_u=1.0, d_v=100.0, alpha=0.01, beta=0.25),
        seed_train=1,
        seed_test=2,
        dtype="float64",
        initial=dict(sigma=0.05),
        **_DATA[profile],
    )
    # 1x1 reaction convs (3 in parallel: the cubic u^3 needs a triple product). c_up = 140,
    # 1.4x the largest true diffusion D_v = 100: 2x would break the forward-Euler bound of
    # the micro step at quick (dt <= 2 dx^2 / (c_up * 2 * 16/3) = 0.005 needs c_up <= 150).
    model = dict(micro=dict(c_up=140.0, n_conv=3, kernel=1, hidden=8))
    return make_config("fn", profile, data, model)
