"""Strict JAX for the whole suite: 8 host CPU devices (sharding is tested without accelerators),
rank promotion raises, and a persistent compilation cache keeps repeated runs fast.

The suite compiles far more than it computes, so XLA's CPU backend skips LLVM's optimisation
passes (`--xla_backend_optimization_level=0`; the tests' subprocesses inherit it). Measured on
the loaded 2-core machine, empty compilation cache, one worker: the kdv training tests with
test_ensemble.py 109 s -> 63 s; test_ensemble, test_readme, test_models, two slow training and
dataset tests 246 s -> 162 s. Only the machine code changes (at most the last bits of round-off),
not the programs; training, `make results` and the benchmarks keep XLA's defaults."""

import os
import pathlib

os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0"]
).strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")
_cache = pathlib.Path(__file__).resolve().parent.parent / ".cache" / "jax"
os.makedirs(_cache, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", str(_cache))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
