"""Strict JAX for the whole suite: 8 host CPU devices (sharding is tested without accelerators),
rank promotion raises, and a persistent compilation cache keeps repeated runs fast."""

import os
import pathlib

import jax

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")
_cache = pathlib.Path(__file__).resolve().parent.parent / ".cache" / "jax"
os.makedirs(_cache, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", str(_cache))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
