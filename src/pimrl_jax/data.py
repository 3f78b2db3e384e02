"""Training batches from a burst-sampled dataset: burst pairs, macro windows, device placement.

A dataset split (see `solvers.dataset.load`) holds

* `macro`:  (traj, T+1, *space, C) — frames u(t_0) … u(t_T) spaced Δt = k·δt;
* `bursts`: (traj, n_bursts, k+1, *space, C) — k+1 micro frames spaced δt.

Batches are drawn *inside* the jitted train step from a PRNG key, so a step is a pure function
of (state, data, key) and resuming needs no saved data-loader state. The whole training split
lives on the device: the quick profiles hold a few MB, paper-scale gs3d about 0.8 GB.

Data-parallel training (one or several processes) keeps the split on every device and has each
device draw only its own rows of the step's batch (`start`/`count` below): the rows are the ones
a single-device run draws at those positions, so the batches do not depend on the device or
process count, and no batch is ever assembled or moved between devices or processes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def training_arrays(split: dict, observation_noise: float = 0.0, key=None) -> dict:
    """The arrays the train step samples from, float32 and on the default device.

    Returns `{"macro": (traj, T+1, *space, C), "bursts": (traj * n_bursts, k+1, *space, C),
    "scale": (C,)}`; bursts of all trajectories are pooled because every burst is an independent
    sample; `scale` is each field's standard deviation over the (clean) macro frames (the unit of
    `train.input_noise` and `train.observation_noise`). With `observation_noise` > 0 the observed
    frames are noisy (`add_observation_noise`, drawn from `key`); 0 leaves them untouched.
    """
    macro = np.asarray(split["macro"], dtype=np.float32)
    bursts = np.asarray(split["bursts"], dtype=np.float32)
    scale = np.std(macro.reshape(-1, macro.shape[-1]), axis=0).astype(np.float32)
    if observation_noise:
        macro, bursts = add_observation_noise(
            macro, bursts, split["burst_start"], key, scale, observation_noise
        )
    bursts = bursts.reshape((-1,) + bursts.shape[2:])
    return jax.device_put({"macro": macro, "bursts": bursts, "scale": scale})


def add_observation_noise(macro, bursts, burst_start, key, scale, level: float):
    """Noisy observations, as PeRCNN trains on noisy data: every observed value gets
    `level · scale_c · ε`, ε ~ N(0, 1), `scale_c` the field's std (`level` = 0.05 is 5 % noise).

    The noise is drawn once (a sensor measures each frame once), not per batch. A burst's first
    and last frames are the macro frames j and j+1 (`solvers.burst`), one measurement each, so
    they get the very noise of those macro frames.

    Args:
      macro: (traj, T+1, *space, C); bursts: (traj, n_bursts, k+1, *space, C);
      burst_start: (n_bursts,) macro index of each burst; scale: (C,).
    Returns:
      (macro, bursts), float32 NumPy arrays of the same shapes.
    """
    k_macro, k_bursts = jax.random.split(key)
    eps_macro = np.asarray(jax.random.normal(k_macro, macro.shape, jnp.float32))
    eps_bursts = np.array(jax.random.normal(k_bursts, bursts.shape, jnp.float32))
    starts = np.asarray(burst_start, np.int64)
    eps_bursts[:, :, 0] = eps_macro[:, starts]
    eps_bursts[:, :, -1] = eps_macro[:, starts + 1]
    lane = np.float32(level) * np.asarray(scale, np.float32)
    return macro + lane * eps_macro, bursts + lane * eps_bursts


def add_input_noise(
    u0: jax.Array,
    key: jax.Array,
    scale: jax.Array,
    level: float,
    *,
    start=0,
    count: int | None = None,
    batch_size: int | None = None,
) -> jax.Array:
    """`u0 + level · scale_c · ε`, ε ~ N(0, 1) per point: noise injection on a batch's initial
    states, so that training sees the slightly-off states a rollout produces (stability).

    The noise of the whole batch (`batch_size` rows) is drawn from `key` and rows `start …
    start+count` kept, so a device's share gets the noise the whole batch has there.
    """
    rows = u0.shape[0] if batch_size is None else batch_size
    eps = jax.random.normal(key, (rows, *u0.shape[1:]), u0.dtype)
    eps = _rows(eps, start, count)
    lane = scale.reshape((1,) * (u0.ndim - 1) + (-1,))
    return u0 + level * lane * eps


def window_starts(n_macro_steps: int, window: int, stride: int) -> np.ndarray:
    """Valid start indices of a `window`-step macro window in a sequence of T = `n_macro_steps`.

    A window starting at s needs frames s … s+window, so s + window ≤ T. Starts are multiples of
    `stride` (PIMRL uses stride N so that a window begins a cycle, as evaluation does).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window ({window}) and stride ({stride}) must be >= 1")
    if window > n_macro_steps:
        raise ValueError(
            f"train.window={window} exceeds the {n_macro_steps} macro steps of a training "
            f"trajectory; choose train.window <= {n_macro_steps}"
        )
    return np.arange(0, n_macro_steps - window + 1, stride, dtype=np.int32)


def _rows(idx: jax.Array, start, count: int | None) -> jax.Array:
    """idx[start:start+count] (`start` may be traced), or all of idx when `count` is None."""
    return idx if count is None else jax.lax.dynamic_slice_in_dim(idx, start, count)


def sample_bursts(
    bursts: jax.Array, key: jax.Array, batch_size: int, *, start=0, count: int | None = None
):
    """Draw `batch_size` bursts (with replacement).

    Args:
      bursts: (n, k+1, *space, C).
      start, count: draw only rows `start … start+count` of that batch (one device's share under
        data parallelism): the same examples the whole draw puts there, and only those gathered.
    Returns:
      u0 (B, *space, C), the first frame of each burst, and target (B, k, *space, C), the k
      micro frames that follow it (B = `count` when given).
    """
    idx = _rows(jax.random.randint(key, (batch_size,), 0, bursts.shape[0]), start, count)
    chosen = bursts[idx]
    return chosen[:, 0], chosen[:, 1:]


def sample_windows(
    macro: jax.Array,
    key: jax.Array,
    batch_size: int,
    window: int,
    stride: int,
    *,
    start=0,
    count: int | None = None,
):
    """Draw `batch_size` macro windows (trajectory and start uniform, with replacement).

    Args:
      macro: (traj, T+1, *space, C).
      start, count: draw only rows `start … start+count` of that batch (see `sample_bursts`).
    Returns:
      u0 (B, *space, C) = u(t_s) and target (B, window, *space, C) = u(t_{s+1}) … u(t_{s+window})
      (B = `count` when given).
    """
    starts = jnp.asarray(window_starts(macro.shape[1] - 1, window, stride))
    k_traj, k_start = jax.random.split(key)
    traj = _rows(jax.random.randint(k_traj, (batch_size,), 0, macro.shape[0]), start, count)
    begin = jax.random.randint(k_start, (batch_size,), 0, starts.shape[0])
    first = starts[_rows(begin, start, count)]

    def one(t, s):
        frames = jax.lax.dynamic_slice_in_dim(macro[t], s, window + 1, axis=0)
        return frames[0], frames[1:]

    return jax.vmap(one)(traj, first)
