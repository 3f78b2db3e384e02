"""The dataset file: HDF5 schema, atomic writer, checking reader, content hash of the data config.

One file per experiment and profile (``data/<exp>-<profile>.h5``)::

    /                     attributes: see ``ROOT_ATTRS`` (everything needed to interpret the data)
    /train, /val, /test   groups, one per split (each with its own seed), each with
        macro        (traj, T+1, *grid, C)         float32  u(t_j), t_j = j·Δt, j = 0..T
        bursts       (traj, n_bursts, k+1, *grid, C) float32  u(t_j + i·δt), i = 0..k, per burst
        burst_start  (n_bursts,)                    int64    macro index j of each burst
        macro_times  (T+1,)                         float64  t_j
      attributes: seed, n_traj
    /closure              optional: the closure report of one split (``solvers.closure``)
        r_state      (traj, S)   float64  r_state at the macro steps ``state_steps``
        r_oracle     (traj, T)   float64  r_oracle at every macro step
        state_steps  (S,)        int64
      attributes: split, integrator, summary (JSON: max/median, faithful)

The validation split is for every choice (training budgets, learning rates, the profiles
themselves); the test split is touched only by the final evaluation.

Fields are stored as float32, the precision the models train in: the solver runs in float64
(reference quality), and float32 rounding (relative 6e-8) is far below any model's error while
halving the file. The cast is elementwise, so a burst's first/last frame still equals its macro
frame bit for bit. Each array's SHA-256 is stored as an attribute, so a damaged file is refused.

Writing is atomic: a temporary file in the same directory, then ``os.replace``; an interrupted
generation leaves no file that looks valid. ``load`` refuses a missing, stale (config hash),
damaged or wrong-version file with a ``DatasetError`` naming the ``make data`` command.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

SCHEMA_VERSION = 2  # 2: a validation split and the closure report
SPLITS = ("train", "val", "test")
ARRAYS = ("macro", "bursts", "burst_start", "macro_times")
ROOT_ATTRS = (
    "schema_version",
    "config_hash",
    "system",
    "ndim",
    "coefficients",
    "length",
    "grid",
    "solver_grid",
    "dt",
    "substeps",
    "k",
    "N",
    "macro_dt",
    "n_macro",
    "n_bursts",
    "spinup",
    "seed_train",
    "seed_val",
    "seed_test",
    "n_train",
    "n_val",
    "n_test",
    "solver",
    "field_names",
    "micro_integrator",
    "generation_dtype",
    "stored_dtype",
    "data_config",
)
SOLVER = "solvers: Fourier pseudo-spectral in space, ETDRK4 in time (solvers.etdrk)"


class DatasetError(RuntimeError):
    """A dataset file is missing, stale, damaged or of another schema; the message says how to
    remake it."""


# ----------------------------------------------------------------------------- config hash


def _plain(value: Any) -> Any:
    """JSON-stable form: mappings sorted, sequences as lists, every number as a float."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)  # dt=1 and dt=1.0 are the same data
    raise TypeError(f"cannot hash config value {value!r} of type {type(value).__name__}")


def config_json(data: Mapping[str, Any]) -> str:
    """Canonical JSON of a data config section without ``path`` (where a file lives is not what
    it contains)."""
    plain = _plain(data)
    plain.pop("path", None)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"))


def config_hash(data: Mapping[str, Any]) -> str:
    """Stable content hash (16 hex digits of SHA-256) of the data config section, ``path``
    excluded."""
    return hashlib.sha256(config_json(data).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- the command


def _data_overrides(data: Mapping[str, Any], exp: str, profile: str) -> list[str] | None:
    """``--config.data.<field>=<value>`` for every field where ``data`` differs from the data
    section of ``experiments/<exp>.py:<profile>`` (``path`` included); None when that config
    cannot be built."""
    import importlib
    import shlex

    try:
        default = importlib.import_module(f"experiments.{exp}").get_config(profile).data
    except Exception:  # an unknown experiment: no overrides to name
        return None

    def flat(tree, prefix=""):
        tree = tree.to_dict() if hasattr(tree, "to_dict") else tree
        out = {}
        for key, value in tree.items():
            if isinstance(value, Mapping) or hasattr(value, "to_dict"):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    wanted, base = flat(data), flat(default)
    return [
        shlex.quote(f"--config.data.{key}={wanted[key]}")
        for key in sorted(wanted)
        if key not in base or _plain(wanted[key]) != _plain(base[key])
    ]


def make_command(
    path: str,
    exp: str | None = None,
    profile: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> str:
    """The command that (re)makes ``path``: ``make data EXP=<exp> PROFILE=<profile>``.

    ``exp``/``profile`` default to the parts of the file name ``<exp>-<profile>.h5``. With both
    given and the data config ``data`` too, a config that differs from the profile's (another
    ``path``, an overridden field) is named as ``python -m solvers --config
    experiments/<exp>.py:<profile> --config.data.<field>=<value> ...``: ``make data`` would
    make another file. An imported file (``python -m solvers.ingest``) is remade by the command
    stored in it (``ingest_command``).
    """
    imported = _imported_by(path)
    if imported is not None or exp == "custom":
        # An imported file (python -m solvers.ingest): no experiment makes it; its own command
        # does, and its data config is read from the file (experiments/custom.py).
        command = imported or f"python -m solvers.ingest --fine FILE ... --out {path}"
        return (
            f"{command} (docs/own-data.md; with EXP=custom the data config comes from the file, "
            "so drop any --config.data.* override)"
        )
    explicit = exp is not None and profile is not None
    if not explicit:
        stem = os.path.basename(path)
        stem = stem[: -len(".h5")] if stem.endswith(".h5") else stem
        guess_exp, _, guess_profile = stem.rpartition("-")
        exp = exp or guess_exp or None
        profile = profile or guess_profile or None
    if not exp or not profile:
        return "make data EXP=<exp> PROFILE=<profile>"
    overrides = _data_overrides(data, exp, profile) if explicit and data is not None else None
    if overrides:
        return f"python -m solvers --config experiments/{exp}.py:{profile} " + " ".join(overrides)
    return f"make data EXP={exp} PROFILE={profile}"


def _imported_by(path: str) -> str | None:
    """The ``ingest_command`` attribute of an imported file (``solvers.ingest``), else None."""
    try:
        with h5py.File(path, "r") as f:
            value = f.attrs.get("ingest_command")
    except (OSError, ValueError):
        return None
    return value.decode() if isinstance(value, bytes) else value


# ----------------------------------------------------------------------------- writing


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def root_attrs(data: Mapping[str, Any], field_names, **extra) -> dict[str, Any]:
    """Root attributes of the file for data config ``data`` (see ``ROOT_ATTRS``)."""
    from solvers.burst import n_bursts

    attrs = dict(
        schema_version=SCHEMA_VERSION,
        config_hash=config_hash(data),
        system=data["system"],
        ndim=int(data["ndim"]),
        coefficients=json.dumps(_plain(data["coefficients"]), sort_keys=True),
        length=float(data["length"]),
        grid=int(data["grid"]),
        solver_grid=int(data["solver_grid"]),
        dt=float(data["dt"]),
        substeps=int(data["substeps"]),
        k=int(data["k"]),
        N=int(data["N"]),
        macro_dt=float(data["k"] * data["dt"]),
        n_macro=int(data["n_macro"]),
        n_bursts=int(n_bursts(data["n_macro"], data["N"])),
        spinup=float(data["spinup"]),
        seed_train=int(data["seed_train"]),
        seed_val=int(data["seed_val"]),
        seed_test=int(data["seed_test"]),
        n_train=int(data["n_train"]),
        n_val=int(data["n_val"]),
        n_test=int(data["n_test"]),
        solver=SOLVER,
        field_names=json.dumps(list(field_names)),
        micro_integrator=str(data.get("micro_integrator", "euler")),
        generation_dtype=str(data["dtype"]),
        stored_dtype="float32",
        data_config=config_json(data),
    )
    attrs.update(extra)
    return attrs


def split_arrays(data: Mapping[str, Any], macro: np.ndarray, bursts: np.ndarray) -> dict:
    """The four arrays of one split group, checked against the data config's shapes."""
    from solvers.burst import burst_starts

    starts = burst_starts(data["n_macro"], data["N"])
    t, k = data["n_macro"], data["k"]
    space = (data["grid"],) * data["ndim"]
    if macro.shape[1:-1] != (t + 1, *space) or bursts.shape[1:-1] != (len(starts), k + 1, *space):
        raise ValueError(
            f"arrays do not match the data config: macro {macro.shape}, bursts {bursts.shape}; "
            f"expected (traj, {t + 1}, *{space}, C) and (traj, {len(starts)}, {k + 1}, *{space}, C)"
        )
    return dict(
        macro=np.asarray(macro, dtype=np.float32),
        bursts=np.asarray(bursts, dtype=np.float32),
        burst_start=starts,
        macro_times=np.arange(t + 1, dtype=np.float64) * (k * data["dt"]),
    )


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove the temporary files ``<name>.pid<N>.*.tmp`` that a killed writer of ``path`` left
    behind (process N no longer runs); a live writer's file is left alone. Returns the removed
    paths."""
    directory = os.path.dirname(os.path.abspath(path))
    head = os.path.basename(path) + ".pid"
    removed = []
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        if not (name.startswith(head) and name.endswith(".tmp")):
            continue
        pid = name[len(head) :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            os.remove(os.path.join(directory, name))
            removed.append(os.path.join(directory, name))
        except FileNotFoundError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


CLOSURE_ARRAYS = ("r_state", "r_oracle", "state_steps")


def write(
    path: str,
    data: Mapping[str, Any],
    splits: Mapping[str, tuple],
    field_names,
    *,
    closure: Mapping[str, Any] | None = None,
    **extra_attrs,
) -> None:
    """Write ``splits = {"train": (macro, bursts), "val": …, "test": …}`` and, if given, the
    closure report (``solvers.closure.closure_report`` plus ``"split"``) to ``path``, atomically
    (temporary file in the same directory, then ``os.replace``)."""
    if set(splits) != set(SPLITS):
        raise ValueError(f"need exactly the splits {SPLITS}, got {tuple(splits)}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(path)
    prefix = f"{os.path.basename(path)}.pid{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in root_attrs(data, field_names, **extra_attrs).items():
                f.attrs[key] = value
            for name in SPLITS:
                macro, bursts = splits[name]
                group = f.create_group(name)
                group.attrs["seed"] = int(data[f"seed_{name}"])
                group.attrs["n_traj"] = int(macro.shape[0])
                for key, array in split_arrays(data, macro, bursts).items():
                    group.create_dataset(key, data=array)
                    group.attrs[f"sha256_{key}"] = _digest(array)
            if closure is not None:
                _write_closure(f, closure)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the permissions of a normal new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_closure(f: h5py.File, report: Mapping[str, Any]) -> None:
    from solvers.closure import summarize

    group = f.create_group("closure")
    for key in CLOSURE_ARRAYS:
        array = np.asarray(report[key], np.int64 if key == "state_steps" else np.float64)
        group.create_dataset(key, data=array)
        group.attrs[f"sha256_{key}"] = _digest(array)
    group.attrs["split"] = str(report["split"])
    group.attrs["integrator"] = str(report["integrator"])
    group.attrs["summary"] = json.dumps(summarize(report), sort_keys=True)


def read_closure(f: h5py.File) -> dict[str, Any] | None:
    """The closure report stored in an open file (arrays checked against their SHA-256), or None
    if it has none. Raises ValueError on a checksum mismatch."""
    if "closure" not in f:
        return None
    group = f["closure"]
    report: dict[str, Any] = {}
    for key in CLOSURE_ARRAYS:
        array = group[key][...]
        if _attr(group.attrs.get(f"sha256_{key}")) != _digest(array):
            raise ValueError(f"closure/{key} fails its checksum")
        report[key] = array
    report["split"] = _attr(group.attrs["split"])
    report["integrator"] = _attr(group.attrs["integrator"])
    report["summary"] = json.loads(_attr(group.attrs["summary"]))
    return report


# ----------------------------------------------------------------------------- reading


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def check(
    path: str, data: Mapping[str, Any], *, exp: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Return the root attributes of ``path`` if it is a current file for ``data``; otherwise raise
    ``DatasetError`` (missing, unreadable, other schema, stale). Does not read the arrays."""
    remake = make_command(path, exp, profile, data)
    if not os.path.exists(path):
        raise DatasetError(f"dataset {path} does not exist; make it with: {remake}")
    try:
        with h5py.File(path, "r") as f:
            attrs = {key: _attr(value) for key, value in f.attrs.items()}
            groups = {name: set(f[name].keys()) if name in f else set() for name in SPLITS}
    except (OSError, KeyError, ValueError) as error:
        raise DatasetError(
            f"dataset {path} is damaged or not an HDF5 file ({error}); remake it with: {remake}"
        ) from error
    version = attrs.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(
            f"dataset {path} has schema version {version}, this code reads version "
            f"{SCHEMA_VERSION}; remake it with: {remake}"
        )
    missing = [f"{name}/{key}" for name in SPLITS for key in ARRAYS if key not in groups[name]]
    if missing:
        raise DatasetError(
            f"dataset {path} is damaged (missing {missing}); remake it with: {remake}"
        )
    expected = config_hash(data)
    if attrs.get("config_hash") != expected:
        raise DatasetError(
            f"dataset {path} is stale: it was made from another data config (hash "
            f"{attrs.get('config_hash')}, current config {expected}); remake it with: {remake}"
        )
    return attrs


def _expected_shapes(data: Mapping[str, Any], name: str, n_fields: int | None) -> dict:
    """Shapes of split ``name``'s arrays for data config ``data`` (None: any size there)."""
    from solvers.burst import n_bursts

    space = (int(data["grid"]),) * int(data["ndim"])
    n_traj = data.get(f"n_{name}")
    n_traj = None if n_traj is None else int(n_traj)
    t, k = int(data["n_macro"]), int(data["k"])
    nb = int(n_bursts(t, int(data["N"])))
    return dict(
        macro=(n_traj, t + 1, *space, n_fields),
        bursts=(n_traj, nb, k + 1, *space, n_fields),
        burst_start=(nb,),
        macro_times=(t + 1,),
    )


_DTYPES = dict(macro="float32", bursts="float32", burst_start="int64", macro_times="float64")


def verify(
    path: str, data: Mapping[str, Any], *, exp: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Check ``path`` fully and return its root attributes, or raise ``DatasetError`` saying what
    is wrong and naming the command that remakes it.

    Beyond ``check`` (exists, readable, schema version, groups, config hash) this reads every
    array of every split and checks that the root attributes are all present, that each array
    has the dtype and shape the data config implies, that ``burst_start`` is the burst schedule,
    and that each array's SHA-256 matches the one stored at writing. A file that passes is
    exactly what ``write`` wrote for this config.
    """
    from solvers.burst import burst_starts

    attrs = check(path, data, exp=exp, profile=profile)
    remake = make_command(path, exp, profile, data)

    def damaged(why: str) -> DatasetError:
        return DatasetError(f"dataset {path} is damaged ({why}); remake it with: {remake}")

    missing = [key for key in ROOT_ATTRS if key not in attrs]
    if missing:
        raise damaged(f"missing root attributes {missing}")
    try:
        n_fields = len(json.loads(attrs["field_names"]))
    except (TypeError, ValueError) as error:
        raise damaged(f"unreadable field_names: {error}") from error
    try:
        with h5py.File(path, "r") as f:
            for name in SPLITS:
                group = f[name]
                for key, shape in _expected_shapes(data, name, n_fields).items():
                    array = group[key][...]
                    wanted = tuple(
                        array.shape[i] if s is None and i < array.ndim else s
                        for i, s in enumerate(shape)
                    )
                    if array.dtype != _DTYPES[key] or array.shape != wanted:
                        raise damaged(
                            f"{name}/{key} is {array.dtype}{list(array.shape)}, expected "
                            f"{_DTYPES[key]}{list(wanted)}"
                        )
                    if _attr(group.attrs.get(f"sha256_{key}")) != _digest(array):
                        raise damaged(f"{name}/{key} fails its checksum")
                    if key == "burst_start" and not np.array_equal(
                        array, burst_starts(data["n_macro"], data["N"])
                    ):
                        raise damaged(f"{name}/burst_start is not the burst schedule")
            read_closure(f)
    except (OSError, KeyError, ValueError) as error:
        raise damaged(str(error)) from error
    return attrs


def load(
    path: str, data: Mapping[str, Any], *, exp: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Read a dataset made for data config ``data``.

    Returns ``{"train": {...}, "val": {...}, "test": {...}, "closure": {...} or None,
    "attrs": {...}}``; each split holds numpy arrays
    ``macro (traj, T+1, *grid, C)`` and ``bursts (traj, n_bursts, k+1, *grid, C)`` as float32,
    ``burst_start (n_bursts,)`` int64 and ``macro_times (T+1,)`` float64. ``attrs`` has the root
    attributes, with ``coefficients`` and ``field_names`` decoded from JSON. Raises
    ``DatasetError`` (naming ``make data EXP=.. PROFILE=..``) for a missing, stale, damaged or
    wrong-version file.
    """
    attrs = check(path, data, exp=exp, profile=profile)
    remake = make_command(path, exp, profile, data)
    out: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as f:
            for name in SPLITS:
                group = f[name]
                arrays = {key: group[key][...] for key in ARRAYS}
                for key, array in arrays.items():
                    if _attr(group.attrs.get(f"sha256_{key}")) != _digest(array):
                        raise DatasetError(
                            f"dataset {path} is damaged ({name}/{key} fails its checksum); "
                            f"remake it with: {remake}"
                        )
                out[name] = arrays
            out["closure"] = read_closure(f)
    except (OSError, KeyError, ValueError) as error:
        raise DatasetError(
            f"dataset {path} is damaged ({error}); remake it with: {remake}"
        ) from error
    attrs["coefficients"] = json.loads(attrs["coefficients"])
    attrs["field_names"] = json.loads(attrs["field_names"])
    out["attrs"] = attrs
    return out
