"""Training-step cost of every trained model of the registry, per experiment and profile.

For each case it builds the model with `pimrl_jax.models.registry.build_model(config)` and
jit-compiles one training step's gradient: `jax.value_and_grad` of the stage-2 training loss
(`pimrl_jax.train.make_loss(model, 2)`: RMSE over a window of `config.train.window` macro steps,
batch `config.train.batch_size`, on the learning grid `config.data.grid`^ndim with the system's
channels). Random inputs: cost does not depend on the values. It reports

* compile: wall time of `jit(...).lower(...).compile()` (trace + lower + XLA compile), with the
  persistent compilation cache disabled so the number is a real compile;
* step: median wall time of one forward+backward after one warm-up call (`block_until_ready`),
  over up to `--repeats` runs within `--budget` seconds (at least one);
* memory, from XLA's buffer assignment (`compiled.memory_analysis()`): `temp` = temporaries
  (activations kept for the backward pass, FFT buffers, ...), `in+out` = arguments + outputs
  (params, batch, loss, gradients). Their sum is the step's peak device memory as planned by
  XLA, not a measured RSS.

`pimrl_nomp` is not listed: it has no training of its own (it evaluates pimrl's parameters).

    .venv/bin/python benchmarks/models.py                       # quick, every experiment
    .venv/bin/python benchmarks/models.py --profiles quick paper --experiments kdv gs2d

The markdown table goes to stdout, progress to stderr.
"""

import argparse
import importlib
import os
import pathlib
import platform
import statistics
import sys
import time

# Run as a script, this folder would come first on sys.path and its `solvers.py` (the solver
# benchmark) would shadow the `solvers` package; the repository root also holds `experiments`.
_HERE = pathlib.Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from experiments.common import EXPERIMENTS, PROFILES  # noqa: E402
from pimrl_jax.models.conv import IMPLS  # noqa: E402
from pimrl_jax.models.registry import LEARNED, PARAMS_FROM, build_model  # noqa: E402
from pimrl_jax.train import make_loss  # noqa: E402
from solvers.systems import get_system  # noqa: E402

TRAINED = tuple(name for name in LEARNED if name not in PARAMS_FROM)  # pimrl_nomp: pimrl's
MIB = 2.0**20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    device = jax.devices()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), backend {jax.default_backend()} "
        f"({device.device_kind}), jax {jax.__version__}, python {platform.python_version()}"
    )


def measure(
    exp: str, profile: str, name: str, repeats: int, budget_s: float, impl: str = "auto"
) -> dict:
    """Compile time, median step time and XLA memory plan of one model's training gradient."""
    config = importlib.import_module(f"experiments.{exp}").get_config(profile)
    config.model.name = name
    config.model.micro.impl = config.model.macro.impl = impl
    data = config.data
    channels = get_system(data.system, int(data.ndim)).channels
    space = (int(data.grid),) * int(data.ndim)
    batch, window = int(config.train.batch_size), int(config.train.window)

    model = build_model(config)
    rng = np.random.default_rng(0)
    u0 = jnp.asarray(rng.normal(size=(batch, *space, channels)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(batch, window, *space, channels)), jnp.float32)
    params = model.init(jax.random.key(0), u0)
    n_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))

    grad_fn = jax.jit(jax.value_and_grad(make_loss(model, 2)))
    start = time.perf_counter()
    compiled = grad_fn.lower(params, (u0, target)).compile()
    compile_s = time.perf_counter() - start
    mem = compiled.memory_analysis()

    jax.block_until_ready(compiled(params, (u0, target)))  # warm-up
    times = []
    deadline = time.perf_counter() + budget_s
    while not times or (len(times) < repeats and time.perf_counter() < deadline):
        start = time.perf_counter()
        loss, grads = compiled(params, (u0, target))
        jax.block_until_ready((loss, grads))
        times.append(time.perf_counter() - start)
    if not np.isfinite(float(loss)):
        raise FloatingPointError(f"{exp}/{profile}/{name}: non-finite loss {float(loss)}")
    return dict(
        exp=exp,
        profile=profile,
        model=name,
        grid="x".join(map(str, space)) + f"x{channels}",
        shape=f"{batch}x{window}",
        params=n_params,
        compile_s=compile_s,
        step_ms=1e3 * statistics.median(times),
        runs=len(times),
        temp_mib=mem.temp_size_in_bytes / MIB if mem else float("nan"),
        io_mib=(mem.argument_size_in_bytes + mem.output_size_in_bytes) / MIB
        if mem
        else float("nan"),
    )


def table(rows: list[dict]) -> str:
    head = (
        "| experiment | profile | model | grid×C | batch×window | params | compile s "
        "| fwd+bwd ms (median, runs) | temp MiB | in+out MiB |\n"
        "|---|---|---|---|---|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['exp']} | {r['profile']} | {r['model']} | {r['grid']} | {r['shape']} "
        f"| {r['params']:,} | {r['compile_s']:.2f} | {r['step_ms']:.1f} ({r['runs']}) "
        f"| {r['temp_mib']:.1f} | {r['io_mib']:.1f} |"
        if "error" not in r
        else f"| {r['exp']} | {r['profile']} | {r['model']} | | | | | failed: {r['error']} | | |"
        for r in rows
    ]
    return head + "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--profiles", nargs="+", default=["quick"], choices=PROFILES)
    parser.add_argument("--models", nargs="+", default=list(TRAINED), choices=TRAINED)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (at most)")
    parser.add_argument(
        "--budget", type=float, default=5.0, help="seconds of timed runs per case (>= 1 run)"
    )
    parser.add_argument(
        "--impl",
        default="auto",
        choices=IMPLS,
        help="PeriodicConv implementation of the micro and macro modules",
    )
    args = parser.parse_args(argv)
    # A cache hit would report a load, not a compile.
    jax.config.update("jax_enable_compilation_cache", False)

    print(f"machine: {machine()}", file=sys.stderr)
    rows = []
    for profile in args.profiles:
        for exp in args.experiments:
            for name in args.models:
                try:
                    row = measure(exp, profile, name, args.repeats, args.budget, args.impl)
                except Exception as err:  # one failing model must not hide the others
                    row = dict(exp=exp, profile=profile, model=name, error=repr(err)[:120])
                rows.append(row)
                print(f"{exp}/{profile}/{name}: {row}", file=sys.stderr, flush=True)
    print(f"Machine: {machine()}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
