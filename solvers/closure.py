"""The closure report: does the learning grid hold the physics a model is asked to learn?

    python -m solvers.closure data/gs2d-quick.h5 [--split val|train|test] [--state_steps 40]

For a trajectory's macro frames `u_0 … u_T` (on the learning grid, spacing Δt = k·δt) and every
macro step j, two errors of a one-Δt prediction, each divided by the persistence change
`RMS(u_{j+1} − u_j)` (so 1 means "no better than predicting no change"), RMS over grid and fields:

* **r_state(j)**: `u_j` Fourier-interpolated to the solver grid, advanced one Δt by the
  ground-truth solver (`solvers.systems`, ETDRK4 at the generation step), truncated back,
  against `u_{j+1}`. Small: the learning grid holds the state (nothing the dynamics needs was
  lost by the down-sampling). Computed on an even subsample of the j (`state_steps`, ≥ 20 by
  default 40, first and last included) because it costs a solver run per frame.
* **r_oracle(j)**: `k` steps of the true PDE in the micro module's own form
  (`solvers.finite_difference`: 4th-order stencils, its integrator at δt) from `u_j`, against
  `u_{j+1}`, for every j. Small: a physics-informed micro module can follow the data; ≥ 1: even
  the exact physics in that form does worse than doing nothing.

A profile is a faithful benchmark (benchmarks.md) when, over all trajectories and steps,
`max r_state ≤ 0.2`, `max r_oracle ≤ 0.5` and `median r_oracle ≤ 0.25` (`CRITERION`).
`python -m solvers` computes the report on the validation split of every dataset it makes,
prints `one_line(...)` and stores it in the file's `closure` group.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

CRITERION = {"r_state_max": 0.2, "r_oracle_max": 0.5, "r_oracle_median": 0.25}
DEFAULT_STATE_STEPS = 40
_ELEMENTS_PER_CALL = 2**22  # frames per jitted call: about 32 MiB of float64 per input


def state_steps(n_macro: int, count: int = DEFAULT_STATE_STEPS) -> np.ndarray:
    """An even subsample of the macro steps `0 … n_macro−1` (all of them if `count` ≥ T), first
    and last included."""
    if count >= n_macro:
        return np.arange(n_macro, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_macro - 1, count)).astype(np.int64))


def _ratio(pred: np.ndarray, start: np.ndarray, target: np.ndarray) -> np.ndarray:
    """RMS(pred − target) / RMS(target − start) per frame, frames on axis 0."""
    axes = tuple(range(1, pred.ndim))
    err = np.sqrt(np.mean(np.square(pred - target), axis=axes))
    change = np.sqrt(np.mean(np.square(target - start), axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(change > 0, err / change, np.where(err > 0, np.inf, 0.0))


def _in_chunks(fn, frames: np.ndarray) -> np.ndarray:
    per_frame = int(np.prod(frames.shape[1:]))
    size = max(1, _ELEMENTS_PER_CALL // per_frame)
    return np.concatenate(
        [np.asarray(fn(frames[i : i + size])) for i in range(0, len(frames), size)]
    )


def closure_report(
    data: Mapping[str, Any], macro: np.ndarray, *, n_state_steps: int = DEFAULT_STATE_STEPS
) -> dict[str, Any]:
    """The closure report of macro frames `macro: (traj, T+1, *grid, C)` made with the data config
    `data` (system, ndim, coefficients, length, grid, solver_grid, dt, substeps, k, dtype,
    micro_integrator).

    Returns `{"r_state": (traj, S), "state_steps": (S,), "r_oracle": (traj, T), "integrator"}`.
    """
    from solvers import finite_difference, grid, systems
    from solvers.burst import _dtype_scope

    macro = np.asarray(macro)
    n_traj, n_steps = macro.shape[0], macro.shape[1] - 1
    k, substeps = int(data["k"]), int(data["substeps"])
    dtype = str(data.get("dtype", "float64"))
    integrator = data.get("micro_integrator", "euler")
    steps = state_steps(n_steps, n_state_steps)
    with _dtype_scope(dtype):
        u = macro.astype(dtype)
        starts = u[:, :-1].reshape((-1,) + u.shape[2:])  # (traj·T, *grid, C)
        targets = u[:, 1:].reshape(starts.shape)

        oracle_step = finite_difference.micro_form_step_of(data)

        @jax.jit
        def oracle(frames):
            return jax.lax.fori_loop(0, k, lambda _, v: oracle_step(v), frames)

        r_oracle = _ratio(_in_chunks(oracle, starts), starts, targets).reshape(n_traj, n_steps)

        system = systems.get_system(data["system"], data["ndim"], **dict(data["coefficients"]))
        h = float(data["dt"]) / substeps
        solver = systems.make_stepper(
            system, int(data["solver_grid"]), float(data["length"]), h, n_steps=k * substeps
        )
        n_grid = int(data["grid"])

        @jax.jit
        @jax.vmap
        def advance(frame):
            fine = grid.fourier_interpolate(frame, int(data["solver_grid"]))
            return grid.fourier_resample(solver(fine), n_grid)

        s_starts = u[:, steps].reshape((-1,) + u.shape[2:])
        s_targets = u[:, steps + 1].reshape(s_starts.shape)
        r_state = _ratio(_in_chunks(advance, s_starts), s_starts, s_targets)
    return {
        "r_state": r_state.reshape(n_traj, len(steps)),
        "state_steps": steps,
        "r_oracle": r_oracle,
        "integrator": integrator,
    }


def summarize(report: Mapping[str, Any]) -> dict[str, float | bool]:
    """Max and median of both ratios over trajectories and steps, and whether `CRITERION`
    holds."""
    r_state, r_oracle = np.asarray(report["r_state"]), np.asarray(report["r_oracle"])
    out = {
        "r_state_max": float(np.max(r_state)),
        "r_state_median": float(np.median(r_state)),
        "r_oracle_max": float(np.max(r_oracle)),
        "r_oracle_median": float(np.median(r_oracle)),
    }
    out["faithful"] = bool(all(out[key] <= bound for key, bound in CRITERION.items()))
    return out


def one_line(report: Mapping[str, Any]) -> str:
    """`closure: r_state max 0.01 (median 0.00), r_oracle max 0.22 (median 0.11): faithful`."""
    s = summarize(report)
    verdict = (
        "faithful"
        if s["faithful"]
        else "NOT faithful (needs r_state max <= 0.2, r_oracle max <= 0.5, median <= 0.25)"
    )
    return (
        f"closure ({report['integrator']}): r_state max {s['r_state_max']:.3g} (median "
        f"{s['r_state_median']:.3g}), r_oracle max {s['r_oracle_max']:.3g} (median "
        f"{s['r_oracle_median']:.3g}): {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    import h5py

    parser = argparse.ArgumentParser(
        prog="python -m solvers.closure", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("path", help="a dataset file written by python -m solvers")
    parser.add_argument("--split", default="val", help="split to measure (default: val)")
    parser.add_argument("--state_steps", type=int, default=DEFAULT_STATE_STEPS)
    parser.add_argument("--trajectories", type=int, default=None, help="first n only")
    args = parser.parse_args(argv)
    from solvers.ingest import IngestError, stored_data_config
    from solvers.systems import SYSTEMS

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 1

    try:
        data = stored_data_config(args.path)
    except IngestError as error:
        return fail(str(error))
    if data.get("system") not in SYSTEMS:
        return fail(
            f"{args.path} names no known PDE (system {data.get('system')!r}); the closure report "
            f"needs one of {', '.join(SYSTEMS)} (python -m solvers.ingest --system ...)"
        )
    try:
        with h5py.File(args.path, "r") as f:
            if args.split not in f:
                splits = [name for name in f if "macro" in f[name]]
                return fail(f"{args.path} has no split {args.split!r}; it has {splits}")
            macro = f[args.split]["macro"][: args.trajectories]
    except (OSError, KeyError) as error:
        return fail(f"cannot read {args.path} as a dataset file ({error})")
    report = closure_report(data, macro, n_state_steps=args.state_steps)
    r_oracle = report["r_oracle"].max(axis=0)
    print(f"{args.path} [{args.split}, {macro.shape[0]} trajectories]: {one_line(report)}")
    print("r_oracle per macro step j (max over trajectories), every tenth of the horizon:")
    marks = np.unique(np.linspace(0, len(r_oracle) - 1, 11).astype(int))
    print("  " + "  ".join(f"j={j}: {r_oracle[j]:.3f}" for j in marks))
    print("r_state at the measured steps (max over trajectories):")
    r_state = report["r_state"].max(axis=0)
    marks = np.unique(np.linspace(0, len(r_state) - 1, 11).astype(int))
    print("  " + "  ".join(f"j={report['state_steps'][i]}: {r_state[i]:.3f}" for i in marks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
