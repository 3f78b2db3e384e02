"""PeriodicConv im2col vs lax.conv in a training step of the macro rollout inside lax.scan.

    .venv/bin/python benchmarks/conv_impl.py [--grid 32] [--batch 4] [--steps 10] [--repeats 2]

Prints the median wall time of one jitted value-and-grad step per implementation (after a
warm-up call that compiles) and the ratio. On XLA:CPU the gradient of lax.conv inside a scan is
the slow path (jax-ml/jax#12868); on GPU/TPU lax is expected to win, hence impl="auto".
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from pimrl_jax import cycle
from pimrl_jax.models.macro import MacroStep


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--features", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--lstm", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    u0 = jax.random.normal(jax.random.key(0), (args.batch, args.grid, args.grid, 2))
    target = jax.random.normal(jax.random.key(1), (args.batch, args.steps, args.grid, args.grid, 2))
    times = {}
    for impl in ("im2col", "lax"):
        macro = MacroStep(tuple(args.features), args.lstm, 3, impl=impl)
        params = jax.jit(lambda k, u, m=macro: m.init(k, u, None))(jax.random.key(2), u0)

        def loss(p, m=macro):
            frames = cycle.macro_rollout(lambda q, s, c: m.apply(q, s, c), p, u0, args.steps)
            return jnp.mean((frames - target) ** 2)

        step = jax.jit(jax.value_and_grad(loss))
        t0 = time.perf_counter()
        jax.block_until_ready(step(params))
        compile_s = time.perf_counter() - t0
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(step(params))
            runs.append(time.perf_counter() - t0)
        times[impl] = statistics.median(runs)
        print(
            f"{impl:7s} backend={jax.default_backend()} first call {compile_s:.2f} s, "
            f"step {times[impl]:.3f} s (median of {args.repeats})",
            flush=True,
        )
    print(f"lax / im2col = {times['lax'] / times['im2col']:.1f}x")


if __name__ == "__main__":
    main()
