"""Make the burst-sampled dataset of an experiment: ``python -m solvers --config FILE:PROFILE``.

    python -m solvers --config experiments/kdv.py:quick            # = make data EXP=kdv
    python -m solvers --config experiments/gs2d.py:smoke --config.data.n_train=3
    python -m solvers --config experiments/fn.py:quick --force      # regenerate even if current

If ``config.data.path`` already holds a valid file for this exact data config it says so and exits
0 without regenerating, so ``make train`` can always call it. Valid means fully verified
(``solvers.dataset.verify``): schema version, config hash, every array's dtype, shape and SHA-256.
A missing, stale or damaged file is (re)generated, the reason printed: after checking δt's
stability on the learning grid (for the micro module's integrator), it generates every split
(train, val, test; float64 solver, progress bar, NaN/Inf check), computes the closure report
(`solvers.closure`) on the validation split, prints its one-line summary, and writes the file
atomically (a temporary file, then a rename;
temporaries of killed runs are removed).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from absl import app, flags
from ml_collections import config_flags

_FLAGS: dict = {}


def _define_flags() -> None:
    """Defined only when run as a program: absl flags are global and `pimrl_jax.main` defines
    `--config` too, so importing `make_data` (tests) must not define them again."""
    _FLAGS["config"] = config_flags.DEFINE_config_file(
        "config", None, "experiment config, e.g. experiments/kdv.py:quick", lock_config=True
    )
    _FLAGS["force"] = flags.DEFINE_bool("force", False, "regenerate even if a current file exists")
    _FLAGS["chunk"] = flags.DEFINE_integer(
        "chunk",
        None,
        "trajectories per vmapped solver call (default: by grid size); the data do not depend "
        "on it",
    )


def _size(path: str) -> str:
    size = float(os.path.getsize(path))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return ""


def make_data(config, force: bool = False, progress: bool = True, chunk: int | None = None) -> str:
    """Generate and write the dataset of ``config`` unless a current one exists; return its path."""
    from solvers import burst, closure, dataset, stability, systems

    data, path = config.data, config.data.path
    exp, profile = config.get("experiment"), config.get("profile")
    if data.system not in systems.SYSTEMS:
        raise ValueError(
            f"unknown system {data.system!r}; valid systems: {', '.join(systems.SYSTEMS)}"
        )
    numbers = stability.check_stability(data)
    print(
        f"{exp}:{profile} {data.get('micro_integrator', 'euler')} stability on the learning grid: "
        + ", ".join(f"{key} {value:.4g}" for key, value in numbers.items())
    )
    if force:
        print(f"generating {path}: --force")
    else:
        try:
            dataset.verify(path, data, exp=exp, profile=profile)
        except dataset.DatasetError as reason:
            why = str(reason).split("; remake it with:")[0].split("; make it with:")[0]
            verb = "generating" if not os.path.exists(path) else "regenerating"
            print(f"{verb} {path}: {why}")
        else:
            print(
                f"{path} is up to date (config hash {dataset.config_hash(data)}, every array "
                "verified against its checksum); nothing to do (--force regenerates it)"
            )
            import h5py

            with h5py.File(path, "r") as f:  # verify() has just checked every array
                stored = dataset.read_closure(f)
            if stored is not None:
                print(f"{exp}:{profile} {closure.one_line(stored)} [{stored['split']}]")
            return path
    t0 = time.perf_counter()
    splits = {}
    for name in dataset.SPLITS:
        splits[name] = burst.generate_split(
            data, data[f"seed_{name}"], data[f"n_{name}"], progress, chunk=chunk, split=name
        )
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    # On the frames as stored (float32): what the models see and what `python -m solvers.closure`
    # recomputes from the file.
    stored_val = np.asarray(splits["val"][0], np.float32)
    report = dict(closure.closure_report(data, stored_val), split="val")
    closure_seconds = time.perf_counter() - t0
    print(
        f"{exp}:{profile} {closure.one_line(report)} "
        f"[val, {splits['val'][0].shape[0]} trajectories, {closure_seconds:.1f} s]"
    )
    system = systems.get_system(data.system, data.ndim, **dict(data.coefficients))
    dataset.write(
        path,
        data,
        splits,
        system.field_names,
        closure=report,
        generation_seconds=seconds,
        closure_seconds=closure_seconds,
    )
    shapes = ", ".join(
        f"{name} macro {m.shape} bursts {b.shape}" for name, (m, b) in splits.items()
    )
    print(f"wrote {path} ({_size(path)}) in {seconds:.1f} s: {shapes}")
    return path


def _enable_compilation_cache() -> None:
    """Reuse compiled rollouts across runs (same cache as the test suite), unless set already."""
    import jax

    if not jax.config.jax_compilation_cache_dir:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        jax.config.update("jax_compilation_cache_dir", os.path.join(root, ".cache", "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def main(argv):
    del argv
    _enable_compilation_cache()
    config = _FLAGS["config"].value
    if config is None:
        print("error: --config experiments/<exp>.py:<profile> is required", file=sys.stderr)
        sys.exit(1)
    from solvers import burst, dataset, stability

    try:
        make_data(config, force=_FLAGS["force"].value, chunk=_FLAGS["chunk"].value)
    except (
        ValueError,
        burst.NonFiniteDataError,
        stability.UnstableStepError,
        dataset.DatasetError,
    ) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    from solvers import cli

    _define_flags()
    app.run(cli.guard(main), flags_parser=cli.parse_flags)
