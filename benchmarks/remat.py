"""Rematerialisation (`model.remat`) on and off: one training step of each model, side by side.

For each experiment and model it builds the model's config as `make results` trains it (the
experiment's defaults with the model's tuned choice on top, `pimrl_jax.tuning.apply_tuned`, so
the window is the longest one the run unrolls), jit-compiles the stage-2 training gradient
(`jax.value_and_grad(pimrl_jax.train.make_loss(model, 2))`) once with `model.remat=False` and once
with `True` (every step of the rollouts under `jax.checkpoint`, `pimrl_jax.cycle`), and times the
two **interleaved**, in alternating order (off, on, on, off, ...), so that a load on the machine
hits both alike. Random inputs near a constant state (cost does not depend on values). Reports
the median step time of each, their ratio, and XLA's planned temporaries
(`compiled.memory_analysis()`). On a shared machine a ratio moves by about ±25 % between runs.

    .venv/bin/python benchmarks/remat.py                                 # quick, every model
    .venv/bin/python benchmarks/remat.py --experiments gs3d --models convlstm pimrl

The markdown table goes to stdout, progress to stderr.
"""

import argparse
import importlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

# benchmarks/models.py, imported before the repository's packages, puts the repository root on
# sys.path and takes this folder off it (its `solvers.py` would shadow the `solvers` package).
from models import MIB, TRAINED

from experiments.common import EXPERIMENTS, PROFILES
from pimrl_jax import tuning
from pimrl_jax.models.registry import build_model
from pimrl_jax.train import make_loss
from solvers.systems import get_system


def compiled_step(config, remat: bool, batch):
    """The compiled stage-2 gradient of `config`'s model with `model.remat = remat`, its params."""
    config = config.copy_and_resolve_references()
    config.model.remat = remat
    model = build_model(config)
    params = model.init(jax.random.key(0), batch[0])
    compiled = jax.jit(jax.value_and_grad(make_loss(model, 2))).lower(params, batch).compile()
    return compiled, params


def measure(exp: str, profile: str, name: str, rounds: int) -> dict:
    config = importlib.import_module(f"experiments.{exp}").get_config(profile)
    config.model.name = name
    config = tuning.apply_tuned(config)
    data = config.data
    channels = get_system(data.system, int(data.ndim)).channels
    space = (int(data.grid),) * int(data.ndim)
    batch_size, window = int(config.train.batch_size), int(config.train.window)
    rng = np.random.default_rng(0)
    u0 = jnp.asarray(0.3 + 0.05 * rng.normal(size=(batch_size, *space, channels)), jnp.float32)
    target = jnp.asarray(
        0.3 + 0.05 * rng.normal(size=(batch_size, window, *space, channels)), jnp.float32
    )
    batch = (u0, target)
    steps = {remat: compiled_step(config, remat, batch) for remat in (False, True)}
    for compiled, params in steps.values():
        jax.block_until_ready(compiled(params, batch))  # warm-up
    times = {False: [], True: []}
    losses = {}
    for round_ in range(rounds):
        for remat in (False, True) if round_ % 2 == 0 else (True, False):
            compiled, params = steps[remat]
            start = time.perf_counter()
            loss, grads = compiled(params, batch)
            jax.block_until_ready((loss, grads))
            times[remat].append(time.perf_counter() - start)
            losses[remat] = float(loss)
    off, on = (statistics.median(times[r]) for r in (False, True))
    temp = {r: steps[r][0].memory_analysis() for r in (False, True)}
    return dict(
        exp=exp,
        model=name,
        shape=f"{batch_size}x{window}",
        off_ms=1e3 * off,
        on_ms=1e3 * on,
        speedup=off / on,
        temp_off=temp[False].temp_size_in_bytes / MIB if temp[False] else float("nan"),
        temp_on=temp[True].temp_size_in_bytes / MIB if temp[True] else float("nan"),
        loss_diff=abs(losses[False] - losses[True]),
    )


def table(rows: list[dict]) -> str:
    head = (
        "| experiment | model | batch×window | remat off, ms | remat on, ms | off / on "
        "| temp MiB off / on |\n|---|---|---|---:|---:|---:|---:|\n"
    )
    return head + "\n".join(
        f"| {r['exp']} | {r['model']} | {r['shape']} | {r['off_ms']:.0f} | {r['on_ms']:.0f} "
        f"| {r['speedup']:.2f} | {r['temp_off']:.0f} / {r['temp_on']:.0f} |"
        if "error" not in r
        else f"| {r['exp']} | {r['model']} | | failed: {r['error']} | | | |"
        for r in rows
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--models", nargs="+", default=list(TRAINED), choices=TRAINED)
    parser.add_argument("--rounds", type=int, default=6, help="interleaved timed pairs per case")
    args = parser.parse_args(argv)
    rows = []
    for exp in args.experiments:
        for name in args.models:
            try:
                row = measure(exp, args.profile, name, args.rounds)
            except Exception as err:  # one failing model must not hide the others
                row = dict(exp=exp, model=name, error=repr(err)[:120])
            rows.append(row)
            print(f"{exp}/{name}: {row}", file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
