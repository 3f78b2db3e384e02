"""Bring your own data: import trajectories into the project's dataset file.

Two ways in, both writing the same schema as ``python -m solvers`` (``solvers.dataset.write``:
atomic, SHA-256 of every array, a config hash of the data section)::

    # finely sampled trajectories (traj, time, *space, fields) at spacing δt, burst-sampled here
    python -m solvers.ingest --fine sim.npy --dt 0.25 --k 4 --N 2 --out data/mine.h5
    python -m solvers.ingest --fine sim.h5:u --dt 0.25 --k 4 --N 2 --grid 32 --out data/mine.h5
    python -m solvers.ingest --fine well_file.hdf5 --fields A,B --k 4 --N 2 --out data/mine.h5

    # data that are burst-sampled already: macro frames and bursts, validated
    python -m solvers.ingest --macro macro.npy --bursts bursts.npy --dt 0.25 --N 2 \\
        --out data/mine.h5

    # check a file and print what it holds (make data EXP=custom DATA=... runs this)
    python -m solvers.ingest --check data/mine.h5

Array sources are ``FILE`` (``.npy``; ``.npz`` or HDF5 holding exactly one array) or
``FILE:NAME`` (the array ``NAME`` inside a ``.npz`` or HDF5 file). An HDF5 file with a
``t0_fields``/``t1_fields`` group is read in The Well's layout: fields chosen by ``--fields``
(default all time-varying ones; vector and tensor fields become one field per component), δt from
``dimensions/time``, the domain length from ``dimensions/x``, periodicity from
``boundary_conditions``.

Fine mode (method.md §1): macro frame ``j`` is fine frame ``start + j·k``; burst ``b`` holds fine
frames ``start + s_b·k … start + s_b·k + k`` for ``s_b`` in ``burst_starts(T, N)``. With
``--grid M`` every saved frame is Fourier-downsampled (``solvers.grid.fourier_resample``, in
float64 for float64 input), each fine frame once, so a burst's ends are its macro frames bit for
bit, as in the solver path. Macro mode checks that the bursts sit on the burst schedule, that their
first and last frames equal the macro frames they span within ``--tolerance`` (relative to the
largest |value|), and that times (if given) are uniform and consistent with ``Δt = k·δt``; the
burst ends are then set to the macro frames, so the file keeps the schema's bit-for-bit promise.

Trajectories are split into train/val/test whole (never one trajectory in two splits), either by
``--train/--val/--test`` index lists or by ``--split`` fractions after a permutation drawn with
``--seed``. ``--system`` and ``--coefficients`` name the PDE if known: the closure report
(``solvers.closure``) is then computed on the validation split and stored, and the ``oracle``
reference model can run; otherwise the system is ``custom`` and the report is skipped with a note.

The data section written into the file (``data_config`` attribute) records the ingest options and
the SHA-256 of every input array, so the file's config hash names exactly which data and options
made it; ``experiments/custom.py`` reads that section back as its data config. Every refusal is one
``error:`` line naming the file, the array and the fix (exit status 1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np

CUSTOM_SYSTEM = "custom"
DEFAULT_SPLIT = (0.6, 0.2, 0.2)
DEFAULT_TOLERANCE = 1e-5
# Integer fields of a data section (the file's canonical ``data_config`` JSON stores every number
# as a float; these are turned back into ints when a config is read from a file).
INT_FIELDS = (
    "ndim",
    "grid",
    "solver_grid",
    "substeps",
    "k",
    "N",
    "n_macro",
    "seed_train",
    "seed_val",
    "seed_test",
    "n_train",
    "n_val",
    "n_test",
)
_WELL_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


class IngestError(ValueError):
    """Input that cannot be imported; the message names the file, the array and the fix."""


# ----------------------------------------------------------------------------- reading arrays


def _split_source(source: str) -> tuple[str, str | None]:
    """``FILE`` or ``FILE:NAME``: the longest existing file before a colon names the file, the
    rest the array inside it (an HDF5 name may hold slashes: ``sim.h5:group/u``)."""
    if os.path.exists(source):
        return source, None
    for i in range(len(source) - 1, 0, -1):
        if source[i] == ":" and os.path.isfile(source[:i]):
            return source[:i], source[i + 1 :] or None
    head, sep, tail = source.rpartition(":")
    if sep and head and "/" not in tail:
        return head, tail  # a missing file with an array name: the message names the file
    return source, None


def _is_hdf5(path: str) -> bool:
    try:
        return h5py.is_hdf5(path)
    except OSError:
        return False


def _h5_arrays(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def is_well_file(path: str) -> bool:
    """Whether ``path`` is an HDF5 file in The Well's layout (a ``t0/t1/t2_fields`` group)."""
    if not _is_hdf5(path):
        return False
    with h5py.File(path, "r") as f:
        return any(g in f for g in _WELL_GROUPS)


def read_array(source: str, what: str) -> tuple[np.ndarray, str]:
    """The array named by ``source`` (``FILE`` or ``FILE:NAME``) and a label ``FILE[:NAME]`` for
    messages. ``what`` says what the array is for (in messages)."""
    path, name = _split_source(source)
    if not os.path.exists(path):
        raise IngestError(f"{what} file {path} does not exist; check the path")
    if path.endswith(".npy"):
        if name is not None:
            raise IngestError(f"{path} is a .npy file holding one array; drop ':{name}'")
        return np.load(path, mmap_mode="r"), path
    if path.endswith(".npz"):
        with np.load(path) as npz:
            names = list(npz.files)
            if name is None:
                if len(names) != 1:
                    raise IngestError(
                        f"{path} holds the arrays {names}; name the {what} as {path}:<array>"
                    )
                name = names[0]
            if name not in names:
                raise IngestError(
                    f"{path} has no array {name!r}; its arrays are {names}: use {path}:<array>"
                )
            return np.asarray(npz[name]), f"{path}:{name}"
    if _is_hdf5(path):
        with h5py.File(path, "r") as f:
            names = _h5_arrays(f)
            if name is None:
                if len(names) != 1:
                    raise IngestError(
                        f"{path} holds the arrays {names}; name the {what} as {path}:<array>"
                    )
                name = names[0]
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise IngestError(
                    f"{path} has no array {name!r}; its arrays are {names}: use {path}:<array>"
                )
            return f[name][...], f"{path}:{name}"
    raise IngestError(
        f"{path}: not a .npy, .npz or HDF5 file; save the {what} with numpy.save or h5py"
    )


def _decode(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_decode(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def read_well(path: str, fields: Sequence[str] | None) -> dict[str, Any]:
    """Trajectories of a Well-style HDF5 file: ``{"u": (traj, time, *space, C), "times",
    "field_names", "length", "periodic", "spatial_dims", "arrays"}``."""
    with h5py.File(path, "r") as f:
        available: dict[str, str] = {}
        for group in _WELL_GROUPS:
            if group in f:
                for name, obj in f[group].items():
                    if isinstance(obj, h5py.Dataset):
                        available.setdefault(name, group)
        dims = f["dimensions"] if "dimensions" in f else None
        spatial = _decode(dims.attrs.get("spatial_dims")) if dims is not None else None
        ndim = int(_decode(f.attrs.get("n_spatial_dims", len(spatial or []) or 0)) or 0)
        if not spatial:
            spatial = ["x", "y", "z"][:ndim]

        def usable(name):
            attrs = f[available[name]][name].attrs
            return all(
                bool(_decode(attrs.get(key, True))) for key in ("time_varying", "sample_varying")
            )

        if fields is None:
            fields = [name for name in available if usable(name)]
            if not fields:
                raise IngestError(
                    f"{path} (Well layout) has no time-varying field in {list(_WELL_GROUPS)}; "
                    f"its fields are {sorted(available)}"
                )
        missing = [name for name in fields if name not in available]
        if missing:
            raise IngestError(
                f"{path} (Well layout) has no field {', '.join(map(repr, missing))}; its fields "
                f"are {', '.join(sorted(available)) or 'none'}: choose them with --fields"
            )
        parts, names, arrays = [], [], []
        for name in fields:
            group = available[name]
            dset = f[group][name]
            attrs = {key: _decode(v) for key, v in dset.attrs.items()}
            label = f"{path}:{group}/{name}"
            if not attrs.get("time_varying", True) or not attrs.get("sample_varying", True):
                raise IngestError(
                    f"{label} is not a trajectory field (time_varying="
                    f"{attrs.get('time_varying', True)}, sample_varying="
                    f"{attrs.get('sample_varying', True)}); leave it out of --fields"
                )
            dim_varying = attrs.get("dim_varying")
            if dim_varying is not None and not all(bool(v) for v in np.ravel(dim_varying)):
                raise IngestError(
                    f"{label} does not vary along every spatial axis (dim_varying="
                    f"{dim_varying}); leave it out of --fields"
                )
            array = dset[...]
            rank = 2 + ndim + {"t0_fields": 0, "t1_fields": 1, "t2_fields": 1}[group]
            if group == "t2_fields" and array.ndim == 2 + ndim + 2:
                array = array.reshape(array.shape[: 2 + ndim] + (-1,))
            if array.ndim != rank:
                raise IngestError(
                    f"{label} has shape {array.shape}; a {group[:2]} field of a {ndim}D Well file "
                    f"should be (traj, time, {', '.join(spatial)}"
                    + (", components)" if group != "t0_fields" else ")")
                    + "; check n_spatial_dims or choose other --fields"
                )
            if group == "t0_fields":
                array = array[..., None]
                names.append(name)
            else:
                n_comp = array.shape[-1]
                if group == "t1_fields" and n_comp == len(spatial):
                    names.extend(f"{name}_{axis}" for axis in spatial)
                elif group == "t2_fields" and n_comp == len(spatial) ** 2:
                    names.extend(f"{name}_{a}{b}" for a in spatial for b in spatial)
                else:
                    names.extend(f"{name}_{i}" for i in range(n_comp))
            parts.append(array)
            arrays.append(label)
        shapes = {part.shape[:-1] for part in parts}
        if len(shapes) != 1:
            raise IngestError(
                f"{path} (Well layout): the chosen fields {list(fields)} differ in shape "
                f"({[part.shape for part in parts]}); choose fields on one grid with --fields"
            )
        times = None
        if dims is not None and "time" in dims:
            times = np.asarray(dims["time"][...], np.float64)
            if times.ndim == 2:  # sample-varying times: must agree across trajectories
                if not np.allclose(times, times[:1], rtol=1e-9, atol=0):
                    raise IngestError(
                        f"{path}:dimensions/time differs between trajectories; import "
                        "trajectories with equal time axes (one file per time axis)"
                    )
                times = times[0]
        length = None
        if dims is not None and spatial[0] in dims:
            coords = dims[spatial[0]][...]
            x = np.asarray(coords, np.float64).ravel()
            if x.size >= 2:
                length = _significant((x[-1] - x[0]) / (x.size - 1) * x.size, coords.dtype)
        periodic = True
        if "boundary_conditions" in f:
            for bc_name, bc in f["boundary_conditions"].items():
                kind = str(_decode(bc.attrs.get("bc_type", "periodic"))).lower()
                if kind != "periodic":
                    periodic = False
                    periodic_note = f"boundary_conditions/{bc_name} is {kind!r}"
        out = dict(
            u=np.concatenate(parts, axis=-1),
            times=times,
            field_names=names,
            length=length,
            periodic=periodic,
            spatial_dims=list(spatial),
            arrays=arrays,
        )
        if not periodic:
            out["periodic_note"] = periodic_note
        return out


# ----------------------------------------------------------------------------- checks


def _check_rank(
    u: np.ndarray, label: str, layout: str, extra_axes: int, ndim: int | None = None
) -> int:
    """``ndim`` of an array ``(traj, <extra_axes time axes>, *space, C)``; a clear message for a
    wrong rank (``ndim``: the number of spatial axes the user declared, if any)."""
    if ndim is not None and u.ndim != ndim + 2 + extra_axes:
        raise IngestError(
            f"{label} has shape {u.shape} (rank {u.ndim}); --ndim {ndim} needs {layout}, rank "
            f"{ndim + 2 + extra_axes}. If it holds one trajectory, add a leading axis (u[None]); "
            "if it has no field axis, add one (u[..., None])."
        )
    ndim = u.ndim - 2 - extra_axes
    if ndim not in (1, 2, 3):
        hint = (
            " If it has no field axis, add one (u[..., None]); if it holds one trajectory, add a "
            "leading axis (u[None])."
            if ndim < 1
            else ""
        )
        raise IngestError(
            f"{label} has shape {u.shape} (rank {u.ndim}); expected {layout} with 1, 2 or 3 "
            f"spatial axes, i.e. rank {3 + extra_axes} to {5 + extra_axes}.{hint}"
        )
    return ndim


def _check_grid(space: Sequence[int], label: str) -> int:
    if len(set(space)) != 1:
        raise IngestError(
            f"{label} has the spatial shape {tuple(space)}; the models take square/cubic periodic "
            f"grids n^ndim: crop or resample it to equal sizes (e.g. {min(space)} per axis)"
        )
    return int(space[0])


def _check_learning_grid(grid: int, label: str, downsampled_from: int | None) -> None:
    """The macro encoder halves the grid at least once: the learning grid must be even."""
    if grid % 2 or grid < 4:
        options = sorted({g for g in (grid - grid % 2, grid - grid % 4) if g >= 4}, reverse=True)
        choice = " or ".join(f"--grid {g}" for g in options) or "a grid of at least 4 points"
        how = "to Fourier-downsample it" if downsampled_from is None else "instead"
        raise IngestError(
            f"{label}: learning grid {grid} cannot be halved by the macro encoder (each level "
            f"is a stride-2 convolution, so the grid must be even and >= 4); pass {choice} {how}"
            " (a multiple of 4 or 8 lets the encoder use two or three levels)"
        )


def check_finite(u: np.ndarray, label: str, times_of, *, axes: int = 1) -> None:
    """NaN/Inf anywhere in ``u`` ``(traj, time[, i], ...)``: name the first trajectory and time."""
    bad = ~np.isfinite(u)
    if not bad.any():
        return
    per = bad.reshape(bad.shape[: 1 + axes] + (-1,)).any(axis=-1)
    where = np.argwhere(per)[0]
    traj, index = int(where[0]), tuple(int(i) for i in where[1:])
    kind = "NaN" if np.isnan(u[(traj, *index)]).any() else "Inf"
    raise IngestError(
        f"{label}: {kind} at trajectory {traj}, {times_of(index)}; clean the data, leave the "
        f"trajectory out with --exclude {traj}, or end the horizon before it (--n_macro)"
    )


def _significant(value: float, dtype) -> float:
    """``value`` rounded to the precision of ``dtype`` (7 digits for float32 times or
    coordinates, so 0.0099999998 is stored as 0.01)."""
    if np.dtype(dtype).itemsize >= 8:
        return float(value)
    return float(f"{value:.7g}")


def _check_uniform(times: np.ndarray, label: str, spacing: float | None, name: str) -> float:
    """The spacing of uniform ``times``; a clear message for non-uniform or inconsistent ones.
    Steps may differ by 1e-6 of the step plus the rounding of the times' own precision."""
    dtype = np.asarray(times).dtype if np.asarray(times).dtype.kind == "f" else np.float64
    times = np.asarray(times, np.float64).ravel()
    if times.size < 2:
        raise IngestError(f"{label} has {times.size} time(s); need at least 2")
    steps = np.diff(times)
    step = float((times[-1] - times[0]) / (times.size - 1))
    slack = 1e-6 * abs(step) + 8 * float(np.finfo(dtype).eps) * float(np.max(np.abs(times)))
    if step <= 0 or np.max(np.abs(steps - step)) > slack:
        worst = int(np.argmax(np.abs(steps - step)))
        raise IngestError(
            f"{label} is not uniformly spaced: step {worst} is {steps[worst]:.9g}, the mean step "
            f"{step:.9g}; {name} must be sampled at constant spacing (resample in time first, "
            "or import the uniform part)"
        )
    step = _significant(step, dtype)
    if spacing is not None and abs(step - spacing) > slack:
        raise IngestError(
            f"{label} has spacing {step:.9g} but --dt/k say {spacing:.9g}; drop --dt (it is read "
            "from the times) or fix it"
        )
    return step


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# ----------------------------------------------------------------------------- splits


def _indices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise IngestError(
            f"trajectory indices {text!r}: expected comma-separated integers, e.g. 0,1,2"
        ) from error


def assign_splits(
    n_traj: int,
    *,
    fractions: Sequence[float] = DEFAULT_SPLIT,
    explicit: Mapping[str, Sequence[int] | None] | None = None,
    seed: int = 0,
    exclude: Sequence[int] = (),
    label: str = "the input",
) -> dict[str, list[int]]:
    """Trajectory indices of train/val/test: explicit lists, or a permutation (``seed``) of the
    trajectories not excluded cut by ``fractions``; each split gets at least one, none is shared.
    """
    explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
    bad = [i for i in exclude if not 0 <= i < n_traj]
    if bad:
        raise IngestError(f"--exclude {bad}: {label} has trajectories 0..{n_traj - 1} only")
    if explicit:
        missing = [name for name in ("train", "val", "test") if name not in explicit]
        if missing:
            raise IngestError(
                "--train, --val and --test go together (or use --split fractions); missing: "
                + ", ".join(f"--{name}" for name in missing)
            )
        seen: dict[int, str] = {}
        for name in ("train", "val", "test"):
            if not explicit[name]:
                raise IngestError(f"--{name} is empty; every split needs a trajectory")
            for i in explicit[name]:
                if not 0 <= i < n_traj:
                    raise IngestError(
                        f"--{name} names trajectory {i}; {label} has trajectories 0..{n_traj - 1}"
                    )
                if i in seen or i in exclude:
                    other = seen.get(i, "--exclude")
                    raise IngestError(f"trajectory {i} is in --{name} and {other}; use it once")
                seen[i] = f"--{name}"
        return {name: list(explicit[name]) for name in ("train", "val", "test")}
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise IngestError(f"--split {fractions}: need three non-negative fractions train,val,test")
    keep = np.array([i for i in range(n_traj) if i not in set(exclude)], np.int64)
    n = len(keep)
    total = float(sum(fractions))
    n_val = max(1, int(round(fractions[1] / total * n)))
    n_test = max(1, int(round(fractions[2] / total * n)))
    if n - n_val - n_test < 1:
        raise IngestError(
            f"{label} has {n} usable trajectories; train, val and test need at least one each "
            "(3 in all): import more trajectories, or cut long ones into pieces first"
        )
    order = keep[np.random.default_rng(seed).permutation(n)]
    return {
        "train": sorted(order[: n - n_val - n_test].tolist()),
        "val": sorted(order[n - n_val - n_test : n - n_test].tolist()),
        "test": sorted(order[n - n_test :].tolist()),
    }


# ----------------------------------------------------------------------------- burst sampling


def _resampler(grid: int, dtype):
    import jax

    from solvers import grid as grid_lib

    @jax.jit
    def run(frames):
        return jax.vmap(lambda v: grid_lib.fourier_resample(v, grid))(frames)

    return run


def burst_sample(
    u: np.ndarray, *, k: int, N: int, n_macro: int, start: int = 0, grid: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Macro frames and bursts of fine trajectories ``u: (traj, time, *space, C)`` at spacing δt.

    Macro frame ``j`` is fine frame ``start + j·k`` (``j = 0..n_macro``); burst ``b`` is fine
    frames ``start + s_b·k + i`` (``i = 0..k``) for ``s_b`` in ``burst_starts(n_macro, N)``. Each
    needed fine frame is Fourier-downsampled to ``grid`` once (in the input's precision, float64
    scoped with ``jax.enable_x64``), then gathered, so burst ends equal macro frames bit for bit.
    Returns arrays in the input's dtype.
    """
    import jax

    from solvers.burst import burst_starts

    starts = burst_starts(n_macro, N)
    macro_idx = start + k * np.arange(n_macro + 1)
    burst_idx = start + k * starts[:, None] + np.arange(k + 1)[None, :]
    needed = np.unique(np.concatenate([macro_idx, burst_idx.ravel()]))
    position = {int(t): i for i, t in enumerate(needed)}
    n_in = u.shape[2]
    frames = np.asarray(u[:, needed])  # (traj, n_needed, *space, C)
    if grid is not None and grid != n_in:
        dtype = np.float64 if frames.dtype == np.float64 else np.float32
        with jax.enable_x64(dtype == np.float64):
            run = _resampler(grid, dtype)
            flat = frames.reshape((-1,) + frames.shape[2:]).astype(dtype)
            size = max(1, 2**22 // int(np.prod(flat.shape[1:])))
            out = np.concatenate(
                [np.asarray(run(flat[i : i + size])) for i in range(0, len(flat), size)]
            )
        frames = out.reshape(frames.shape[:2] + out.shape[1:])
    macro = frames[:, [position[int(t)] for t in macro_idx]]
    bursts = frames[:, [[position[int(t)] for t in row] for row in burst_idx]]
    return macro, bursts


# ----------------------------------------------------------------------------- the two modes


def _coefficients(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise IngestError(
                f"--coefficients {text!r}: expected name=value pairs, e.g. d_u=2e-5,d_v=5e-6"
            )
    return out


def _system_section(args) -> tuple[str, dict[str, float]]:
    """(system, coefficients) from the flags; a named system is checked against solvers.systems."""
    coefficients = _coefficients(args.coefficients)
    if args.system in (None, "", CUSTOM_SYSTEM):
        if coefficients:
            raise IngestError("--coefficients needs --system (the PDE they belong to)")
        return CUSTOM_SYSTEM, {}
    from solvers import systems

    if args.system not in systems.SYSTEMS:
        raise IngestError(
            f"--system {args.system!r} is not a known PDE; known: {', '.join(systems.SYSTEMS)} "
            "(leave --system out for data whose physics is unknown)"
        )
    return args.system, coefficients


def _field_names(names: Sequence[str] | None, n_fields: int, label: str) -> list[str]:
    if names is None:
        return [f"u{i}" for i in range(n_fields)] if n_fields > 1 else ["u"]
    if len(names) != n_fields:
        raise IngestError(
            f"--field_names gives {len(names)} names ({', '.join(names)}) but {label} has "
            f"{n_fields} field(s) on its last axis; give one name per field"
        )
    return list(names)


def load_fine(args) -> dict[str, Any]:
    """The fine trajectories of ``--fine`` and what the source says about them."""
    path, name = _split_source(args.fine)
    fields = args.fields.split(",") if args.fields else None
    if is_well_file(path) and name is None:
        well = read_well(path, fields)
        u, label = well["u"], f"{path} (Well layout, fields {', '.join(well['arrays'])})"
        if not well["periodic"] and not args.allow_nonperiodic:
            raise IngestError(
                f"{path}: {well['periodic_note']}; the models assume a periodic domain. Import "
                "periodic data, or pass --allow_nonperiodic to import it anyway"
            )
        return dict(
            u=u,
            label=label,
            times=well["times"],
            length=well["length"],
            field_names=well["field_names"],
            arrays=well["arrays"],
            layout="well",
        )
    if fields is not None:
        raise IngestError(
            f"--fields selects fields of a Well-style HDF5 file; {path} is not one. Name its "
            f"array as {path}:<array> and its fields with --field_names"
        )
    u, label = read_array(args.fine, "fine trajectories")
    times, times_label = None, None
    if args.times:
        times, times_label = read_array(args.times, "times")
    return dict(
        u=u,
        label=label,
        times=times,
        times_label=times_label,
        length=None,
        field_names=None,
        arrays=[label],
    )


def _common_data(args, *, ndim, length, grid, solver_grid, dt, k, N, n_macro, splits, dtype):
    system, coefficients = _system_section(args)
    return dict(
        system=system,
        ndim=int(ndim),
        coefficients=coefficients,
        length=float(length),
        grid=int(grid),
        solver_grid=int(solver_grid),
        dt=float(dt),
        substeps=int(args.substeps),
        k=int(k),
        N=int(N),
        n_macro=int(n_macro),
        spinup=0.0,
        seed_train=int(args.seed),
        seed_val=int(args.seed),
        seed_test=int(args.seed),
        n_train=len(splits["train"]),
        n_val=len(splits["val"]),
        n_test=len(splits["test"]),
        dtype=dtype,
        micro_integrator=args.micro_integrator,
    )


def _splits_of(args, n_traj: int, label: str) -> dict[str, list[int]]:
    return assign_splits(
        n_traj,
        fractions=tuple(float(x) for x in args.split.split(",")),
        explicit={name: _indices(getattr(args, name)) for name in ("train", "val", "test")},
        seed=int(args.seed),
        exclude=_indices(args.exclude) or [],
        label=label,
    )


def ingest_fine(args) -> tuple[dict, dict, list[str], dict]:
    """``--fine``: (data section, splits {name: (macro, bursts)}, field names, extra attrs)."""
    source = load_fine(args)
    u, label = source["u"], source["label"]
    ndim = _check_rank(u, label, "(traj, time, *space, fields)", 1, args.ndim)
    n_in = _check_grid(u.shape[2 : 2 + ndim], label)
    if args.ndim is None:
        print(
            f"note: {label} {tuple(u.shape)} read as {u.shape[0]} trajectories x {u.shape[1]} "
            f"frames, a {ndim}D grid of {n_in}, {u.shape[-1]} field(s) (--ndim makes it explicit)"
        )
    k, N = int(args.k or 0), int(args.N or 0)
    if k < 1 or N < 1:
        raise IngestError("--fine needs --k (micro steps per macro step) and --N (burst period)")
    dt = args.dt
    if source["times"] is not None:
        times = np.asarray(source["times"], np.float64).ravel()
        t_label = source.get("times_label") or f"the times of {label} (dimensions/time)"
        if times.size != u.shape[1]:
            raise IngestError(
                f"{t_label} has {times.size} entries but {label} has {u.shape[1]} time steps; "
                "give one time per frame"
            )
        dt = _check_uniform(times, t_label, dt, "fine trajectories")
    if dt is None:
        raise IngestError(f"{label} has no time axis stored: give its spacing δt with --dt")
    start = int(args.start)
    available = (u.shape[1] - 1 - start) // k
    n_macro = int(args.n_macro) if args.n_macro else available
    if n_macro > available or start < 0:
        raise IngestError(
            f"{label} has {u.shape[1]} frames; --n_macro {n_macro} with --k {k} from --start "
            f"{start} needs {start + n_macro * k + 1}: use --n_macro {max(available, 0)} or less"
        )
    if n_macro < N:
        raise IngestError(
            f"{label}: a horizon of {n_macro} macro steps (k={k}, {u.shape[1]} frames) is shorter "
            f"than one cycle N={N}; lower --k or --N, or import longer trajectories"
        )
    grid = int(args.grid) if args.grid else n_in
    if grid > n_in:
        raise IngestError(
            f"--grid {grid} is finer than {label}'s grid {n_in}; Fourier downsampling only: "
            f"choose --grid <= {n_in}"
        )
    _check_learning_grid(grid, label, n_in if args.grid else None)
    field_names = source["field_names"] or _field_names(
        args.field_names.split(",") if args.field_names else None, u.shape[-1], label
    )
    if source["field_names"] and args.field_names:
        field_names = _field_names(args.field_names.split(","), u.shape[-1], label)
    used = slice(start, start + n_macro * k + 1)
    check_finite(
        u[:, used],
        label,
        lambda index: f"time index {start + index[0]} (t = {(start + index[0]) * dt:g})",
    )
    splits_idx = _splits_of(args, u.shape[0], label)
    length = args.length or source["length"] or 1.0
    dtype = "float64" if u.dtype == np.float64 else "float32"
    data = _common_data(
        args,
        ndim=ndim,
        length=length,
        grid=grid,
        solver_grid=n_in,
        dt=dt,
        k=k,
        N=N,
        n_macro=n_macro,
        splits=splits_idx,
        dtype=dtype,
    )
    splits = {}
    for name, idx in splits_idx.items():
        splits[name] = burst_sample(
            np.asarray(u[idx]), k=k, N=N, n_macro=n_macro, start=start, grid=grid
        )
    data["source"] = dict(
        mode="fine",
        layout=source.get("layout", "array"),
        arrays=[os.path.basename(a) for a in source["arrays"]],  # content: sha256
        sha256=_digest(np.asarray(u)),
        shape=list(u.shape),
        start=start,
        splits={name: idx for name, idx in splits_idx.items()},
    )
    extra = dict(
        solver=f"imported: fine trajectories {label}, burst-sampled by solvers.ingest",
    )
    if source["length"] is None and not args.length:
        print(f"note: {label} states no domain length; using length 1.0 (--length sets it)")
    return data, splits, field_names, extra


def ingest_macro(args) -> tuple[dict, dict, list[str], dict]:
    """``--macro/--bursts``: validated burst-sampled data."""
    from solvers.burst import burst_starts

    macro, m_label = read_array(args.macro, "macro frames")
    bursts, b_label = read_array(args.bursts, "bursts")
    ndim = _check_rank(macro, m_label, "(traj, T+1, *space, fields)", 1, args.ndim)
    _check_rank(bursts, b_label, "(traj, n_bursts, k+1, *space, fields)", 2)
    if bursts.ndim != macro.ndim + 1:
        raise IngestError(
            f"{b_label} has shape {bursts.shape} and {m_label} {macro.shape}: bursts need one "
            "axis more than the macro frames, (traj, n_bursts, k+1, *space, fields)"
        )
    grid = _check_grid(macro.shape[2 : 2 + ndim], m_label)
    if bursts.shape[0] != macro.shape[0] or bursts.shape[3:] != macro.shape[2:]:
        raise IngestError(
            f"{b_label} {bursts.shape} does not fit {m_label} {macro.shape}: the trajectory axis "
            "and the (*space, fields) axes must agree"
        )
    _check_learning_grid(grid, m_label, None)
    n_macro, k = macro.shape[1] - 1, bursts.shape[2] - 1
    if args.k and int(args.k) != k:
        raise IngestError(
            f"{b_label} has bursts of {k + 1} frames, i.e. k={k}, but --k is {args.k}; drop --k "
            "(it is read from the bursts) or fix the arrays"
        )
    if k < 1 or n_macro < 1:
        raise IngestError(
            f"{m_label} has {n_macro + 1} macro frames and {b_label} bursts of {k + 1} frames; "
            "need at least 2 of each"
        )
    if not args.N:
        raise IngestError("--macro/--bursts need --N, the burst period in macro steps")
    N = int(args.N)
    schedule = burst_starts(n_macro, N)
    if args.burst_start:
        given, s_label = read_array(args.burst_start, "burst start indices")
        given = np.asarray(given).ravel()
        if given.shape != schedule.shape or not np.array_equal(given, schedule):
            raise IngestError(
                f"bursts do not line up: {s_label} starts them at macro indices "
                f"{given.tolist()[:8]}, the burst schedule for T={n_macro}, N={N} is "
                f"{schedule.tolist()[:8]} (every N-th macro step from 0); re-cut the bursts to "
                "that schedule or pass the --N that matches them"
            )
    if bursts.shape[1] != len(schedule):
        raise IngestError(
            f"bursts do not line up: {b_label} has {bursts.shape[1]} bursts per trajectory, "
            f"the burst schedule for T={n_macro} macro steps and N={N} has {len(schedule)} (one "
            f"at every macro index 0, {N}, {2 * N}, ... < {n_macro}); pass the --N they were "
            "recorded with, or re-cut them"
        )
    check_finite(macro, m_label, lambda index: f"macro frame {index[0]}")
    check_finite(bursts, b_label, lambda index: f"burst {index[0]} frame {index[1]}", axes=2)
    scale = max(float(np.max(np.abs(macro))), np.finfo(np.float32).tiny)
    first = np.abs(bursts[:, :, 0] - macro[:, schedule])
    last = np.abs(bursts[:, :, -1] - macro[:, schedule + 1])
    tolerance = float(args.tolerance)
    for which, diff, offset in (("first", first, 0), ("last", last, 1)):
        if diff.max() > tolerance * scale:
            per = diff.reshape(diff.shape[:2] + (-1,)).max(axis=-1)
            traj, b = (int(i) for i in np.unravel_index(np.argmax(per), per.shape))
            raise IngestError(
                f"bursts do not line up: the {which} frame of burst {b} of trajectory {traj} in "
                f"{b_label} differs from macro frame {int(schedule[b]) + offset} of {m_label} by "
                f"{per[traj, b]:.3g} (> tolerance {tolerance:g} x max|macro| = "
                f"{tolerance * scale:.3g}); a burst must start at a macro frame and end at the "
                "next one: re-cut the bursts, or loosen --tolerance if the difference is noise"
            )
    max_end_difference = float(max(first.max(), last.max()))
    dt = args.dt
    if args.times:
        times, t_label = read_array(args.times, "macro times")
        if np.asarray(times).size != n_macro + 1:
            raise IngestError(
                f"{t_label} has {np.asarray(times).size} times, {m_label} {n_macro + 1} macro "
                "frames; give one time per macro frame"
            )
        macro_dt = _check_uniform(times, t_label, None if dt is None else k * dt, "macro frames")
        dt = macro_dt / k if dt is None else dt
    if dt is None:
        raise IngestError(
            f"{m_label}: give the micro spacing δt with --dt (or the macro times with --times)"
        )
    if args.burst_times:
        b_times, bt_label = read_array(args.burst_times, "burst times")
        b_times = np.asarray(b_times, np.float64)
        t0 = float(np.ravel(read_array(args.times, "macro times")[0])[0]) if args.times else 0.0
        wanted = t0 + (schedule[:, None] * k + np.arange(k + 1)[None, :]) * dt
        if b_times.shape != wanted.shape or not np.allclose(
            b_times, wanted, rtol=0, atol=1e-6 * k * dt
        ):
            raise IngestError(
                f"{bt_label}: burst times {np.asarray(b_times).ravel()[:4].tolist()}... are not "
                f"the schedule t_j + i·δt (expected {wanted.ravel()[:4].tolist()}..., shape "
                f"{wanted.shape}); bursts must be k+1 frames at spacing δt={dt:g} starting at "
                "their macro frame"
            )
    splits_idx = _splits_of(args, macro.shape[0], m_label)
    field_names = _field_names(
        args.field_names.split(",") if args.field_names else None, macro.shape[-1], m_label
    )
    dtype = "float64" if macro.dtype == np.float64 else "float32"
    data = _common_data(
        args,
        ndim=ndim,
        length=args.length or 1.0,
        grid=grid,
        solver_grid=grid,
        dt=dt,
        k=k,
        N=N,
        n_macro=n_macro,
        splits=splits_idx,
        dtype=dtype,
    )
    splits = {}
    for name, idx in splits_idx.items():
        m = np.asarray(macro[idx])
        b = np.array(bursts[idx])
        b[:, :, 0] = m[:, schedule]  # exact ends: the schema's bit-for-bit promise
        b[:, :, -1] = m[:, schedule + 1]
        splits[name] = (m, b)
    data["source"] = dict(
        mode="macro",
        arrays=[os.path.basename(m_label), os.path.basename(b_label)],
        sha256=_digest(np.asarray(macro)) + _digest(np.asarray(bursts)),
        tolerance=tolerance,
        splits={name: idx for name, idx in splits_idx.items()},
    )
    extra = dict(
        solver=f"imported: burst-sampled data {m_label}, {b_label} (solvers.ingest)",
        max_burst_end_difference=max_end_difference,
    )
    if not args.length:
        print("note: no --length given; the domain length is taken as 1.0")
    return data, splits, field_names, extra


# ----------------------------------------------------------------------------- reading back


def stored_data_config(path: str) -> dict[str, Any]:
    """The data section a dataset file was made from (``data_config`` attribute), integers
    restored, ``path`` set to ``path``. Raises ``IngestError`` naming the fix."""
    if not os.path.exists(path):
        raise IngestError(
            f"dataset {path} does not exist; import your data into it with python -m "
            "solvers.ingest ... --out " + path + " (docs/own-data.md)"
        )
    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get("data_config")
    except OSError as error:
        raise IngestError(
            f"{path} is not a readable HDF5 file ({error}); re-import it with python -m "
            "solvers.ingest (docs/own-data.md)"
        ) from error
    if text is None:
        raise IngestError(
            f"{path} is not a pimrl-jax dataset (no data_config attribute); import it with "
            "python -m solvers.ingest --fine/--macro ... --out <new file> (docs/own-data.md)"
        )
    data = json.loads(_decode(text))
    for key in INT_FIELDS:
        if key in data:
            data[key] = int(data[key])
    data["path"] = str(path)
    return data


def describe(path: str) -> str:
    """Verify ``path`` fully against its own data section and say what it holds."""
    from solvers import closure, dataset

    data = stored_data_config(path)
    attrs = dataset.verify(path, data, exp="custom")
    loaded = dataset.load(path, data, exp="custom")
    lines = [
        f"{path} is a valid dataset (schema {attrs['schema_version']}, config hash "
        f"{attrs['config_hash']}, every array verified against its checksum)",
        f"  system {attrs['system']} ({attrs['ndim']}D), fields "
        f"{', '.join(loaded['attrs']['field_names'])}, grid {attrs['grid']}, length "
        f"{attrs['length']:g}, dt {attrs['dt']:g}, k {attrs['k']}, N {attrs['N']}, "
        f"macro dt {attrs['macro_dt']:g}, T {attrs['n_macro']} macro steps, "
        f"{attrs['n_bursts']} bursts",
        "  "
        + ", ".join(f"{name} {loaded[name]['macro'].shape[0]} traj" for name in dataset.SPLITS),
    ]
    if loaded["closure"] is not None:
        lines.append(
            "  " + closure.one_line(loaded["closure"]) + f" [{loaded['closure']['split']}]"
        )
    else:
        lines.append("  no closure report (the PDE was not named at import)")
    if attrs.get("ingest_command"):
        lines.append(f"  made by: {attrs['ingest_command']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m solvers.ingest",
        description="Import your own trajectories into a pimrl-jax dataset file "
        "(docs/own-data.md).",
    )
    mode = p.add_argument_group("input (one of)")
    mode.add_argument("--fine", help="fine trajectories (traj, time, *space, fields): FILE[:NAME]")
    mode.add_argument("--macro", help="macro frames (traj, T+1, *space, fields): FILE[:NAME]")
    mode.add_argument("--bursts", help="bursts (traj, n_bursts, k+1, *space, fields)")
    mode.add_argument("--check", metavar="FILE", help="verify a dataset file and describe it")
    p.add_argument("--out", help="the dataset file to write, e.g. data/mine.h5")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    time_ = p.add_argument_group("time")
    time_.add_argument("--dt", type=float, help="micro spacing δt (default: from the times)")
    time_.add_argument("--k", type=int, help="micro steps per macro step (Δt = k·δt)")
    time_.add_argument("--N", type=int, help="burst period in macro steps (one burst per cycle)")
    time_.add_argument("--n_macro", type=int, help="--fine: horizon T in macro steps (default max)")
    time_.add_argument("--start", type=int, default=0, help="--fine: first fine frame used")
    time_.add_argument("--times", help="times of the frames (fine or macro): FILE[:NAME]")
    time_.add_argument("--burst_times", help="--macro: times of the burst frames")
    time_.add_argument("--burst_start", help="--macro: macro index of each burst")
    time_.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="--macro: max |burst end - macro frame| / max|macro| (default %(default)g)",
    )
    space = p.add_argument_group("space and fields")
    space.add_argument("--ndim", type=int, help="number of spatial axes (checks the rank)")
    space.add_argument("--grid", type=int, help="--fine: Fourier-downsample to this grid")
    space.add_argument("--length", type=float, help="domain length (default: file, else 1)")
    space.add_argument("--fields", help="Well layout: the fields to import, e.g. A,B")
    space.add_argument("--field_names", help="names of the fields (last axis), e.g. u,v")
    space.add_argument(
        "--allow_nonperiodic", action="store_true", help="import a non-periodic Well file anyway"
    )
    split = p.add_argument_group("splits (by trajectory)")
    split.add_argument("--split", default="0.6,0.2,0.2", help="fractions train,val,test")
    split.add_argument("--train", help="trajectory indices, e.g. 0,1,2 (with --val, --test)")
    split.add_argument("--val", help="trajectory indices of the validation split")
    split.add_argument("--test", help="trajectory indices of the test split")
    split.add_argument("--exclude", help="trajectory indices to leave out")
    split.add_argument("--seed", type=int, default=0, help="seed of the split permutation")
    physics = p.add_argument_group("physics (optional: only if the PDE is known)")
    physics.add_argument("--system", help="the PDE, one of solvers.systems.SYSTEMS")
    physics.add_argument("--coefficients", help="its coefficients, e.g. d_u=2e-5,d_v=5e-6")
    physics.add_argument("--substeps", type=int, default=1, help="solver steps per δt (closure)")
    physics.add_argument(
        "--micro_integrator", default="euler", choices=("euler", "rk4"), help="micro integrator"
    )
    p.add_argument("--no_closure", action="store_true", help="skip the closure report")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args, argv: Sequence[str] | None = None) -> str:
    """Import as ``args`` say; returns a summary. Raises ``IngestError`` for bad input."""
    from solvers import closure, dataset

    if args.check:
        return describe(args.check)
    if bool(args.fine) == bool(args.macro or args.bursts):
        raise IngestError(
            "give either --fine FILE (finely sampled trajectories) or --macro FILE --bursts FILE "
            "(burst-sampled data), not both, not neither (or --check FILE)"
        )
    if args.macro and not args.bursts or args.bursts and not args.macro:
        raise IngestError("--macro and --bursts go together")
    if not args.out:
        raise IngestError("--out is required: the dataset file to write, e.g. data/mine.h5")
    if os.path.exists(args.out) and not args.force:
        raise IngestError(
            f"{args.out} exists; pass --force to overwrite it or choose another --out"
        )
    t0 = time.perf_counter()
    data, splits, field_names, extra = (ingest_fine if args.fine else ingest_macro)(args)
    lines = []
    report = None
    if data["system"] == CUSTOM_SYSTEM:
        lines.append(
            "closure report skipped: the PDE is unknown (name it with --system and "
            "--coefficients to compute it)"
        )
    elif args.no_closure:
        lines.append("closure report skipped (--no_closure)")
    else:
        t1 = time.perf_counter()
        # On the frames as stored (float32), as python -m solvers does.
        stored_val = np.asarray(splits["val"][0], np.float32)
        report = dict(closure.closure_report(data, stored_val), split="val")
        lines.append(f"{closure.one_line(report)} [val, {time.perf_counter() - t1:.1f} s]")
    command = "python -m solvers.ingest " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]) if a != "--force"
    )
    dataset.write(
        args.out,
        data,
        splits,
        field_names,
        closure=report,
        ingest_command=command,
        generation_seconds=time.perf_counter() - t0,
        **extra,
    )
    shapes = ", ".join(
        f"{name} macro {m.shape} bursts {b.shape}" for name, (m, b) in splits.items()
    )
    lines.insert(0, f"wrote {args.out}: {shapes}")
    lines.insert(
        1,
        "trajectories of the source by split: "
        + ", ".join(f"{name} {idx}" for name, idx in data["source"]["splits"].items()),
    )
    stem = os.path.splitext(os.path.basename(args.out))[0]
    lines.append(
        f"train on it: make train EXP=custom DATA={args.out} PROFILE=quick  (= python -m "
        f"pimrl_jax.main --config experiments/custom.py:{args.out}:quick --workdir "
        f"runs/custom-{stem}-quick/pimrl)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    from solvers import dataset

    try:
        print(run(args, argv))
    except (IngestError, dataset.DatasetError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
