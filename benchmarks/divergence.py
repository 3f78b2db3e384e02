"""On how many trajectories of a split does a trained run diverge, and where?

    .venv/bin/python benchmarks/divergence.py RUN_DIR [RUN_DIR …] [--split val]

A run directory is one model's (`runs/<exp>-<profile>/seed<s>/<model>`, a tuning run
`runs/tune/<exp>-<profile>/<candidate>/seed0/<model>`, or a set-aside one under `stale/`); the
run is rebuilt from its own stored `config.json` (not from the experiment's current choices) and
rolled out over the whole horizon of every trajectory of the split. A trajectory diverges where
`pimrl_jax.evaluate` says so (a non-finite frame, or one above `eval.divergence_factor` × the
split's max |u|). Prints, per run: the trajectories that diverged and their first bad macro
step, and the RMSE over the others. Used to size a validation split (experiments/burgers.py):
`evaluate` reports a run as diverged when any trajectory does, not on how many.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/solvers.py
sys.path.insert(0, os.path.dirname(_HERE))  # the repository root: experiments/

import jax  # noqa: E402
import numpy as np  # noqa: E402

from pimrl_jax import evaluate, metrics, tuning  # noqa: E402
from pimrl_jax import train as train_lib  # noqa: E402
from pimrl_jax.models import registry  # noqa: E402
from solvers import dataset as dataset_lib  # noqa: E402


def stored_config(run_dir: pathlib.Path):
    """The config the run in `run_dir` was trained with: its experiment's config with every
    stored field that changes training set to the stored value (the others — `tuned`, whose
    values are already applied, the validation split, the data path, `eval` — stay the
    experiment's current ones, so the run meets today's splits)."""
    flat = json.loads((run_dir / "config.json").read_text())
    config = importlib.import_module(f"experiments.{flat['experiment']}").get_config(
        flat["profile"]
    )
    for path, value in flat.items():
        if registry.field_in(path, train_lib.RESUMABLE_CHANGES):
            continue
        if not tuning.set_field(config, path, value):
            raise ValueError(f"{run_dir}/config.json has {path!r}, which the experiment lacks")
    return config


def divergence(run_dir: pathlib.Path, split: str) -> str:
    config = stored_config(run_dir)
    model = registry.build_model(config)
    dataset = load_dataset(config)
    params, step = train_lib.restore_params(config, model, dataset, run_dir, True)
    return f"{run_dir} (step {step}): " + rollout_report(model, params, config, dataset, split)


def load_dataset(config) -> dict:
    return dataset_lib.load(
        config.data.path, config.data, exp=config.experiment, profile=config.profile
    )


def rollout_report(model, params, config, dataset: dict, split: str) -> str:
    """Roll `model` with `params` over every trajectory of `split`: which diverged, where, and
    the RMSE over the others."""
    truth = np.asarray(dataset[split]["macro"], np.float32)
    n, steps = truth.shape[0], truth.shape[1] - 1
    pred = np.asarray(jax.jit(model.rollout, static_argnums=2)(params, truth[:, 0], steps))
    finite, max_abs = metrics.frame_finite(pred), metrics.frame_max_abs(pred)
    factor = float(config.eval.get("divergence_factor", evaluate.DEFAULT_DIVERGENCE_FACTOR))
    bound = factor * float(np.max(np.abs(truth)))
    first_bad = metrics.first_bad_frame(finite, max_abs, bound)
    bad = [(b, int(first_bad[b]) + 1) for b in range(n) if first_bad[b] < steps]
    good = [b for b in range(n) if first_bad[b] == steps]
    rmse = float(np.sqrt(np.mean((pred[good] - truth[good, 1:]) ** 2))) if good else None
    where = ", ".join(f"trajectory {b} at step {s}" for b, s in bad) or "none"
    return f"diverged on {len(bad)} of {n} {split} trajectories ({where}); " + (
        f"RMSE over the other {len(good)}: {rmse:.4g}" if good else "no finite trajectory"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=pathlib.Path)
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    args = parser.parse_args()
    for run in args.runs:
        print(divergence(run, args.split), flush=True)


if __name__ == "__main__":
    main()
