"""Figures of an evaluation: truth / prediction / error snapshots, and RMSE(t) and correlation(t).

Side effects only (PNG files); inputs are NumPy arrays already on the host. Matplotlib runs on the
non-interactive Agg backend so figures render on headless machines.

Shapes: one trajectory of predicted frames `(T, *space, C)` with 1-3 space axes, and their
physical times `(T,)` (frame t is the prediction of time `times[t]`; the initial condition is not
plotted as a prediction).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_FIELD_CMAP = "viridis"
_ERROR_CMAP = "RdBu_r"


def _finite_range(*arrays) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return -1.0, 1.0
    lo, hi = float(vals.min()), float(vals.max())
    return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)


def _error_range(err) -> float:
    e = np.abs(np.asarray(err, np.float64))
    e = e[np.isfinite(e)]
    return float(e.max()) if e.size and e.max() > 0 else 1.0


def snapshot_indices(n_frames: int, n_snapshots: int) -> list[int]:
    """`n_snapshots` frame indices spread evenly over `[0, n_frames)`, last frame included."""
    n = max(1, min(n_snapshots, n_frames))
    return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, n)})


def plot_snapshots(
    truth: np.ndarray,
    pred: np.ndarray,
    times: np.ndarray,
    path: str,
    n_snapshots: int = 4,
    title: str = "",
) -> str:
    """Truth, prediction and error (prediction − truth) of one trajectory; returns `path`.

    * 1D `(T, X, C)`: space–time images (x across, t up) per channel, all frames;
    * 2D `(T, X, Y, C)`: fields at `n_snapshots` times, first channel and the second if present;
    * 3D `(T, X, Y, Z, C)`: as 2D, on the mid-plane z = Z // 2.

    Truth and prediction share a colour range (the truth's, so a blown-up prediction saturates
    instead of flattening the truth); errors use a symmetric diverging range.
    """
    truth = np.asarray(truth, np.float64)
    pred = np.asarray(pred, np.float64)
    times = np.asarray(times, np.float64)
    if truth.shape != pred.shape or truth.ndim not in (3, 4, 5):
        raise ValueError(
            f"expected truth and prediction of one shape (T, *space, C) with 1-3 space axes, "
            f"got {truth.shape} and {pred.shape}"
        )
    if truth.ndim == 3:
        fig = _space_time(truth, pred, times)
    else:
        if truth.ndim == 5:
            mid = truth.shape[3] // 2
            truth, pred = truth[:, :, :, mid], pred[:, :, :, mid]
            title = f"{title}  (mid-plane z index {mid})".strip()
        fig = _fields(truth, pred, times, n_snapshots)
    if title:
        fig.suptitle(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _space_time(truth, pred, times):
    n_ch = truth.shape[-1]
    fig, axes = plt.subplots(
        n_ch, 3, figsize=(12, 3.2 * n_ch), squeeze=False, constrained_layout=True
    )
    extent = (0, truth.shape[1], times[0], times[-1])
    for c in range(n_ch):
        vmin, vmax = _finite_range(truth[..., c])
        err = pred[..., c] - truth[..., c]
        emax = _error_range(err)
        panels = (
            ("truth", truth[..., c], _FIELD_CMAP, vmin, vmax),
            ("prediction", pred[..., c], _FIELD_CMAP, vmin, vmax),
            ("error", err, _ERROR_CMAP, -emax, emax),
        )
        for ax, (name, img, cmap, lo, hi) in zip(axes[c], panels, strict=True):
            im = ax.imshow(
                img, origin="lower", aspect="auto", extent=extent, cmap=cmap, vmin=lo, vmax=hi
            )
            ax.set_title(f"{name}, channel {c}")
            ax.set_xlabel("grid index x")
            ax.set_ylabel("time")
            fig.colorbar(im, ax=ax)
    return fig


def _fields(truth, pred, times, n_snapshots):
    idx = snapshot_indices(truth.shape[0], n_snapshots)
    channels = list(range(min(2, truth.shape[-1])))
    rows = len(channels) * 3
    fig, axes = plt.subplots(
        rows,
        len(idx),
        figsize=(2.6 * len(idx) + 1.2, 2.4 * rows),
        squeeze=False,
        constrained_layout=True,
    )
    for ci, c in enumerate(channels):
        frames = {"truth": truth[idx][..., c], "prediction": pred[idx][..., c]}
        frames["error"] = frames["prediction"] - frames["truth"]
        vmin, vmax = _finite_range(frames["truth"])
        emax = _error_range(frames["error"])
        for r, (name, cmap, lo, hi) in enumerate(
            (
                ("truth", _FIELD_CMAP, vmin, vmax),
                ("prediction", _FIELD_CMAP, vmin, vmax),
                ("error", _ERROR_CMAP, -emax, emax),
            )
        ):
            row = axes[3 * ci + r]
            for j, t in enumerate(idx):
                # Transpose so x runs across and y up, as in a physical plot.
                im = row[j].imshow(frames[name][j].T, origin="lower", cmap=cmap, vmin=lo, vmax=hi)
                row[j].set_xticks([])
                row[j].set_yticks([])
                if r == 0:
                    row[j].set_title(f"t = {times[t]:.4g}")
                if j == 0:
                    row[j].set_ylabel(f"{name}\nchannel {c}")
            fig.colorbar(im, ax=list(row), shrink=0.9)
    return fig


def plot_curves(
    times: np.ndarray,
    curves: Mapping[str, Mapping[str, Sequence[float | None]]],
    path: str,
    threshold: float = 0.8,
    title: str = "",
    xlabel: str = "time",
) -> str:
    """RMSE(t) (log scale) and correlation(t) with the HCT threshold line; returns `path`.

    `curves` maps a label (a model name) to `{"rmse": (T,), "correlation": (T,)}` and optionally
    its own `"time": (T,)` (else `times`); `None`/NaN entries (after a divergence) are left as gaps.
    """
    times = np.asarray(times, np.float64)
    fig, (ax_r, ax_c) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for label, curve in curves.items():
        rmse = np.array([np.nan if v is None else v for v in curve["rmse"]], np.float64)
        corr = np.array([np.nan if v is None else v for v in curve["correlation"]], np.float64)
        t = np.asarray(curve.get("time", times), np.float64)
        (line,) = ax_r.plot(t[: rmse.size], np.where(rmse > 0, rmse, np.nan), label=label)
        ax_c.plot(t[: corr.size], corr, label=label, color=line.get_color())
        worst = curve.get("correlation_worst_channel")
        if worst is not None and len(curves) == 1:
            worst = np.array([np.nan if v is None else v for v in worst], np.float64)
            ax_c.plot(
                t[: worst.size], worst, ":", color=line.get_color(), label=f"{label}, worst channel"
            )
    ax_r.set_yscale("log")
    ax_r.set_xlabel(xlabel)
    ax_r.set_ylabel("RMSE(t)")
    ax_r.grid(True, which="both", alpha=0.3)
    ax_c.axhline(threshold, color="k", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    ax_c.set_xlabel(xlabel)
    ax_c.set_ylabel("Pearson correlation(t)")
    ax_c.set_ylim(min(-0.05, ax_c.get_ylim()[0]), 1.05)
    ax_c.grid(True, alpha=0.3)
    ax_c.legend(loc="lower left", fontsize="small")
    if len(curves) > 1:
        ax_r.legend(loc="upper left", fontsize="small")
    if title:
        fig.suptitle(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
