"""Stability diagnostics of a learned rollout: how fast its one-step map amplifies perturbations
at data states, and when a rollout first leaves the range of the data.

* `spectral_radius(step, u)`: the spectral radius ρ of the Jacobian ∂step/∂u at a state u,
  estimated by power iteration with Jacobian-vector products (no Jacobian is formed): the mean
  log growth of a normalised vector over the second half of `n_iter` iterations. ρ > 1 means
  some perturbation grows every step — harmless if the nonlinearity saturates it (the true
  Gray–Scott step is itself Turing-unstable at data states), fatal if nothing does.
* `first_out_of_range(lo, hi, frame_min, frame_max)`: the first predicted frame whose values
  leave the data's per-field range widened by a margin: where a rollout stops looking like
  the system.

Pure functions; `evaluate` calls them and stores the numbers in `results.json`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

RANGE_MARGIN = 0.1  # of each field's span (max − min over the test data)


def spectral_radius(step: Callable, u: jax.Array, key: jax.Array, n_iter: int = 40) -> jax.Array:
    """Estimate the spectral radius of the Jacobian of `step` at `u` (any shape; a batch of
    one state for the models' steps).

    Power iteration with vector-Jacobian products, i.e. on Jᵀ, which has the same eigenvalues
    as J: reverse mode also differentiates steps with a hand-written VJP (the micro module's,
    `pimrl_jax.models.pi_step`), which forward mode (`jax.jvp`) cannot."""
    v0 = jax.random.normal(key, u.shape, u.dtype)
    v0 = v0 / jnp.linalg.norm(v0)
    _, transposed = jax.vjp(step, u)

    def body(v, _):
        (jv,) = transposed(v)
        norm = jnp.linalg.norm(jv)
        return jv / jnp.where(norm > 0, norm, 1.0), jnp.log(norm)

    _, logs = jax.lax.scan(body, v0, None, length=n_iter)
    return jnp.exp(jnp.mean(logs[n_iter // 2 :]))


def first_out_of_range(
    lo: np.ndarray,
    hi: np.ndarray,
    frame_min: np.ndarray,
    frame_max: np.ndarray,
    margin: float = RANGE_MARGIN,
) -> np.ndarray:
    """Per trajectory, the index of the first frame with a value below `lo − margin·span` or
    above `hi + margin·span` in any field (span = hi − lo, per field), or T if none does.

    `lo`, `hi`: (C,); `frame_min`, `frame_max`: (B, T, C) per-frame extrema of the prediction
    (NaN counts as out of range).
    """
    span = np.maximum(hi - lo, 1e-12)
    with np.errstate(invalid="ignore"):
        below = ~(frame_min >= lo - margin * span)
        above = ~(frame_max <= hi + margin * span)
    out = np.any(below | above, axis=-1)  # (B, T)
    return np.where(out.any(axis=1), np.argmax(out, axis=1), out.shape[1])


def step_radii(model, params, states: np.ndarray, key: jax.Array) -> dict:
    """`{"macro": [ρ per state], "micro": [...] or None}`: spectral radii of the model's one
    macro step (`rollout(params, u, 1)`) and one micro step (`micro_rollout(params, u, 1)`) at
    each state of `states: (S, *space, C)`."""
    out = {}
    maps = {"macro": model.rollout, "micro": getattr(model, "micro_rollout", None)}
    for name, rollout in maps.items():
        if rollout is None:
            out[name] = None
            continue

        @jax.jit
        def radius(u, key, rollout=rollout):
            return spectral_radius(lambda v: rollout(params, v, 1)[:, 0], u[None], key)

        keys = jax.random.split(key, len(states))
        out[name] = [float(radius(jnp.asarray(s), k)) for s, k in zip(states, keys, strict=True)]
    return out
