"""Wall time of a seed ensemble in one program (`train.seeds = S`) against S sequential runs.

    .venv/bin/python benchmarks/ensemble.py [--experiments kdv gs2d] [--model pimrl]
        [--seeds 3] [--micro-steps 100] [--steps 200] [--rounds 2]

For each experiment (quick profile, its dataset under data/), `pimrl_jax.train.train` of the
model with `--micro-steps` + `--steps` optimiser steps, (a) once with `train.seeds = S` and (b)
S times with `train.seeds = 1` and `seed = 0 … S−1` (what `make results` runs, one process
per seed), each into a fresh temporary workdir, variants interleaved round by round (the
machine may be shared: compare within a round). Every run pays its own compilation, as a fresh
process does (the persistent compilation cache is off); the time of a run is the wall time of
the `train` call (training, compilation, checkpoints; no evaluation). Prints per round and the
median ratio sequential / ensemble.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/solvers.py
sys.path.insert(0, os.path.dirname(_HERE))  # the repository root: experiments/

import jax  # noqa: E402

from pimrl_jax import train as train_lib  # noqa: E402
from pimrl_jax.models import registry  # noqa: E402
from solvers import dataset as dataset_lib  # noqa: E402


def timed_train(config, dataset) -> float:
    model = registry.build_model(config)
    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        train_lib.train(config, model, dataset, workdir, progress=False)
        return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=["kdv", "gs2d"])
    parser.add_argument("--model", default="pimrl")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--micro-steps", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    print(
        f"jax {jax.__version__} ({jax.default_backend()}), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()}"
    )
    rows = []
    for exp in args.experiments:
        config = importlib.import_module(f"experiments.{exp}").get_config("quick")
        config.model.name = args.model
        config.train.update(
            dict(
                micro_steps=args.micro_steps,
                steps=args.steps,
                checkpoint_every=10**9,  # only at the stage ends
            )
        )
        dataset = dataset_lib.load(config.data.path, config.data, exp=exp, profile="quick")
        ratios, times = [], {"ensemble": [], "sequential": []}
        for r in range(args.rounds):
            order = ("ensemble", "sequential") if r % 2 == 0 else ("sequential", "ensemble")
            took = {}
            for variant in order:
                if variant == "ensemble":
                    cfg = config.copy_and_resolve_references()
                    cfg.train.seeds = args.seeds
                    took[variant] = timed_train(cfg, dataset)
                else:
                    total = 0.0
                    for seed in range(args.seeds):
                        cfg = config.copy_and_resolve_references()
                        cfg.seed = seed
                        total += timed_train(cfg, dataset)
                    took[variant] = total
                times[variant].append(took[variant])
            ratios.append(took["sequential"] / took["ensemble"])
            print(
                f"{exp} round {r + 1}: ensemble S={args.seeds} {took['ensemble']:.1f} s, "
                f"{args.seeds} sequential {took['sequential']:.1f} s, "
                f"ratio {ratios[-1]:.2f}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        rows.append(
            (
                exp,
                " / ".join(f"{t:.1f}" for t in times["ensemble"]),
                " / ".join(f"{t:.1f}" for t in times["sequential"]),
                statistics.median(ratios),
            )
        )
    steps = f"{args.micro_steps} + {args.steps}"
    print(
        f"\n| experiment | model | steps (micro + macro) | ensemble S={args.seeds} s (rounds) "
        f"| {args.seeds} sequential runs s (rounds) | sequential / ensemble (median) |"
    )
    print("|---|---|---|---|---|---:|")
    for exp, ens, seq, ratio in rows:
        print(f"| {exp} quick | {args.model} | {steps} | {ens} | {seq} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
