"""Steps per second of the training loop's step function, one step per call vs several.

    .venv/bin/python benchmarks/steps_per_call.py [--experiments kdv gs2d] [--model pimrl]
        [--n 1 10] [--steps 40] [--rounds 3]

For each experiment (quick profile, its dataset under data/) and each stage of the model, the
jitted step of `pimrl_jax.train.make_train_step` with `n_per_call = 1` (the host reads each
step's loss and finiteness, as the loop did before `train.steps_per_call`) and with `n` steps
per call (a `lax.while_loop`, metrics read once per call), interleaved round by round after a
warm-up call; `--steps` optimiser steps per measurement. Prints steps/s (median over rounds) and
the ratio.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/solvers.py
sys.path.insert(0, os.path.dirname(_HERE))  # the repository root: experiments/

import jax  # noqa: E402
import numpy as np  # noqa: E402

from pimrl_jax import data as data_lib  # noqa: E402
from pimrl_jax import train as train_lib  # noqa: E402
from pimrl_jax.models import registry  # noqa: E402
from solvers import dataset as dataset_lib  # noqa: E402


def run(step_fn, state, data, key, n_call: int, steps: int):
    """Run `steps` optimiser steps; returns the state and the seconds they took."""
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        count = min(n_call, steps - done)
        if n_call == 1:
            state, metrics = step_fn(state, data, key)
            float(metrics["loss"]), bool(metrics["finite"])  # what the loop reads per step
        else:
            state, metrics = step_fn(state, data, key, np.int32(count))
            jax.device_get(metrics)
        done += count
    return state, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=["kdv", "gs2d"])
    parser.add_argument("--model", default="pimrl")
    parser.add_argument("--n", type=int, nargs=2, default=[1, 10])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"nproc={os.cpu_count()}, jax {jax.__version__} ({jax.default_backend()}), "
        f"load average {os.getloadavg()}",
        flush=True,
    )
    rows = []
    for exp in args.experiments:
        config = importlib.import_module(f"experiments.{exp}").get_config("quick")
        config.model.name = args.model
        model = registry.build_model(config)
        split = dataset_lib.load(config.data.path, config.data)["train"]
        data = data_lib.training_arrays(split)
        sample = np.asarray(split["macro"][:1, 0], np.float32)
        _, key = train_lib._keys(config)
        for stage, _ in train_lib.stages_of(model, config.train):
            fns, states = {}, {}
            for n in args.n:
                state, tx = train_lib._stage_state(model, config, sample, stage, 0)
                fns[n] = train_lib.make_train_step(model, config, stage, tx, None, n)
                states[n], _ = run(fns[n], state, data, key, n, n)  # warm-up: compiles
                jax.block_until_ready(states[n])
            rates = {n: [] for n in args.n}
            for _ in range(args.rounds):
                for n in args.n:
                    states[n], seconds = run(fns[n], states[n], data, key, n, args.steps)
                    rates[n].append(args.steps / seconds)
            med = {n: statistics.median(r) for n, r in rates.items()}
            a, b = args.n
            line = (
                f"| {exp} | {args.model} | {stage} ({train_lib.STAGE_NAMES[stage]}) | "
                f"{med[a]:.2f} | {med[b]:.2f} | {med[b] / med[a]:.2f}x |"
            )
            rows.append(line)
            print(line, [f"{x:.2f}" for n in args.n for x in rates[n]], flush=True)
    print(f"\nload average at the end: {os.getloadavg()}")
    a, b = args.n
    print(
        f"\n| experiment | model | stage | steps/s, {a} per call | steps/s, {b} per call | "
        "ratio |\n|---|---|---|---:|---:|---:|"
    )
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
