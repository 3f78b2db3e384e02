"""Is a trained PIMRL run's micro module the weak part? (docs/results-notes/gs3d-quick.md)

    .venv/bin/python benchmarks/micro_module.py PIMRL_RUN [--percnn PERCNN_RUN]
        [--pair OTHER_PIMRL_RUN] [--split val]

Prints, for the run's experiment: the micro-pretraining loss (RMSE of k micro steps over every
training burst) of the true PDE in the micro module's form (`oracle`), of holding the burst's
first frame, and of the run's micro module; the run's PIMRL rollout and its micro module rolled
out alone as PeRCNN on `split` (`benchmarks/divergence.py`'s report); with `--percnn`, the PIMRL
parameters with the micro module swapped for that PeRCNN run's (no retraining) and that PeRCNN;
with `--pair`, the four pairings of the two PIMRL runs' macro and micro modules (which module
carries the difference between two seeds). Runs are rebuilt from their stored configs.
"""

from __future__ import annotations

import argparse
import pathlib

import jax.numpy as jnp
from divergence import load_dataset, rollout_report, stored_config

from pimrl_jax import data as data_lib
from pimrl_jax import train as train_lib
from pimrl_jax.models import registry


def burst_rmse(model, params, bursts, batch: int = 4) -> float:
    """RMSE of `model.micro_rollout` from each burst's first frame over its k fine frames."""
    u0, target = bursts[:, 0], bursts[:, 1:]
    squared = 0.0
    for i in range(0, len(u0), batch):
        pred = model.micro_rollout(params, u0[i : i + batch], target.shape[1])
        squared += float(jnp.sum((pred - target[i : i + batch]) ** 2))
    return (squared / target.size) ** 0.5


def as_model(config, name: str):
    other = config.copy_and_resolve_references()
    other.model.name = name
    return registry.build_model(other)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=pathlib.Path)
    parser.add_argument("--percnn", type=pathlib.Path)
    parser.add_argument("--pair", type=pathlib.Path, help="another PIMRL run of the system")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    args = parser.parse_args()
    config = stored_config(args.run)
    pimrl, dataset = registry.build_model(config), load_dataset(config)
    params, _ = train_lib.restore_params(config, pimrl, dataset, args.run, True)
    bursts = data_lib.training_arrays(dataset["train"])["bursts"]
    hold = float(jnp.sqrt(jnp.mean((bursts[:, :1] - bursts[:, 1:]) ** 2)))
    percnn = as_model(config, "percnn")
    print(
        f"micro-pretraining loss on the training bursts: oracle "
        f"{burst_rmse(as_model(config, 'oracle'), {}, bursts):.4g}, holding the first frame "
        f"{hold:.4g}, this run's micro module {burst_rmse(percnn, params, bursts):.4g}"
    )
    micro = {"micro": params["micro"]}
    print("pimrl:", rollout_report(pimrl, params, config, dataset, args.split))
    print("its micro module alone:", rollout_report(percnn, micro, config, dataset, args.split))
    if args.percnn:
        other = stored_config(args.percnn)
        q, _ = train_lib.restore_params(other, percnn, dataset, args.percnn, True)
        swapped = {**params, "micro": q["micro"]}
        report = rollout_report(pimrl, swapped, config, dataset, args.split)
        print("pimrl, micro from --percnn:", report)
        print("--percnn:", rollout_report(percnn, q, other, dataset, args.split))
    if args.pair:
        other = stored_config(args.pair)
        runs = {
            "run": params,
            "--pair": train_lib.restore_params(other, pimrl, dataset, args.pair, True)[0],
        }
        for macro, macro_params in runs.items():
            for micro, micro_params in runs.items():
                paired = {**macro_params, "micro": micro_params["micro"]}
                report = rollout_report(pimrl, paired, config, dataset, args.split)
                print(f"pimrl, macro of {macro}, micro of {micro}:", report)


if __name__ == "__main__":
    main()
