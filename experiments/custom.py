"""Your own data: train on a dataset file imported with `python -m solvers.ingest`.

    make train   EXP=custom DATA=data/mine.h5 [PROFILE=smoke|quick|paper] [KNOWN=laplacian]
    make compare EXP=custom DATA=data/mine.h5
    python -m pimrl_jax.main --config experiments/custom.py:data/mine.h5:quick \\
        --workdir runs/custom-mine-quick/pimrl [--config.model.micro.known_terms=laplacian]

The config argument is `<dataset path>[:<profile>]` (profile default quick). Everything about the
data — system, grid, length, δt, k, N, horizon, split sizes, fields — is read from the file's
stored data section (`data_config`, written by `solvers.ingest` or `python -m solvers`), so
`config.data` is exactly the section the file was made from and its config hash matches by
construction. The hash check then guards the other direction: an override of a `config.data.*`
field is refused as a stale file (the data cannot change without re-importing), and a run
directory trained on one import refuses a re-imported file with different contents (the data
section records the SHA-256 of the input arrays, so `config.json` of the run differs in
`data.source`). Moving the file is allowed (`data.path` is a resumable change).

Model choices for data whose physics is unknown:

* micro module: no known terms by default (`model.micro.known_terms=()`); choose them with
  `--config.model.micro.known_terms=laplacian` (or `"('laplacian','dispersion')"`; Makefile
  `KNOWN=laplacian`). The Π-block's kernel is 5 in 1D/2D and 3 in 3D, so it can learn spatial
  derivatives itself; `c_up` (bound of a learned diffusivity) is half the largest value the micro
  integrator keeps stable at this δt and grid spacing.
* macro module: the profile's sizes (`experiments.common.MACRO_SIZES`) with as many stride-2
  levels as the grid can be halved (at least one; `solvers.ingest` refuses odd grids).
* training: the profile's defaults; windows of about 8 macro steps, a multiple of N (one cycle at
  smoke) and at most the horizon.

Expected result and time: depend on the data. On the README's example (2D Gray–Scott smoke
trajectories imported from a Well-style file, 16²) `make train EXP=custom DATA=... PROFILE=smoke`
takes about a minute on a 2-core CPU, mostly compilation.
"""

from experiments.common import MACRO_SIZES, PROFILES, make_config

DEFAULT_PROFILE = "quick"


def parse_arg(arg: str | None) -> tuple[str, str]:
    """`<path>[:<profile>]` -> (path, profile)."""
    text = (arg or "").strip()
    head, sep, tail = text.rpartition(":")
    path, profile = (head, tail) if sep and tail in PROFILES else (text, DEFAULT_PROFILE)
    if not path:
        raise ValueError(
            "experiments/custom.py needs the dataset file: --config "
            "experiments/custom.py:data/mine.h5[:smoke|quick|paper] (make train EXP=custom "
            "DATA=data/mine.h5); make the file with python -m solvers.ingest (docs/own-data.md)"
        )
    return path, profile


def halvings(n: int) -> int:
    count = 0
    while n % 2 == 0 and n > 1:
        n //= 2
        count += 1
    return count


def get_config(arg: str | None = None):
    from solvers.ingest import stored_data_config
    from solvers.stability import DIFFUSION_BOUNDS

    path, profile = parse_arg(arg)
    data = stored_data_config(path)
    del data["path"]
    ndim, grid, n_macro, N = data["ndim"], data["grid"], data["n_macro"], data["N"]
    macro = dict(MACRO_SIZES[profile])
    levels = max(1, min(len(macro["features"]), halvings(grid)))
    macro["features"] = tuple(macro["features"][:levels])
    dx = float(data["length"]) / grid
    integrator = data.get("micro_integrator", "euler")
    micro = dict(
        known_terms=(),
        kernel=5 if ndim < 3 else 3,
        # Half the c_up at which the integrator's step on c_up·Lap (4th-order stencil, Nyquist
        # eigenvalue -16/3 per axis / dx²) stops being stable at this δt.
        c_up=0.5 * DIFFUSION_BOUNDS[integrator] * dx**2 / (float(data["dt"]) * ndim * 16 / 3),
    )
    cycles = 1 if profile == "smoke" else max(1, round(8 / N))
    window = min(N * cycles, (n_macro // N) * N)
    config = make_config(
        "custom", profile, data, dict(micro=micro, macro=macro), train=dict(window=window)
    )
    config.data.path = path
    return config
