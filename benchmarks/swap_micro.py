"""Which module makes a PIMRL run drift: its macro module or its micro module?

    .venv/bin/python benchmarks/swap_micro.py RUN_A RUN_B [--split val]

RUN_A and RUN_B are two PIMRL runs of one system (e.g. `runs/gs3d-quick/seed0/pimrl` and
`.../seed1/pimrl`), each rebuilt from its own stored config (`divergence.stored_config`; the two
must share the model's shapes). Rolls out, over every trajectory of the split, the four pairings
of their macro and micro modules (A+A, A's macro with B's micro, B's macro with A's micro, B+B)
and prints each one's divergence and RMSE (`divergence.rollout_report`). Where swapping in the
other run's micro module moves the RMSE most, the micro module carries the difference.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from divergence import load_dataset, rollout_report, stored_config  # noqa: E402

from pimrl_jax import train as train_lib  # noqa: E402
from pimrl_jax.models import registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=pathlib.Path)
    parser.add_argument("run_b", type=pathlib.Path)
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    args = parser.parse_args()
    loaded = {}
    for name, run in (("A", args.run_a), ("B", args.run_b)):
        config = stored_config(run)
        model = registry.build_model(config)
        if model.name != "pimrl":
            raise SystemExit(f"{run} is a {model.name} run; both runs must be pimrl")
        dataset = load_dataset(config)
        params, _ = train_lib.restore_params(config, model, dataset, run, True)
        loaded[name] = (config, model, dataset, params)
    config, model, dataset, _ = loaded["A"]
    for macro in ("A", "B"):
        for micro in ("A", "B"):
            params = {**loaded[macro][3], "micro": loaded[micro][3]["micro"]}
            report = rollout_report(model, params, config, dataset, args.split)
            print(f"macro {macro} + micro {micro}: {report}", flush=True)


if __name__ == "__main__":
    main()
