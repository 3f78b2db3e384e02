"""Burst sampling: the schedule, and the rollout that saves only the burst-sampled frames.

Time levels (method.md §1). The solver advances with a fine step ``h = δt / substeps``; a micro
step is ``substeps`` fine steps (length ``δt``); a macro step is ``k`` micro steps (length
``Δt = k·δt``); a cycle is ``N`` macro steps. Two things are saved, on the learning grid:

* macro frames ``u(t_j)``, ``t_j = j·Δt``, ``j = 0..T`` (``T = n_macro``): shape ``(T+1, *g, C)``;
* bursts: ``k+1`` micro frames ``u(t_j + i·δt)``, ``i = 0..k``, covering ``[t_j, t_j + Δt]`` for
  every ``j ≡ 0 (mod N)`` with ``j < T``: shape ``(n_bursts, k+1, *g, C)``.

The first and last frame of each burst are, by construction, the very arrays saved as macro frames
``j`` and ``j+1``: the macro frame at the end of a burst step *is* the burst's last frame.

The rollout is nested fixed-shape ``lax.scan``s (fine ⊂ micro ⊂ macro ⊂ cycle). Only saved frames
are scan outputs, so memory is ``O((T+1) + n_bursts·(k+1))`` learning-grid frames, independent of
the number of fine steps. The down-sampling ``resample`` is applied to saved frames only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Step = Callable[[Array], Array]


# ----------------------------------------------------------------------------- the schedule


def burst_starts(n_macro: int, N: int) -> np.ndarray:
    """Macro indices ``j`` at which a burst starts: ``j ≡ 0 (mod N)``, ``0 ≤ j < n_macro``.

    A burst covers the macro interval ``[t_j, t_{j+1}]``, so it needs ``j + 1 ≤ n_macro``.
    Returns an int64 array of length ``ceil(n_macro / N)``.
    """
    if n_macro < 1 or N < 1:
        raise ValueError(f"need n_macro >= 1 and N >= 1, got n_macro={n_macro}, N={N}")
    return np.arange(0, n_macro, N, dtype=np.int64)


def n_bursts(n_macro: int, N: int) -> int:
    """Number of bursts in a horizon of ``n_macro`` macro steps: ``ceil(n_macro / N)``."""
    return len(burst_starts(n_macro, N))


# ----------------------------------------------------------------------------- the rollout


def _repeat(step: Step, n: int) -> Step:
    """``step`` applied ``n`` times, as a scan with no outputs (nothing kept per step)."""

    def run(u):
        if n == 0:
            return u
        u, _ = jax.lax.scan(lambda v, _: (step(v), None), u, None, length=n)
        return u

    return run


def _cycle(micro: Step, macro: Step, resample: Step, k: int, n_steps: int):
    """One cycle of ``n_steps`` macro steps whose first step is a burst step.

    Returns ``(u, r) -> ((u_end, r_end), (burst (k+1, *g, C), macro_frames (n_steps, *g, C)))``
    where ``r = resample(u)`` is the already saved frame of ``u`` and ``macro_frames[i]`` the
    frame after macro step ``i+1``. Saved frames are reused, never recomputed, so a burst's ends
    are bit-for-bit the macro frames at its start and end.
    """

    def burst_step(u, r):
        def body(v, _):
            v = micro(v)
            return v, resample(v)

        u_end, frames = jax.lax.scan(body, u, None, length=k)
        return u_end, jnp.concatenate([r[None], frames], axis=0)

    def plain_step(carry, _):
        u = macro(carry[0])
        r = resample(u)
        return (u, r), r

    def run(carry):
        u, burst = burst_step(*carry)
        (u, r), rest = jax.lax.scan(plain_step, (u, burst[-1]), None, length=n_steps - 1)
        frames = jnp.concatenate([burst[-1:], rest], axis=0)
        return (u, r), (burst, frames)

    return run


def simulate_burst_sampled(
    step: Step,
    u0: Array,
    *,
    substeps: int,
    k: int,
    N: int,
    n_macro: int,
    resample: Step | None = None,
    spinup_steps: int = 0,
) -> tuple[Array, Array]:
    """Roll one trajectory forward and keep only its burst-sampled frames.

    Args:
      step: one fine solver step ``(*space, C) -> (*space, C)`` of length ``h = δt/substeps``.
      u0: initial state on the solver grid, ``(*space, C)``, at time ``-spinup_steps·h``.
      substeps: fine steps per micro step ``δt``.
      k: micro steps per macro step ``Δt = k·δt``.
      N: burst period (macro steps per cycle).
      n_macro: number of macro steps ``T``; ``T + 1`` macro frames are saved.
      resample: solver grid → learning grid, applied to saved frames only (identity if None).
      spinup_steps: fine steps run before ``t = 0``; nothing of them is saved.

    Returns:
      ``(macro, bursts)``: ``(T+1, *g, C)`` and ``(ceil(T/N), k+1, *g, C)``; burst ``b`` starts at
      macro index ``burst_starts(T, N)[b]``. Pure and jit-able (all sizes are static Python ints).
    """
    for name, value in dict(substeps=substeps, k=k, N=N, n_macro=n_macro).items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if spinup_steps < 0:
        raise ValueError(f"spinup_steps must be >= 0, got {spinup_steps}")
    resample = resample if resample is not None else (lambda v: v)
    micro = _repeat(step, substeps)
    macro = _repeat(micro, k)

    u = _repeat(step, spinup_steps)(u0)
    carry = (u, resample(u))
    n_full, tail = divmod(n_macro, N)
    bursts, frames = [], [carry[1][None]]
    if n_full:
        cycle = _cycle(micro, macro, resample, k, N)
        carry, (b, f) = jax.lax.scan(lambda c, _: cycle(c), carry, None, length=n_full)
        bursts.append(b)
        frames.append(f.reshape((n_full * N,) + f.shape[2:]))
    if tail:
        # A last, shorter cycle: its first macro step still starts a burst (j ≡ 0 mod N, j < T).
        carry, (b, f) = _cycle(micro, macro, resample, k, tail)(carry)
        bursts.append(b[None])
        frames.append(f)
    return jnp.concatenate(frames, axis=0), jnp.concatenate(bursts, axis=0)


# ----------------------------------------------------------------------------- generation


class NonFiniteDataError(FloatingPointError):
    """Generated data contain NaN or Inf: nothing was written."""


def fine_step_counts(data: Mapping[str, Any]) -> dict[str, int]:
    """Integer step counts implied by a data config: fine steps of spin-up and of the horizon."""
    h = data["dt"] / data["substeps"]
    spin = data["spinup"] / h
    if abs(spin - round(spin)) > 1e-6 * max(1.0, spin):
        raise ValueError(
            f"spinup={data['spinup']} is not a whole number of fine steps h = dt/substeps = {h}"
        )
    return dict(
        spinup=int(round(spin)),
        horizon=int(data["n_macro"] * data["k"] * data["substeps"]),
    )


def first_nonfinite_time(macro: np.ndarray, bursts: np.ndarray, data: Mapping[str, Any]):
    """Time of the first non-finite saved frame of one trajectory, or None if all are finite.

    ``macro``: ``(T+1, *g, C)``; ``bursts``: ``(n_bursts, k+1, *g, C)``.
    """
    space = tuple(range(1, macro.ndim))
    times = []
    bad_macro = ~np.isfinite(macro).all(axis=space)
    if bad_macro.any():
        times.append(int(np.argmax(bad_macro)) * data["k"] * data["dt"])
    bad_burst = ~np.isfinite(bursts).all(axis=tuple(range(2, bursts.ndim)))
    if bad_burst.any():
        starts = burst_starts(data["n_macro"], data["N"])
        b, i = np.argwhere(bad_burst)[0]
        times.append((starts[b] * data["k"] + i) * data["dt"])
    return min(times) if times else None


def check_finite(
    macro: np.ndarray,
    bursts: np.ndarray,
    data: Mapping[str, Any],
    *,
    offset: int = 0,
    split: str = "",
) -> None:
    """Raise ``NonFiniteDataError`` naming system, trajectory and time if any frame is NaN/Inf.

    ``macro``: ``(B, T+1, *g, C)``; ``bursts``: ``(B, n_bursts, k+1, *g, C)``; trajectory numbers
    in the message are ``offset + b`` (their index in the split).
    """
    for b in range(macro.shape[0]):
        t = first_nonfinite_time(macro[b], bursts[b], data)
        if t is not None:
            where = f" {split}" if split else ""
            raise NonFiniteDataError(
                f"{data['system']} ({data['ndim']}D){where} trajectory {offset + b}: "
                f"non-finite value at t = {t:g} (first bad saved frame; dt={data['dt']}, "
                f"k={data['k']}, substeps={data['substeps']}). The solver diverged: lower dt or "
                "raise substeps. Nothing was written."
            )


_ROLLOUTS: dict[tuple, Callable] = {}
_ROLLOUT_KEYS = (
    "system",
    "ndim",
    "solver_grid",
    "grid",
    "length",
    "dt",
    "substeps",
    "k",
    "N",
    "n_macro",
    "spinup",
    "dtype",
)


def make_rollout(data: Mapping[str, Any]) -> Callable[[Array], tuple[Array, Array]]:
    """The jitted, trajectory-batched rollout of a data config: ``(B, *s, C) -> (macro, bursts)``.

    Call (and build) it inside the precision scope of the data (see ``generate_split``), so the
    stepper's constants and the traced arrays share the generation dtype. Built once per set of
    solver settings (train and test share it, and its compilation).
    """
    key = tuple(data[name] for name in _ROLLOUT_KEYS)
    key += tuple(sorted(dict(data["coefficients"]).items()))
    if key not in _ROLLOUTS:
        _ROLLOUTS[key] = _build_rollout(data)
    return _ROLLOUTS[key]


def _build_rollout(data: Mapping[str, Any]) -> Callable[[Array], tuple[Array, Array]]:
    from solvers import grid, systems

    system = systems.get_system(data["system"], data["ndim"], **dict(data["coefficients"]))
    h = data["dt"] / data["substeps"]
    step = systems.make_stepper(system, data["solver_grid"], data["length"], h)
    counts = fine_step_counts(data)
    if data["grid"] == data["solver_grid"]:
        resample = None
    else:

        def resample(v):
            return grid.fourier_resample(v, data["grid"])

    def one(u0):
        return simulate_burst_sampled(
            step,
            u0,
            substeps=data["substeps"],
            k=data["k"],
            N=data["N"],
            n_macro=data["n_macro"],
            resample=resample,
            spinup_steps=counts["spinup"],
        )

    return jax.jit(jax.vmap(one))


TRAJ_AXIS = "traj"
_SHARDED: dict = {}


def shard_trajectories(fn: Callable, devices) -> Callable:
    """``fn`` (a function of trajectory-batched arrays ``(B, …) -> pytree of (B, …)``, each
    trajectory independent) jitted under ``jax.shard_map`` over a 1-D mesh of ``devices``: each
    device runs ``fn`` on its own B/n trajectories and keeps its outputs — no collective, so no
    all-gather of fields before the FFTs (a plain ``jit`` of a batch-sharded input gathers the
    whole batch first: jax-ml/jax#15680). B must be a multiple of ``len(devices)``."""
    devices = tuple(devices)
    key = (fn, devices)
    if key not in _SHARDED:
        from jax.sharding import PartitionSpec as P

        mesh = jax.make_mesh(
            (len(devices),),
            (TRAJ_AXIS,),
            axis_types=(jax.sharding.AxisType.Explicit,),
            devices=devices,
        )
        # check_vma=False: the rollouts start scans from fresh constants (zeros); nothing here
        # crosses devices, so the check would guard nothing.
        sharded = jax.shard_map(
            fn, mesh=mesh, in_specs=P(TRAJ_AXIS), out_specs=P(TRAJ_AXIS), check_vma=False
        )
        split = jax.sharding.NamedSharding(mesh, P(TRAJ_AXIS))

        def run(*args):  # each device slices out its own trajectories: no collective
            return sharded(*(jax.sharding.reshard(x, split) for x in args))

        _SHARDED[key] = jax.jit(run)
    return _SHARDED[key]


def _dtype_scope(dtype: str):
    if dtype not in ("float32", "float64"):
        raise ValueError(f"unknown data dtype {dtype!r}; valid: float32, float64")
    return jax.enable_x64(dtype == "float64")


def default_chunk(data: Mapping[str, Any]) -> int:
    """Trajectories per vmapped call. Batching helps small grids (1D, 2D) but not 48^3 FFTs on
    CPU, where a batch of 16 ran at half the trajectory-steps/s of one (docs/performance.md)."""
    points = data["solver_grid"] ** data["ndim"]
    return 1 if points >= 32**3 else 4


def generate_split(
    data: Mapping[str, Any],
    seed: int,
    n_traj: int,
    progress: bool = True,
    *,
    chunk: int | None = None,
    split: str = "",
    devices=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``n_traj`` burst-sampled trajectories of the data config ``data``.

    Initial conditions come from ``solvers.initial.sample_initial(system, key_i, ...)`` with
    ``key_i = fold_in(PRNGKey(seed), i)``, so trajectory ``i`` does not depend on ``n_traj`` or on
    ``chunk``. The rollout runs in ``data["dtype"]`` (float64 is scoped with ``jax.enable_x64``,
    never switched on globally), ``chunk`` trajectories per device at a time under ``vmap``
    (default ``default_chunk(data)``), with a tqdm bar.

    Several ``devices`` (default: every local device) share each call's trajectories under
    ``shard_map`` (``shard_trajectories``; a call of m trajectories runs on min(m, devices)
    of them, padded to a multiple of that with copies of its last trajectory, which are
    dropped). Trajectory ``i`` is the same on one device or several, to float round-off (a
    device's batch size may change how XLA batches its FFTs).

    Returns numpy arrays in the generation dtype: macro ``(n_traj, T+1, *g, C)`` and bursts
    ``(n_traj, n_bursts, k+1, *g, C)``. Raises ``NonFiniteDataError`` (naming system, trajectory
    and time) if any saved value is NaN/Inf.
    """
    from tqdm.auto import tqdm

    from solvers import initial, systems

    options = dict(data.get("initial", {}) or {})
    devices = list(jax.local_devices() if devices is None else devices)
    chunk = max(1, chunk or default_chunk(data)) * len(devices)
    macro_out, burst_out = [], []
    with _dtype_scope(data["dtype"]):
        system = systems.get_system(data["system"], data["ndim"], **dict(data["coefficients"]))
        rollout = make_rollout(data)
        root = jax.random.PRNGKey(seed)

        @jax.jit
        @jax.vmap
        def initial_states(i):
            key = jax.random.fold_in(root, i)
            u = initial.sample_initial(system, key, data["solver_grid"], data["length"], **options)
            return jnp.asarray(u, dtype=data["dtype"])

        bar = tqdm(
            total=n_traj,
            desc=f"{data['system']} {split}".strip(),
            unit="traj",
            disable=not progress,
        )
        # Balanced chunks (sizes differ by at most one: at most two compiled batch shapes, and
        # no padded trajectories computed for nothing).
        for idx in np.array_split(np.arange(n_traj), -(-n_traj // chunk)):
            start, n_dev = int(idx[0]), min(len(devices), len(idx))
            if n_dev > 1:
                padded = np.concatenate([idx, np.repeat(idx[-1:], -len(idx) % n_dev)])
                u0 = initial_states(jnp.asarray(padded))
                macro, bursts = shard_trajectories(rollout, devices[:n_dev])(u0)
            else:
                u0 = initial_states(jnp.asarray(idx))
                macro, bursts = rollout(u0)
            # Each device's share comes to the host on its own (no gather on the devices).
            macro, bursts = np.asarray(macro)[: len(idx)], np.asarray(bursts)[: len(idx)]
            check_finite(macro, bursts, data, offset=start, split=split)
            macro_out.append(macro)
            burst_out.append(bursts)
            bar.update(len(idx))
        bar.close()
    return np.concatenate(macro_out), np.concatenate(burst_out)


__all__ = [
    "NonFiniteDataError",
    "burst_starts",
    "check_finite",
    "default_chunk",
    "first_nonfinite_time",
    "fine_step_counts",
    "generate_split",
    "make_rollout",
    "n_bursts",
    "shard_trajectories",
    "simulate_burst_sampled",
]
