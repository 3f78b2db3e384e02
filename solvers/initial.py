"""Random initial conditions of the benchmark systems (benchmarks.md), one code path for any ndim.

    kdv         sum of J sines  A_j sin(2 pi l_j x / L + phi_j),  A_j ~ U[-A, A], l_j ~ U{1..l_max},
                phi_j ~ U[0, 2 pi)  (defaults J = 10, A = 0.5, l_max = 3)
    burgers     per component: sum over modes m in [-M, M-1]^ndim of a_m sin(2 pi m.x/L)
                + b_m cos(2 pi m.x/L), a, b ~ N(0, 1); scaled to max-abs 1, times 2, plus an offset
                c ~ U(-1, 1), all divided by 3 (P2C2Net's generator; default M = 5)
    fn          i.i.d. N(0, sigma^2) per grid point and field (default sigma = 0.05)
    gray_scott  u = 1, v = 0, with `n_seeds` random seeds (squares/cubes or Gaussians of random
                centre and size) where u = 0.5, v = 0.25, plus uniform noise of +-1 % (absolute),
                clipped to [0, 1]

Every sampler is a pure function of the key (deterministic, `jit`- and `vmap`-able over keys);
the result is `(*[n]*ndim, C)` in `dtype` (default: JAX's default float, i.e. float64 inside
`jax.enable_x64(True)`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from solvers.systems import System


def sample_initial(system: System, key: jax.Array, n: int, length: float, **options) -> jax.Array:
    """A random initial state of `system` on the grid `n^ndim` of `[0, length)^ndim`.

    Returns `(*[n]*ndim, C)`. `options` (all optional): `dtype`; kdv `n_waves`, `amplitude`,
    `max_mode`; burgers `max_mode`; fn `sigma`; gray_scott `n_seeds`, `seed_shape` ("mixed",
    "square" or "gaussian"), `seed_size` (a (min, max) fraction of `length`: side of a square or
    4 standard deviations of a Gaussian), `noise`. An unknown option is an error that lists the
    valid ones.
    """
    samplers = {"kdv": _kdv, "burgers": _burgers, "fn": _fn, "gray_scott": _gray_scott}
    if system.name not in samplers:
        raise ValueError(f"no initial conditions for {system.name!r}; have {', '.join(samplers)}")
    if not (isinstance(n, int | np.integer) and n >= 2):
        raise ValueError(f"grid size n must be an integer >= 2, got {n!r}")
    if not (math.isfinite(length) and length > 0):
        raise ValueError(f"domain length must be finite and > 0, got {length!r}")
    dtype = options.pop("dtype", None) or jnp.zeros(()).dtype
    sampler, valid = samplers[system.name]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for {system.name!r} initial conditions; "
            f"valid options: dtype, {', '.join(valid)}"
        )
    u = sampler(key, int(n), float(length), system.ndim, dtype, **options)
    return u.astype(dtype)


def _grid(n: int, length: float, ndim: int, dtype) -> list[jax.Array]:
    """Coordinates `x_i = j length / n` per axis, shaped to broadcast at rank ndim."""
    x = jnp.arange(n, dtype=dtype) * (length / n)
    return [x.reshape(tuple(n if a == i else 1 for a in range(ndim))) for i in range(ndim)]


def _kdv_sample(key, n, length, ndim, dtype, n_waves=10, amplitude=0.5, max_mode=3):
    k_a, k_l, k_p = jax.random.split(key, 3)
    a = jax.random.uniform(k_a, (n_waves,), dtype, -amplitude, amplitude)
    modes = jax.random.randint(k_l, (n_waves,), 1, max_mode + 1).astype(dtype)
    phase = jax.random.uniform(k_p, (n_waves,), dtype, 0.0, 2.0 * math.pi)
    (x,) = _grid(n, length, 1, dtype)
    waves = a[None, :] * jnp.sin(
        2.0 * math.pi * modes[None, :] * x[:, None] / length + phase[None, :]
    )
    return jnp.sum(waves, axis=1)[:, None]


def _burgers_sample(key, n, length, ndim, dtype, max_mode=5):
    # sum_m a_m sin(th_m) + b_m cos(th_m) = Re sum_m (b_m - i a_m) e^{i th_m}, th_m = 2 pi m.x/L:
    # an inverse DFT with the coefficients scattered to the indices m mod n (exact grid values
    # even if n < 2M, because e^{i 2 pi m j / n} only sees m mod n).
    ms = jnp.arange(-max_mode, max_mode) % n
    index = tuple(m.reshape(-1) for m in jnp.meshgrid(*([ms] * ndim), indexing="ij"))
    n_modes = (2 * max_mode) ** ndim
    fields = []
    for k in jax.random.split(key, ndim):
        k_a, k_b, k_c = jax.random.split(k, 3)
        a = jax.random.normal(k_a, (n_modes,), dtype)
        b = jax.random.normal(k_b, (n_modes,), dtype)
        spectrum = jnp.zeros((n,) * ndim, jnp.result_type(dtype, jnp.complex64))
        spectrum = spectrum.at[index].add(b - 1j * a)
        w = jnp.real(jnp.fft.ifftn(spectrum)) * float(n) ** ndim
        offset = jax.random.uniform(k_c, (), dtype, -1.0, 1.0)
        fields.append((2.0 * w / jnp.max(jnp.abs(w)) + offset) / 3.0)
    return jnp.stack(fields, axis=-1)


def _fn_sample(key, n, length, ndim, dtype, sigma=0.05):
    return sigma * jax.random.normal(key, (n,) * ndim + (2,), dtype)


def _gray_scott_sample(
    key, n, length, ndim, dtype, n_seeds=4, seed_shape="mixed", seed_size=(0.05, 0.12), noise=0.01
):
    shapes = ("mixed", "square", "gaussian")
    if seed_shape not in shapes:
        raise ValueError(f"unknown seed_shape {seed_shape!r}; valid: {', '.join(shapes)}")
    k_c, k_s, k_kind, k_noise = jax.random.split(key, 4)
    centres = jax.random.uniform(k_c, (n_seeds, ndim), dtype, 0.0, length)
    sizes = length * jax.random.uniform(k_s, (n_seeds,), dtype, seed_size[0], seed_size[1])
    if seed_shape == "mixed":
        square = jax.random.bernoulli(k_kind, 0.5, (n_seeds,))
    else:
        square = jnp.full((n_seeds,), seed_shape == "square")
    grids = _grid(n, length, ndim, dtype)
    weight = jnp.zeros((n,) * ndim, dtype)
    for s in range(n_seeds):
        # Periodic distance to the seed centre, per axis.
        d = [
            jnp.abs(jnp.remainder(g - centres[s, i] + length / 2, length) - length / 2)
            for i, g in enumerate(grids)
        ]
        box = jnp.ones((n,) * ndim, dtype)
        r2 = jnp.zeros((n,) * ndim, dtype)
        for di in d:
            box = box * (di <= sizes[s] / 2).astype(dtype)
            r2 = r2 + di**2
        gauss = jnp.exp(-r2 / (2.0 * (sizes[s] / 4) ** 2))
        weight = jnp.maximum(weight, jnp.where(square[s], box, gauss))
    u = 1.0 - 0.5 * weight
    v = 0.25 * weight
    eps = jax.random.uniform(k_noise, (n,) * ndim + (2,), dtype, -noise, noise)
    return jnp.clip(jnp.stack([u, v], axis=-1) + eps, 0.0, 1.0)


_kdv = (_kdv_sample, ("n_waves", "amplitude", "max_mode"))
_burgers = (_burgers_sample, ("max_mode",))
_fn = (_fn_sample, ("sigma",))
_gray_scott = (_gray_scott_sample, ("n_seeds", "seed_shape", "seed_size", "noise"))
