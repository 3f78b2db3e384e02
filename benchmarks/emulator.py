"""Emulator speed-up: a trained model's rollout over the whole test horizon against the
ground-truth solver reaching the same horizon.

    .venv/bin/python benchmarks/emulator.py runs/kdv-quick/seed0 [runs/gs2d-quick/seed0 …]
        [--models pimrl percnn …] [--batches 1 16] [--repeats 3] [--data data/kdv-quick.h5]

A run directory is what `make compare` / `make results` write, `runs/<exp>-<profile>/[seed<s>/]`
with one sub-directory per model; every model there with a checkpoint (and `pimrl_nomp` through
its sibling `pimrl`, and the reference row `oracle`, which needs none) is timed. For each model
and batch size B (the test set's initial states, repeated up to B):

* **emulator**: `model.rollout(params, u0, T)`, T = the test horizon in macro steps (Δt = k δt
  each), jitted for that B; the median wall time of `--repeats` calls after a warm-up call
  (`block_until_ready`; compilation excluded and printed apart);
* **solver, fine**: the data's ETDRK4 stepper (`solvers.systems.make_stepper`) at the solver
  grid and fine step h = δt / substeps, T·k·substeps steps in a `lax.fori_loop`, vmapped over B
  initial states from the data's initial-condition family (`solvers.initial`), in the data's
  dtype (float64, as `make data` runs it; scoped); same timing;
* **solver, learning grid**: the same stepper, same h and step count, on the learning grid (the
  initial states Fourier-resampled to it).

The solver rows time stepping only (no frames saved, no resampling): the cheapest way to reach
the horizon, so the speed-ups are lower bounds. `--max-solver-steps m` times m steps only and
scales to the horizon (marked * in the table). Prints one markdown table; parameters need not
be trained for the timing (nothing in a rollout depends on their values), but every row here
restores a real checkpoint and says which.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/solvers.py
sys.path.insert(0, os.path.dirname(_HERE))  # the repository root: experiments/

import jax  # noqa: E402
import numpy as np  # noqa: E402

from pimrl_jax import train as train_lib  # noqa: E402
from pimrl_jax import tuning  # noqa: E402
from pimrl_jax.models import registry  # noqa: E402
from solvers import dataset as dataset_lib  # noqa: E402
from solvers import grid as grid_lib  # noqa: E402
from solvers import initial, systems  # noqa: E402


def median_time(fn, *args, repeats: int) -> tuple[float, float]:
    """(first call s — compile + run, median of `repeats` further calls s)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def run_config(run_dir: pathlib.Path, data_path: str | None):
    """The experiment config of `runs/<exp>-<profile>/[seed<s>/]` (seed from the directory)."""
    root = run_dir if "-" in run_dir.name else run_dir.parent
    exp, profile = root.name.split("-", 1)
    config = importlib.import_module(f"experiments.{exp}").get_config(profile)
    if run_dir.name.startswith("seed"):
        config.seed = int(run_dir.name[4:])
    if data_path:
        config.data.path = data_path
    return config


def load_params(config, model, dataset, run_dir: pathlib.Path):
    """(params, note) of `model` in `run_dir`, or None when it has no checkpoint there."""
    if model.name in registry.REFERENCES:
        return {}, "no parameters"
    workdir = run_dir / model.params_from
    stored = workdir / "config.json"
    if not (workdir / "checkpoints").exists():
        return None
    source = config.copy_and_resolve_references()
    source.model.name = model.params_from
    source = tuning.apply_tuned(source)  # what `pimrl_jax.main` trained
    if stored.exists():
        source.seed = int(json.loads(stored.read_text()).get("seed", source.seed))
    src_model = registry.build_model(source)
    params, step = train_lib.restore_params(
        source, src_model, dataset, workdir, allow_config_change=True
    )
    return params, f"checkpoint step {step}"


def solver_timer(data, n: int, batch: int, n_steps: int, repeats: int):
    """(compile+first s, median s) of `n_steps` fine steps at grid `n`, batch `batch`."""
    with jax.enable_x64(data.dtype == "float64"):
        system = systems.get_system(data.system, int(data.ndim), **dict(data.coefficients))
        h = float(data.dt) / int(data.substeps)
        step = systems.make_stepper(system, n, float(data.length), h)
        options = dict(data.get("initial", {}) or {})
        keys = jax.random.split(jax.random.PRNGKey(0), batch)

        def one_initial(key):
            u = initial.sample_initial(
                system, key, int(data.solver_grid), float(data.length), **options
            )
            u = u if n == int(data.solver_grid) else grid_lib.fourier_resample(u, n)
            return u.astype(data.dtype)

        u0 = jax.jit(jax.vmap(one_initial))(keys)

        @jax.jit
        def run(u):
            return jax.vmap(lambda v: jax.lax.fori_loop(0, n_steps, lambda i, w: step(w), v))(u)

        first, median = median_time(run, u0, repeats=repeats)
        finite = bool(np.all(np.isfinite(np.asarray(run(u0)))))
    return first, median, finite


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories runs/<exp>-<profile>[/seed<s>]")
    parser.add_argument(
        "--models",
        nargs="+",
        default=[m for m in registry.MODELS if m != "persistence"],  # copies u0: no emulator
        choices=registry.MODELS,
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=None, help="dataset file (default: the config's)")
    parser.add_argument(
        "--max-solver-steps",
        type=int,
        default=None,
        help="time at most this many solver steps and scale linearly to the horizon (a fixed-"
        "step solver's cost is linear in its steps); the table marks such rows with *",
    )
    args = parser.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    print(
        f"jax {jax.__version__} ({jax.default_backend()}, {jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()}",
        flush=True,
    )
    rows = []
    for run in args.runs:
        run_dir = pathlib.Path(run)
        config = run_config(run_dir, args.data if len(args.runs) == 1 else None)
        data = config.data
        dataset = dataset_lib.load(data.path, data, exp=config.experiment, profile=config.profile)
        test = np.asarray(dataset["test"]["macro"], np.float32)
        n_macro = test.shape[1] - 1
        n_fine = n_macro * int(data.k) * int(data.substeps)
        horizon = f"{n_macro} × Δt = {n_macro * int(data.k) * float(data.dt):g}"
        space = f"{data.solver_grid}^{data.ndim} / {data.grid}^{data.ndim}"
        solver = {}
        n_timed = min(n_fine, args.max_solver_steps or n_fine)
        mark = "*" if n_timed < n_fine else ""
        for batch in args.batches:
            for name, n in (("fine", int(data.solver_grid)), ("learning", int(data.grid))):
                first, med, finite = solver_timer(data, n, batch, n_timed, args.repeats)
                solver[name, batch] = med * n_fine / n_timed
                print(
                    f"{config.experiment} solver {name} grid {n} batch {batch}: {n_timed} steps "
                    f"{med:.4g} s (first call {first:.3g} s){'' if finite else ' NON-FINITE'}; "
                    f"{n_fine} steps {solver[name, batch]:.4g} s",
                    flush=True,
                )
        for name in args.models:
            cfg = config.copy_and_resolve_references()
            cfg.model.name = name
            cfg = tuning.apply_tuned(cfg)
            model = registry.build_model(cfg)
            loaded = load_params(cfg, model, dataset, run_dir)
            if loaded is None:
                continue
            params, note = loaded
            rollout = jax.jit(model.rollout, static_argnums=2)
            for batch in args.batches:
                u0 = np.resize(test[:, 0], (batch, *test.shape[2:]))
                first, med = median_time(rollout, params, u0, n_macro, repeats=args.repeats)
                fine, coarse = solver["fine", batch], solver["learning", batch]
                print(
                    f"{config.experiment} {name} batch {batch}: {med:.4g} s (compile+first "
                    f"{first:.3g} s); speed-up {fine / med:.3g}× fine, {coarse / med:.3g}× "
                    "learning grid",
                    flush=True,
                )
                rows.append(
                    (
                        f"{config.experiment} {config.profile}",
                        name,
                        note,
                        batch,
                        horizon,
                        med,
                        space,
                        f"{n_fine} × {float(data.dt) / int(data.substeps):g}{mark}",
                        fine,
                        fine / med,
                        coarse,
                        coarse / med,
                    )
                )
    print(
        "\n| experiment | model | params | batch | horizon | emulator s | solver grid (fine / "
        "learning) | solver steps × h | solver fine s | speed-up | solver learning-grid s "
        "| speed-up |"
    )
    print("|---|---|---|---:|---|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.4g} | {r[6]} | {r[7]} | "
            f"{r[8]:.4g} | {r[9]:.3g}× | {r[10]:.4g} | {r[11]:.3g}× |"
        )


if __name__ == "__main__":
    main()
