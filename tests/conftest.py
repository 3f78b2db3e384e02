"""Strict JAX for the whole suite: 8 host CPU devices (sharding is tested without accelerators),
rank promotion raises, and a persistent compilation cache keeps repeated runs fast.

The suite compiles far more than it computes, so XLA's CPU backend skips LLVM's optimisation
passes (`--xla_backend_optimization_level=0`) and emits fusions with its older, simpler emitters
(`--xla_cpu_use_fusion_emitters=false`); the tests' subprocesses inherit both. Measured on the
loaded 2-core machine, empty compilation cache, one worker: the kdv training tests with
test_ensemble.py 109 s -> 63 s for the first flag; with it, a smoke PIMRL training step compiles
in 5.6 s of CPU instead of 12.9 (gs2d) and 4.2 instead of 10.9 (kdv) for the second, the same
losses to 5 digits; the whole `make test` on a clean clone went from 11 min 34 s of pytest
(12:45 with the install) to 7:42 (8:58). Only the machine code changes (at most the last bits
of round-off), not the programs; training, `make results` and the benchmarks keep XLA's
defaults."""

import os
import pathlib

os.environ["XLA_FLAGS"] = " ".join(
    [
        os.environ.get("XLA_FLAGS", ""),
        "--xla_backend_optimization_level=0",
        "--xla_cpu_use_fusion_emitters=false",
    ]
).strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")
_cache = pathlib.Path(__file__).resolve().parent.parent / ".cache" / "jax"
os.makedirs(_cache, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", str(_cache))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
