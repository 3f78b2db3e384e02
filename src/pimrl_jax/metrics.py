"""Evaluation metrics of predicted trajectories: RMSE, MAE, Pearson correlation and HCT.

Every metric compares a prediction with the truth over *predicted* macro frames only. Arrays are
trajectories, channels-last: `pred, true: (B, T, *space, C)` where frame `t` (0-based) is the
prediction of macro time `(t + 1) Δt`. The initial condition `u_0` (and any other frame given to
the model) must not be part of these arrays: it is never counted as a prediction.

The work is split in two so that evaluation never has to hold whole test sets on the host:

* per-frame statistics, `(B, T, *space, C) -> (B, T)`, written in `jax.numpy` so they jit and run
  next to the rollout (`frame_mse`, `frame_mae`, `frame_max_abs`, `frame_finite`, `pearson`);
* reductions of those statistics (`rmse_from_frames`, `per_time_*`, `hct`), a few numbers on the
  host in NumPy float64.

`rmse(pred, true)` and `mae(pred, true)` are the two composed, for direct use.

Units: RMSE and MAE have the units of the fields; the correlation is dimensionless; HCT has the
units of `dt_macro` (the physical time between macro frames, Δt = k δt).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

HCT_THRESHOLD = 0.8
# A field is "constant" when its standard deviation is below this fraction of its max-abs; the
# relative scale absorbs the float32 rounding of a mean of identical values (~1e-7 relative).
CONSTANT_RTOL = 1e-6


def _space_axes(x) -> tuple[int, ...]:
    """Axes of `(B, T, *space, C)` that a per-frame statistic reduces over: space and channels."""
    if x.ndim < 4:
        raise ValueError(
            f"expected trajectories of shape (B, T, *space, C) with 1-3 space axes, got {x.shape}"
        )
    return tuple(range(2, x.ndim))


def _check_pair(pred, true) -> None:
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and truth {true.shape} must have the same shape")


def frame_mse(pred, true) -> jnp.ndarray:
    """Mean squared error per trajectory and frame over (space, channels): `(B, T)`."""
    _check_pair(pred, true)
    err = pred - true
    return jnp.mean(err * err, axis=_space_axes(err))


def frame_mae(pred, true) -> jnp.ndarray:
    """Mean absolute error per trajectory and frame over (space, channels): `(B, T)`."""
    _check_pair(pred, true)
    return jnp.mean(jnp.abs(pred - true), axis=_space_axes(pred))


def frame_max_abs(x) -> jnp.ndarray:
    """Largest |value| per trajectory and frame: `(B, T)` (NaN propagates)."""
    return jnp.max(jnp.abs(x), axis=_space_axes(x))


def frame_finite(x) -> jnp.ndarray:
    """Whether every value of the frame is finite (no NaN, no ±Inf): `(B, T)` bool."""
    return jnp.all(jnp.isfinite(x), axis=_space_axes(x))


def pearson(pred, true, rtol: float = CONSTANT_RTOL, per_channel: bool = False) -> jnp.ndarray:
    """Pearson correlation per trajectory and frame over the flattened (channels × space) field.

        r = Σ (p - p̄)(q - q̄) / sqrt(Σ (p - p̄)² Σ (q - q̄)²),   p = pred frame, q = true frame

    Returns `(B, T)`, or `(B, T, C)` over space alone with `per_channel=True`. The flattened
    form is the HCT's definition; note that for fields with very different channel means (Gray–
    Scott: u ≈ 1, v ≈ 0) the gap between the channels dominates it and keeps r near 1 whatever the
    spatial pattern — the per-channel form is the diagnostic for that. Conventions where Pearson's
    r is undefined or meaningless:

    * a frame of `pred` with any NaN/Inf → NaN (and `hct` counts NaN as below any threshold);
    * a constant field (std ≤ `rtol` × its max-abs, exact zeros included) carries no pattern:
      both constant → 1.0 if they are equal (|p̄ - q̄| ≤ `rtol` × the larger max-abs) else 0.0;
      only one of them constant → 0.0.
    """
    _check_pair(pred, true)
    axes = _space_axes(pred)[:-1] if per_channel else _space_axes(pred)
    dp = pred - jnp.mean(pred, axis=axes, keepdims=True)
    dq = true - jnp.mean(true, axis=axes, keepdims=True)
    spp = jnp.sum(dp * dp, axis=axes)
    sqq = jnp.sum(dq * dq, axis=axes)
    spq = jnp.sum(dp * dq, axis=axes)
    n = np.prod([pred.shape[a] for a in axes])
    scale_p = jnp.max(jnp.abs(pred), axis=axes)
    scale_q = jnp.max(jnp.abs(true), axis=axes)
    const_p = jnp.sqrt(spp / n) <= rtol * scale_p
    const_q = jnp.sqrt(sqq / n) <= rtol * scale_q
    safe = jnp.where(const_p | const_q, 1.0, spp * sqq)
    r = jnp.clip(spq / jnp.sqrt(safe), -1.0, 1.0)
    mean_gap = jnp.abs(jnp.mean(pred, axis=axes) - jnp.mean(true, axis=axes))
    equal = mean_gap <= rtol * jnp.maximum(scale_p, scale_q)
    r = jnp.where(const_p & const_q, jnp.where(equal, 1.0, 0.0), r)
    r = jnp.where(const_p ^ const_q, 0.0, r)
    return jnp.where(jnp.all(jnp.isfinite(pred), axis=axes), r, jnp.nan)


def rmse_from_frames(mse) -> float:
    """Overall RMSE from per-frame MSEs `(B, T)`: sqrt of the mean over trajectories and frames.

    Every frame has the same number of (channel, grid) points, so this equals the square root of
    the mean over trajectories, predicted frames, channels and grid points.
    """
    return float(np.sqrt(np.mean(np.asarray(mse, dtype=np.float64))))


def mae_from_frames(mae) -> float:
    """Overall MAE from per-frame MAEs `(B, T)` (same equal-weight argument as the RMSE)."""
    return float(np.mean(np.asarray(mae, dtype=np.float64)))


def rmse(pred, true) -> float:
    """sqrt(mean over trajectories, predicted frames, channels, grid points of (pred - true)²)."""
    return rmse_from_frames(frame_mse(pred, true))


def mae(pred, true) -> float:
    """Mean over trajectories, predicted frames, channels and grid points of |pred - true|."""
    return mae_from_frames(frame_mae(pred, true))


def per_time_mse(mse) -> np.ndarray:
    """MSE(t) `(T,)`: per-frame MSEs `(B, T)` averaged over trajectories."""
    return np.mean(np.asarray(mse, dtype=np.float64), axis=0)


def per_time_rmse(mse) -> np.ndarray:
    """RMSE(t) = sqrt(MSE(t)) `(T,)`, over trajectories, channels and grid points at frame t."""
    return np.sqrt(per_time_mse(mse))


def per_time_mae(mae) -> np.ndarray:
    """MAE(t) `(T,)`: per-frame MAEs `(B, T)` averaged over trajectories."""
    return np.mean(np.asarray(mae, dtype=np.float64), axis=0)


def per_time_correlation(corr) -> np.ndarray:
    """Mean correlation over trajectories at each frame `(T,)` (NaN where any trajectory is NaN)."""
    return np.mean(np.asarray(corr, dtype=np.float64), axis=0)


def hct(corr, dt_macro: float, threshold: float = HCT_THRESHOLD) -> dict:
    """High correlation time from per-frame correlations `corr: (B, T)` of predicted frames.

    Per trajectory, with frame t predicting time (t + 1) Δt:

    * `first` (the headline HCT): Δt × the number of predicted frames before the first frame whose
      correlation is below `threshold` — the time the prediction stays correlated, 0 when the very
      first prediction is already below, the horizon T Δt when it never drops;
    * `count` (PDE-Refiner / CDM variant): Δt × the number of frames with correlation ≥ threshold.

    NaN correlations (non-finite predictions) count as below the threshold. The two variants agree
    when the correlation decays monotonically. Returns the means over trajectories (`hct`,
    `hct_count`, in the units of `dt_macro`), the per-trajectory values, the per-trajectory number
    of frames before the first drop and the horizon.
    """
    c = np.asarray(corr, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"expected correlations of shape (B, T), got {c.shape}")
    n_traj, horizon = c.shape
    # NaN >= threshold is False, so a non-finite frame ends the high-correlation time.
    above = c >= threshold
    below = ~above
    first_below = np.where(below.any(axis=1), np.argmax(below, axis=1), horizon)
    per_first = dt_macro * first_below.astype(np.float64)
    per_count = dt_macro * above.sum(axis=1).astype(np.float64)
    return {
        "hct": float(per_first.mean()) if n_traj else float("nan"),
        "hct_count": float(per_count.mean()) if n_traj else float("nan"),
        "per_trajectory": per_first.tolist(),
        "per_trajectory_count": per_count.tolist(),
        "frames_before_drop": first_below.tolist(),
        "horizon": dt_macro * horizon,
        "threshold": threshold,
    }


def first_bad_frame(finite, max_abs, bound: float) -> np.ndarray:
    """Index of the first predicted frame that is non-finite or exceeds `bound` in |value|.

    `finite, max_abs: (B, T)` from `frame_finite` and `frame_max_abs`. Returns `(B,)` int, `T` for
    a trajectory that never goes bad. Frame index t is macro step t + 1.
    """
    finite = np.asarray(finite, dtype=bool)
    max_abs = np.asarray(max_abs, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~finite | ~(max_abs <= bound)
    return np.where(bad.any(axis=1), np.argmax(bad, axis=1), bad.shape[1])
