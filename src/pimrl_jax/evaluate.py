"""Evaluate a trained model on the test set: roll out, score, write `results.json` and figures.

`evaluate(config, model, params, dataset, workdir)` rolls `model.rollout(params, u0, T)` (jitted,
`T` static) from every test initial condition `u0 = test macro frame 0` over the whole test
horizon `T = n_macro`, in batches of `config.eval.batch_size`, and compares the predicted frames
`u_1..u_T` with the test macro frames `1..T` (the initial condition is never scored).

Divergence. A prediction *diverges* at the first predicted frame that holds a NaN/Inf or whose
max-abs exceeds the bound `config.eval.divergence_factor` (default 10) × the max-abs of the
test data: a field ten times larger than anything in the data is no forecast. A diverged
trajectory's frames from there on are excluded (set to NaN) everywhere:

* `rmse`, `mae` are `null` for a diverged model (numbers over a truncated horizon would look
  comparable and are not); `rmse_before_divergence` / `mae_before_divergence` hold the values over
  the frames before the first divergence of any trajectory (`null` if that is the first frame);
* HCT is always defined: a diverged frame counts as decorrelated, so a trajectory's HCT stops there;
  the headline HCT is per field (method.md §6: each field's Pearson correlation over space,
  averaged over the fields), with its count-of-frames variant; `hct_pooled` uses the correlation
  over channels × space (with very different channel means, e.g. Gray–Scott's u ≈ 1, v ≈ 0, it
  stays near 1 whatever the pattern) and `hct_worst_channel` the least-correlated field's;
* the per-time curves are `null` from the first frame where any trajectory has diverged;
* `divergence` records the first macro step j (1-based: u_j is the first bad frame), its physical
  time j Δt, the reason, and the per-trajectory steps.

Nothing here raises for a diverged model, so the other models of a comparison are unaffected.

Several local devices: each batch of test trajectories is split over them under `shard_map`
(`sharded_rollout`: each device rolls out and scores its own trajectories; nothing gathers the
fields), so `model.rollout` must treat the rows of a batch independently (every model does).
Several JAX processes (`pimrl_jax.launch`, a cluster): each rolls out a contiguous share of the
trajectories on its own devices, the per-frame statistics are gathered to every process in
trajectory order, and only process 0 draws the figures and writes the results file.
Timings separate the compilation of the rollout from running it (`block_until_ready`).

Seed ensembles (`train.seeds` = S > 1, params with a leading seed axis): `evaluate_ensemble`
evaluates each member m as the single run of seed `config.seed + m` into `<workdir>/seed<s>/`
(its results file reads exactly as that run's would, config included), and writes into
`<workdir>` a summary with the mean ± std (population) over the members of every headline
metric, the per-seed values and the mean curves.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimrl_jax import diagnostics, metrics, parallel, plots

RESULTS_FILE = "results.json"
FIGURES_DIR = "figures"
DEFAULT_DIVERGENCE_FACTOR = 10.0


def results_file(split: str = "test") -> str:
    """`results.json` for the test split, `results_<split>.json` otherwise (a validation run
    never overwrites the final evaluation, nor the other way round)."""
    return RESULTS_FILE if split == "test" else f"results_{split}.json"


def count_params(params) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def _frame_stats(pred, truth) -> dict[str, jnp.ndarray]:
    """All per-frame statistics the evaluation needs, `(B, T)` each, computed on device."""
    return {
        "mse": metrics.frame_mse(pred, truth),
        "mae": metrics.frame_mae(pred, truth),
        "corr": metrics.pearson(pred, truth),
        "corr_channels": metrics.pearson(pred, truth, per_channel=True),
        "finite": metrics.frame_finite(pred),
        "max_abs": metrics.frame_max_abs(pred),
        # Per-field extrema (B, T, C), for the first step out of the data's range.
        "field_min": jnp.min(pred, axis=tuple(range(2, pred.ndim - 1))),
        "field_max": jnp.max(pred, axis=tuple(range(2, pred.ndim - 1))),
    }


def _pad_batch(x: np.ndarray, size: int) -> np.ndarray:
    """Pad the batch axis to `size` by repeating the last entry, so one compiled shape serves all
    batches (the padded rows are dropped afterwards)."""
    if x.shape[0] == size:
        return x
    reps = np.repeat(x[-1:], size - x.shape[0], axis=0)
    return np.concatenate([x, reps], axis=0)


def _macro_dt(config, times: np.ndarray) -> float:
    """Physical time between macro frames: from the dataset's times, else Δt = k δt."""
    if times.size > 1:
        return float(times[1] - times[0])
    return float(config.data.dt) * int(config.data.k)


def _jsonable(obj: Any) -> Any:
    """Plain-JSON copy: NumPy scalars/arrays to Python, tuples to lists, NaN/Inf to null."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray | jax.Array):
        return _jsonable(np.asarray(obj).tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        return float(obj) if math.isfinite(obj) else None
    return obj


def config_to_dict(config) -> dict:
    """A JSON-ready dict of an `ml_collections.ConfigDict` (or a plain dict)."""
    as_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return _jsonable(as_dict)


def write_json(path: str, obj: Any) -> None:
    """Write strict JSON (no NaN) atomically: a reader never sees a half-written file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(_jsonable(obj), f, indent=1, allow_nan=False)
    os.replace(tmp, path)


def _share(n_test: int) -> tuple[int, int, int]:
    """(first, stop, size): this process's contiguous share of the test trajectories, padded to
    `size` = ceil(n_test / processes) rows so every process rolls out the same shape."""
    n_proc, index = jax.process_count(), jax.process_index()
    size = -(-n_test // n_proc)
    first = min(index * size, n_test)
    return first, min(first + size, n_test), size


def sharded_rollout(model, n_steps: int, devices) -> tuple[object, object]:
    """(rollout, stats): `rollout(params, u0 (B, *space, C)) -> (B, n_steps, *space, C)` and
    `stats(pred, truth) -> _frame_stats`, jitted under `jax.shard_map` over a 1-D `data` mesh
    of `devices`: params replicated, each device rolls out and scores its own B/n trajectories
    and keeps them (no collective: an FFT-bearing model never all-gathers the fields, as it
    would under a plain `jit` of a batch-sharded input). One device: plain `jit`s."""
    devices = list(devices)

    def rollout(params, u0):
        return model.rollout(params, u0, n_steps)

    if len(devices) == 1:
        return jax.jit(rollout), jax.jit(_frame_stats)
    from jax.sharding import PartitionSpec as P

    mesh = parallel.make_data_mesh(devices)
    batch = P(parallel.DATA_AXIS)
    # check_vma=False: models start scans from fresh zeros (the ConvLSTM state); nothing here
    # crosses devices.
    shard = dict(mesh=mesh, out_specs=batch, check_vma=False)
    sharded_rollout = jax.shard_map(rollout, in_specs=(P(), batch), **shard)
    sharded_stats = jax.shard_map(_frame_stats, in_specs=(batch, batch), **shard)

    def split(x):  # each device slices out its own trajectories: no collective
        return jax.sharding.reshard(x, parallel.batch_sharded(mesh))

    def replicate(tree):
        return jax.tree.map(lambda x: jax.sharding.reshard(x, parallel.replicated(mesh)), tree)

    return (
        jax.jit(lambda params, u0: sharded_rollout(replicate(params), split(u0))),
        jax.jit(lambda pred, truth: sharded_stats(split(pred), split(truth))),
    )


def _first_row(x: jax.Array) -> np.ndarray:
    """x[0] as float32 NumPy, read from the one device that holds it (nothing is gathered)."""
    for shard in x.addressable_shards:
        if (shard.index[0].start or 0) == 0:
            return np.asarray(shard.data[0], np.float32)
    return np.asarray(x[0], np.float32)


def _rollout_all(model, params, u0_all, truth_all, n_steps, batch_size, devices=None):
    """Roll out every test trajectory; return stats `(n_test, T)`, trajectory 0's prediction
    `(T, *space, C)` (None on processes other than 0) and the timings.

    Each batch is split over the local `devices` (default: all of this process's;
    `sharded_rollout`): a batch of m trajectories runs on min(m, devices) of them, padded to a
    multiple of that. With several processes each rolls out its own contiguous share of the
    trajectories on its own devices and the per-frame statistics are gathered (in trajectory
    order) to all."""
    n_all = u0_all.shape[0]
    first, stop, share = _share(n_all)
    if stop > first:
        u0_all, truth_all = u0_all[first:stop], truth_all[first:stop]
    else:  # more processes than trajectories: roll out a stand-in, dropped by the gather
        u0_all, truth_all = u0_all[:1], truth_all[:1]
    n_test = u0_all.shape[0]
    batch_size = max(1, min(batch_size, share))
    devices = list(jax.local_devices() if devices is None else devices)
    devices = devices[: min(len(devices), batch_size)]
    batch_size = -(-batch_size // len(devices)) * len(devices)  # a multiple of the devices
    rollout, stats_fn = sharded_rollout(model, n_steps, devices)
    if len(devices) > 1:  # params on every device once, not at each batch
        params = jax.device_put(params, parallel.replicated(parallel.make_data_mesh(devices)))
    t0 = time.perf_counter()
    compiled = rollout.lower(params, _pad_batch(u0_all[:batch_size], batch_size)).compile()
    compile_s = time.perf_counter() - t0

    want = (batch_size, n_steps, *u0_all.shape[1:])
    chunks, pred0, run_s = [], None, 0.0
    for start in range(0, n_test, batch_size):
        stop = min(start + batch_size, n_test)
        u0 = _pad_batch(u0_all[start:stop], batch_size)
        truth = _pad_batch(truth_all[start:stop], batch_size)
        t0 = time.perf_counter()
        pred = jax.block_until_ready(compiled(params, u0))
        run_s += time.perf_counter() - t0
        if pred.shape != want:
            raise ValueError(
                f"{model.name}.rollout(params, u0 {u0.shape}, {n_steps}) returned {pred.shape}; "
                f"expected {want}: the predicted frames u_1..u_T, without u_0"
            )
        stats = jax.device_get(stats_fn(pred, np.asarray(truth, pred.dtype)))
        chunks.append({k: v[: stop - start] for k, v in stats.items()})
        if pred0 is None and first == 0:
            pred0 = _first_row(pred)
    stats = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    if jax.process_count() > 1:
        stats = {k: _pad_batch(v, share) for k, v in stats.items()}
        stats = parallel.gather_rows(stats, n_all)
    timings = {
        "compile_s": compile_s,
        "rollout_s": run_s,
        "rollout_s_per_trajectory": run_s / n_test,
        "batch_size": batch_size,
        "n_batches": len(chunks),
        "device": str(devices[0].device_kind),
        "devices": len(devices),
        "backend": jax.default_backend(),
        # Timings are process 0's; each process rolled out up to this many trajectories.
        "processes": jax.process_count(),
        "trajectories_per_process": share,
    }
    return stats, pred0, timings


def _divergence_record(first_bad, finite, times, dt_macro, bound) -> dict:
    n_steps = finite.shape[1]
    j = int(first_bad.min())
    if j >= n_steps:
        return {
            "diverged": False,
            "step": None,
            "time": None,
            "reason": None,
            "trajectories": [],
            "per_trajectory_step": [None] * first_bad.size,
            "bound": bound,
        }
    b = int(np.argmin(first_bad))
    return {
        "diverged": True,
        "step": j + 1,  # u_{j+1} is the first bad frame; frame index j
        "time": float(times[j + 1] - times[0]) if times.size > j + 1 else (j + 1) * dt_macro,
        "reason": "non-finite" if not finite[b, j] else f"max-abs above bound {bound:.3g}",
        "trajectories": [int(i) for i in np.flatnonzero(first_bad < n_steps)],
        "per_trajectory_step": [int(s) + 1 if s < n_steps else None for s in first_bad],
        "bound": bound,
    }


def _figures(config, model, macro, pred0, valid, curves, threshold, names) -> list[str]:
    """Draw the snapshot and curve figures into `names` (process 0 only); return their paths."""
    if not parallel.is_primary():
        return list(names)
    n_steps = macro.shape[1] - 1
    # Trajectory 0 is drawn only up to its divergence, as it is scored.
    pred0 = np.where(valid[0].reshape((n_steps,) + (1,) * (pred0.ndim - 1)), pred0, np.nan)
    label = f"{model.name} ({config.get('experiment', '?')}, {config.get('profile', '?')})"
    figures = [
        plots.plot_snapshots(
            macro[0, 1:],
            pred0,
            curves["time"],
            names[0],
            n_snapshots=int(config.eval.get("n_snapshots", 4)),
            title=f"{label}: test trajectory 0",
        ),
        plots.plot_curves(
            curves["time"],
            {model.name: _jsonable(curves)},
            names[1],
            threshold=threshold,
            title=label,
        ),
    ]
    return figures


def _diagnostics(config, model, params, macro, stats, times) -> dict:
    """Stability diagnostics (`pimrl_jax.diagnostics`): the first predicted frame (1-based macro
    step and time) out of the test data's per-field range ± 10 % of its span, per trajectory;
    and, unless `eval.diagnostics` is False, the spectral radius of the one-step Jacobians
    (macro step Δt, micro step δt) at test frames j = 0, T/2, T of the first two trajectories."""
    space = tuple(range(1, macro.ndim - 1)) + (0,)
    lo, hi = np.min(macro, axis=space), np.max(macro, axis=space)
    first = diagnostics.first_out_of_range(lo, hi, stats["field_min"], stats["field_max"])
    n_steps = stats["field_min"].shape[1]
    steps = [int(f) + 1 if f < n_steps else None for f in first]
    left = [s for s in steps if s is not None]
    out = {
        "left_data_range": {
            "step": min(left) if left else None,
            "time": float(times[min(left)] - times[0]) if left else None,
            "per_trajectory_step": steps,
            "margin": diagnostics.RANGE_MARGIN,
        }
    }
    if config.eval.get("diagnostics", True):
        picks = [(b, j) for b in range(min(2, macro.shape[0])) for j in (0, n_steps // 2, n_steps)]
        states = np.stack([macro[b, j] for b, j in picks])
        radii = diagnostics.step_radii(model, params, states, jax.random.PRNGKey(0))
        out["jacobian_radius"] = {
            "states": [f"trajectory {b}, macro frame {j}" for b, j in picks],
            **{
                name: None if r is None else {"max": max(r), "per_state": r}
                for name, r in radii.items()
            },
        }
    return out


def evaluate(
    config, model, params, dataset: dict, workdir: str, *, extra: dict | None = None, devices=None
):
    """Evaluate `model` with `params` on `dataset[config.eval.split]` (default "test"; "val" for
    every choice made before the final evaluation); write results and figures to `workdir`.

    Args:
      config: the run's `ConfigDict` (reads `eval.batch_size`, `eval.hct_threshold`,
        `eval.n_snapshots`, `eval.divergence_factor` if present, and `data.dt`, `data.k` when the
        dataset has no macro times); stored whole in `results.json`.
      model: a `pimrl_jax.models.registry.Model` (uses `name`, `rollout`, `params_from`).
      params: the parameter pytree `model.rollout` takes.
      dataset: `{"test": {"macro": (n_test, T + 1, *grid, C), "macro_times": (T + 1,), ...}}`.
      workdir: run directory; gets `results.json` and `figures/*.png`.
      extra: more entries for `results.json` (e.g. the trainer's `train_time_s`).
      devices: the local devices the rollouts are split over (default: all of this process's).

    Returns:
      `{"rmse", "mae", "hct", "hct_count", "diverged", "divergence_step", "figures",
      "results_path"}`; `rmse`/`mae` are None for a diverged model (see the module docstring).
    """
    split = str(config.eval.get("split", "test"))
    if split not in dataset:
        valid = [
            name for name in dataset if isinstance(dataset[name], dict) and "macro" in dataset[name]
        ]
        raise ValueError(f"eval.split={split!r} is not a split of the dataset; valid: {valid}")
    test = dataset[split]
    macro = np.asarray(test["macro"], np.float32)
    n_test, n_steps = macro.shape[0], macro.shape[1] - 1
    if n_steps < 1:
        raise ValueError(f"test macro frames {macro.shape} leave nothing to predict (T + 1 >= 2)")
    times = np.asarray(test.get("macro_times", np.arange(n_steps + 1)), np.float64)
    dt_macro = _macro_dt(config, times)
    threshold = float(config.eval.get("hct_threshold", metrics.HCT_THRESHOLD))
    factor = float(config.eval.get("divergence_factor", DEFAULT_DIVERGENCE_FACTOR))
    data_scale = float(np.max(np.abs(macro)))
    bound = factor * (data_scale if data_scale > 0 else 1.0)
    batch_size = max(1, min(int(config.eval.batch_size), n_test))

    # The rollouts and diagnostics are process-local, on one device: params of a data-parallel
    # run (replicated over a mesh, maybe over several processes) come to this host first.
    params = parallel.local_copy(params)
    stats, pred0, timings = _rollout_all(
        model, params, macro[:, 0], macro[:, 1:], n_steps, batch_size, devices
    )

    first_bad = metrics.first_bad_frame(stats["finite"], stats["max_abs"], bound)
    valid = np.arange(n_steps)[None, :] < first_bad[:, None]
    mse = np.where(valid, stats["mse"], np.nan)
    mae = np.where(valid, stats["mae"], np.nan)
    # Headline correlation (method.md §6): each field's own Pearson over space, then the mean
    # over fields. The pooled one (channels × space) is propped up by the gap between the
    # fields' means (Gray–Scott: u ≈ 1, v ≈ 0); the least-correlated field is the strictest.
    corr = np.where(valid, np.mean(stats["corr_channels"], axis=-1), np.nan)
    corr_pooled = np.where(valid, stats["corr"], np.nan)
    corr_worst = np.where(valid, np.min(stats["corr_channels"], axis=-1), np.nan)
    divergence = _divergence_record(first_bad, stats["finite"], times, dt_macro, bound)
    diverged = divergence["diverged"]
    n_ok = int(first_bad.min())  # frames before any trajectory diverged

    hct = metrics.hct(corr, dt_macro, threshold)
    hct_pooled = metrics.hct(corr_pooled, dt_macro, threshold)
    hct_worst = metrics.hct(corr_worst, dt_macro, threshold)
    curves = {
        "time": times[1:] - times[0],
        "rmse": metrics.per_time_rmse(mse),
        "mae": metrics.per_time_mae(mae),
        "correlation": metrics.per_time_correlation(corr),
        "correlation_pooled": metrics.per_time_correlation(corr_pooled),
        "correlation_worst_channel": metrics.per_time_correlation(corr_worst),
    }
    with np.errstate(invalid="ignore"):
        per_traj_rmse = [
            metrics.rmse_from_frames(mse[b, : first_bad[b]]) if first_bad[b] else None
            for b in range(n_test)
        ]

    # Only process 0 draws and writes; every process returns the same summary.
    fig_dir = os.path.join(workdir, FIGURES_DIR if split == "test" else f"{FIGURES_DIR}_{split}")
    figure_names = [os.path.join(fig_dir, "snapshots.png"), os.path.join(fig_dir, "curves.png")]
    figures = _figures(config, model, macro, pred0, valid, curves, threshold, figure_names)

    rmse = None if diverged else metrics.rmse_from_frames(mse)
    mae_all = None if diverged else metrics.mae_from_frames(mae)
    results = {
        "model": model.name,
        "params_from": getattr(model, "params_from", model.name),
        "n_params": count_params(params),
        "rmse": rmse,
        "mae": mae_all,
        "rmse_before_divergence": metrics.rmse_from_frames(mse[:, :n_ok]) if n_ok else None,
        "mae_before_divergence": metrics.mae_from_frames(mae[:, :n_ok]) if n_ok else None,
        "frames_before_divergence": n_ok,
        "hct": hct["hct"],
        "hct_count": hct["hct_count"],
        "hct_threshold": threshold,
        "hct_pooled": hct_pooled["hct"],
        "hct_worst_channel": hct_worst["hct"],
        "diverged": diverged,
        "divergence": divergence,
        "diagnostics": _diagnostics(config, model, params, macro, stats, times),
        "horizon": {"n_steps": n_steps, "dt_macro": dt_macro, "time": n_steps * dt_macro},
        "n_test": n_test,
        "split": split,
        "curves": curves,
        "per_trajectory": {
            "rmse": per_traj_rmse,
            "hct": hct["per_trajectory"],
            "hct_count": hct["per_trajectory_count"],
            "hct_pooled": hct_pooled["per_trajectory"],
            "hct_worst_channel": hct_worst["per_trajectory"],
            "correlation": corr,
        },
        "timings": timings,
        "figures": [os.path.relpath(f, workdir) for f in figures],
        "config": config_to_dict(config),
    }
    results.update(extra or {})
    results_path = os.path.join(workdir, results_file(split))
    if parallel.is_primary():
        os.makedirs(workdir, exist_ok=True)
        write_json(results_path, results)
    return {
        "rmse": rmse,
        "mae": mae_all,
        "hct": hct["hct"],
        "hct_count": hct["hct_count"],
        "diverged": diverged,
        "divergence_step": divergence["step"],
        "figures": figures,
        "results_path": results_path,
    }


ENSEMBLE_METRICS = (
    "rmse",
    "mae",
    "hct",
    "hct_count",
    "hct_pooled",
    "hct_worst_channel",
    "rmse_before_divergence",
)


def _mean_curve(curves: list) -> list | None:
    """Pointwise mean of equal-length curves (None where any member has None)."""
    rows = [[np.nan if v is None else float(v) for v in c] for c in curves if c is not None]
    if len(rows) != len(curves) or not rows:
        return None
    return np.mean(np.asarray(rows), axis=0)


def ensemble_summary(members: list[dict], seeds: list[int]) -> dict:
    """The summary of an ensemble's member results (as `evaluate` writes them): for each metric
    of `ENSEMBLE_METRICS` the mean and population std over the members where it is defined
    (`<name>`, `<name>_std`, `<name>_per_seed`), `diverged` only when every member diverged
    (`diverged_seeds` lists which did), the members' mean curves."""
    first = members[0]
    out = {
        "model": first["model"],
        "params_from": first.get("params_from", first["model"]),
        "n_params": first.get("n_params"),
        "seeds": list(seeds),
        "members": [f"seed{s}" for s in seeds],
    }
    for name in ENSEMBLE_METRICS:
        values = [r.get(name) for r in members]
        finite = [float(v) for v in values if v is not None and math.isfinite(v)]
        out[name] = float(np.mean(finite)) if finite else None
        out[f"{name}_std"] = float(np.std(finite)) if finite else None
        out[f"{name}_per_seed"] = values
    diverged = [s for s, r in zip(seeds, members, strict=True) if r.get("diverged")]
    out["diverged"] = len(diverged) == len(members)
    out["diverged_seeds"] = diverged
    out["divergence"] = next((r["divergence"] for r in members if r.get("diverged")), None)
    if not out["diverged"]:
        out["divergence"] = dict(out["divergence"] or {}, diverged=False)
    for key in ("hct_threshold", "horizon", "n_test", "split"):
        out[key] = first.get(key)
    curves = {}
    for key, curve in (first.get("curves") or {}).items():
        curves[key] = curve if key == "time" else _mean_curve([r["curves"][key] for r in members])
    out["curves"] = curves
    per_traj = [r.get("timings", {}).get("rollout_s_per_trajectory") for r in members]
    per_traj = [t for t in per_traj if t is not None]
    out["timings"] = dict(
        first.get("timings") or {},
        rollout_s_per_trajectory=float(np.mean(per_traj)) if per_traj else None,
    )
    return out


def evaluate_ensemble(config, model, params, dataset: dict, workdir: str, *, extra=None):
    """Evaluate every member of an ensemble (params with a leading seed axis of length
    `train.seeds`): member m as the single run of seed `config.seed + m` into
    `<workdir>/seed<config.seed + m>/`, then the summary (`ensemble_summary`) into `<workdir>`.
    `extra` (e.g. `train_time_s`, the whole ensemble's) goes into the summary; each member gets
    its share `train_time_s / S` and the whole as `ensemble_train_time_s`.

    Returns what `evaluate` returns, with the means, plus `<metric>_std`, `seeds` and
    `per_seed` (each member's own return value)."""
    from pimrl_jax import train as train_lib

    seeds = train_lib.member_seeds(config)
    split = str(config.eval.get("split", "test"))
    extra = dict(extra or {})
    member_extra = {}
    if extra.get("train_time_s") is not None:
        member_extra = {
            "train_time_s": extra["train_time_s"] / len(seeds),
            "ensemble_train_time_s": extra["train_time_s"],
        }
    if extra.get("trained_on"):
        member_extra["trained_on"] = extra["trained_on"]
    returned, members = [], []
    for m, seed in enumerate(seeds):
        member_params = jax.tree.map(lambda x, m=m: x[m], parallel.local_copy(params))
        member_dir = os.path.join(workdir, f"seed{seed}")
        one = evaluate(
            train_lib.member_config(config, m),
            model,
            member_params,
            dataset,
            member_dir,
            extra=member_extra,
        )
        returned.append(one)
        with open(one["results_path"]) as f:
            members.append(json.load(f))
    summary = ensemble_summary(members, seeds)
    summary.update(extra)
    summary["config"] = config_to_dict(config)
    results_path = os.path.join(workdir, results_file(split))
    if parallel.is_primary():
        os.makedirs(workdir, exist_ok=True)
        write_json(results_path, summary)
    out = {k: summary[k] for k in ("rmse", "mae", "hct", "hct_count", "diverged")}
    out.update({f"{k}_std": summary[f"{k}_std"] for k in ("rmse", "mae", "hct")})
    out["divergence_step"] = (summary["divergence"] or {}).get("step")
    out["figures"] = [f for r in returned for f in r["figures"]]
    out["results_path"] = results_path
    out["seeds"] = seeds
    out["per_seed"] = returned
    return out
