"""The dataset file: round trip, refusal of missing/stale/damaged/other-schema files, atomic
writes, and the generator's NaN guard and skip-if-current behaviour."""

import os

import h5py
import numpy as np
import pytest
from ml_collections import ConfigDict

from experiments import kdv
from solvers import burst, dataset


def _data(tmp_path, **overrides):
    data = kdv.get_config("smoke").data
    data.path = str(tmp_path / "kdv-smoke.h5")
    data.update(overrides)
    return data


def _arrays(data, n_traj, seed=0):
    rng = np.random.default_rng(seed)
    g = (data.grid,) * data.ndim
    nb = burst.n_bursts(data.n_macro, data.N)
    macro = rng.standard_normal((n_traj, data.n_macro + 1, *g, 1))
    bursts = rng.standard_normal((n_traj, nb, data.k + 1, *g, 1))
    return macro, bursts


def _write(data):
    splits = {
        "train": _arrays(data, data.n_train, 0),
        "val": _arrays(data, data.n_val, 2),
        "test": _arrays(data, data.n_test, 1),
    }
    dataset.write(data.path, data, splits, ["u"])
    return splits


def test_round_trip(tmp_path):
    data = _data(tmp_path)
    splits = _write(data)
    loaded = dataset.load(data.path, data)
    for name, (macro, bursts) in splits.items():
        got = loaded[name]
        assert got["macro"].dtype == np.float32 and got["bursts"].dtype == np.float32
        np.testing.assert_array_equal(got["macro"], macro.astype(np.float32))
        np.testing.assert_array_equal(got["bursts"], bursts.astype(np.float32))
        np.testing.assert_array_equal(got["burst_start"], np.arange(0, data.n_macro, data.N))
        np.testing.assert_allclose(
            got["macro_times"], [j * data.k * data.dt for j in range(data.n_macro + 1)]
        )
    attrs = loaded["attrs"]
    assert attrs["system"] == "kdv" and attrs["field_names"] == ["u"]
    assert attrs["macro_dt"] == pytest.approx(data.k * data.dt)
    assert (attrs["k"], attrs["N"], attrs["grid"]) == (data.k, data.N, data.grid)
    assert attrs["schema_version"] == dataset.SCHEMA_VERSION
    assert attrs["config_hash"] == dataset.config_hash(data)
    # Nothing but the file itself is left in the directory (no temporary file).
    assert os.listdir(tmp_path) == ["kdv-smoke.h5"]


def test_config_hash_is_stable_and_ignores_path():
    a = ConfigDict(dict(system="fn", dt=1, coefficients=dict(d_u=1.0, d_v=100.0), path="x.h5"))
    b = ConfigDict(dict(path="y.h5", coefficients=dict(d_v=100.0, d_u=1.0), dt=1.0, system="fn"))
    assert dataset.config_hash(a) == dataset.config_hash(b)
    b.dt = 0.5
    assert dataset.config_hash(a) != dataset.config_hash(b)
    b.dt, b.coefficients.d_v = 1.0, 99.0
    assert dataset.config_hash(a) != dataset.config_hash(b)


def test_missing_file_names_the_make_command(tmp_path):
    data = _data(tmp_path)
    with pytest.raises(dataset.DatasetError, match="make data EXP=kdv PROFILE=smoke"):
        dataset.load(data.path, data)


def test_stale_file_is_refused(tmp_path):
    data = _data(tmp_path)
    _write(data)
    changed = _data(tmp_path, dt=data.dt / 2)
    with pytest.raises(dataset.DatasetError, match="stale.*make data EXP=kdv PROFILE=smoke"):
        dataset.load(data.path, changed)
    assert isinstance(dataset.DatasetError("x"), RuntimeError)


def test_truncated_file_is_refused(tmp_path):
    data = _data(tmp_path)
    _write(data)
    size = os.path.getsize(data.path)
    with open(data.path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(dataset.DatasetError, match="damaged.*make data EXP=kdv PROFILE=smoke"):
        dataset.load(data.path, data)


def test_corrupted_array_is_refused(tmp_path):
    data = _data(tmp_path)
    _write(data)
    with h5py.File(data.path, "r") as f:
        offset = f["test/bursts"].id.get_offset()
    with open(data.path, "r+b") as handle:  # flip bytes inside the stored array
        handle.seek(offset + 16)
        handle.write(b"\xff\xff\xff\xff")
    with pytest.raises(dataset.DatasetError, match="test/bursts fails its checksum"):
        dataset.load(data.path, data)


def test_wrong_schema_version_is_refused(tmp_path):
    data = _data(tmp_path)
    _write(data)
    with h5py.File(data.path, "r+") as f:
        f.attrs["schema_version"] = dataset.SCHEMA_VERSION + 1
    with pytest.raises(dataset.DatasetError, match="schema version .*make data EXP=kdv"):
        dataset.load(data.path, data)


def test_failed_write_leaves_nothing(tmp_path):
    data = _data(tmp_path)
    macro, bursts = _arrays(data, 2)
    bad = {"train": (macro, bursts), "val": (macro, bursts), "test": (macro[:, :-1], bursts)}
    with pytest.raises(ValueError, match="do not match the data config"):
        dataset.write(data.path, data, bad, ["u"])
    assert os.listdir(tmp_path) == []


def test_make_command_from_path():
    assert dataset.make_command("data/gs3d-quick.h5") == "make data EXP=gs3d PROFILE=quick"
    assert dataset.make_command("x.h5", "fn", "paper") == "make data EXP=fn PROFILE=paper"


# ----------------------------------------------------------------------------- generation


def _config(exp, tmp_path):
    import importlib

    config = importlib.import_module(f"experiments.{exp}").get_config("smoke")
    config.data.path = str(tmp_path / f"{exp}-smoke.h5")
    return config


def test_nan_data_is_refused_before_writing(tmp_path, monkeypatch):
    pytest.importorskip("solvers.systems")
    from solvers.__main__ import make_data

    config = _config("fn", tmp_path)
    data = config.data

    def poisoned(data_):
        def rollout(u0):
            b = u0.shape[0]
            g = (data.grid,) * data.ndim
            macro = np.zeros((b, data.n_macro + 1, *g, 2))
            bursts = np.zeros((b, burst.n_bursts(data.n_macro, data.N), data.k + 1, *g, 2))
            macro[1, 3:] = np.nan  # trajectory 1, from macro frame 3: t = 3·k·dt
            return macro, bursts

        return rollout

    monkeypatch.setattr(burst, "make_rollout", poisoned)
    # A NumPy fake cannot run under shard_map: generate on one device, as a plain host does.
    one_device = burst.jax.local_devices()[:1]
    monkeypatch.setattr(burst.jax, "local_devices", lambda: one_device)
    t_bad = 3 * data.k * data.dt
    pattern = rf"fn .*train trajectory 1: .*t = {t_bad:g}"
    with pytest.raises(burst.NonFiniteDataError, match=pattern):
        make_data(config, progress=False)
    assert os.listdir(tmp_path) == []


def test_make_data_writes_then_skips_a_current_file(tmp_path, monkeypatch):
    pytest.importorskip("solvers.systems")
    from solvers.__main__ import make_data

    config = _config("gs2d", tmp_path)
    make_data(config, progress=False)
    loaded = dataset.load(config.data.path, config.data)
    data = config.data
    macro, bursts = loaded["train"]["macro"], loaded["train"]["bursts"]
    assert macro.shape == (data.n_train, data.n_macro + 1, data.grid, data.grid, 2)
    starts = loaded["train"]["burst_start"]
    np.testing.assert_array_equal(bursts[:, :, 0], macro[:, starts])
    np.testing.assert_array_equal(bursts[:, :, -1], macro[:, starts + 1])
    assert not np.array_equal(loaded["train"]["macro"][0], loaded["test"]["macro"][0])

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a current file")

    monkeypatch.setattr(burst, "generate_split", must_not_run)
    make_data(config, progress=False)  # current: returns without generating
    config.data.n_test = 3  # stale now: must regenerate
    with pytest.raises(AssertionError, match="regenerated"):
        make_data(config, progress=False)


def test_written_file_has_normal_permissions(tmp_path):
    data = _data(tmp_path)
    _write(data)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(data.path).st_mode & 0o777 == 0o666 & ~umask


# ----------------------------------------------------------------------------- full verification


def _flip(path, array_path, offset=16):
    with h5py.File(path, "r") as f:
        start = f[array_path].id.get_offset()
    with open(path, "r+b") as handle:
        handle.seek(start + offset)
        old = handle.read(4)
        handle.seek(start + offset)
        handle.write(bytes(b ^ 0xFF for b in old))


def test_verify_reads_every_array_where_check_reads_none(tmp_path):
    data = _data(tmp_path)
    _write(data)
    assert dataset.verify(data.path, data)["config_hash"] == dataset.config_hash(data)
    _flip(data.path, "train/macro")
    dataset.check(data.path, data)  # the cheap check only reads attributes: it passes
    with pytest.raises(dataset.DatasetError, match=r"train/macro fails its checksum.*make data"):
        dataset.verify(data.path, data)


def test_verify_refuses_a_missing_attribute_and_a_wrong_shape(tmp_path):
    data = _data(tmp_path)
    _write(data)
    with h5py.File(data.path, "r+") as f:
        del f.attrs["field_names"]
    with pytest.raises(dataset.DatasetError, match=r"missing root attributes \['field_names'\]"):
        dataset.verify(data.path, data)
    _write(data)
    with h5py.File(data.path, "r+") as f:  # one trajectory fewer, with a matching checksum
        macro = f["test/macro"][:-1]
        del f["test/macro"]
        f["test"].create_dataset("macro", data=macro)
        f["test"].attrs["sha256_macro"] = dataset._digest(macro)
    with pytest.raises(dataset.DatasetError, match=r"test/macro is float32\[1, 9, 32, 1\], exp"):
        dataset.verify(data.path, data)


def test_make_command_names_the_overrides_it_needs(tmp_path):
    data = kdv.get_config("smoke").data
    assert (
        dataset.make_command(data.path, "kdv", "smoke", data) == "make data EXP=kdv PROFILE=smoke"
    )
    data.path = str(tmp_path / "my data.h5")
    data.n_train = 3
    command = dataset.make_command(data.path, "kdv", "smoke", data)
    assert command == (
        "python -m solvers --config experiments/kdv.py:smoke --config.data.n_train=3 "
        f"'--config.data.path={tmp_path}/my data.h5'"
    )


@pytest.mark.parametrize("damage", ["flip", "truncate", "stale"])
def test_make_data_regenerates_a_damaged_or_stale_file(tmp_path, monkeypatch, capsys, damage):
    from solvers.__main__ import make_data

    config = _config("kdv", tmp_path)
    data = config.data
    _write(data)
    if damage == "flip":
        _flip(data.path, "test/bursts")
        why = "damaged (test/bursts fails its checksum)"
    elif damage == "truncate":
        with open(data.path, "r+b") as handle:
            handle.truncate(os.path.getsize(data.path) - 100)
        why = "damaged"
    else:
        with h5py.File(data.path, "r+") as f:
            f.attrs["config_hash"] = "0123456789abcdef"
        why = "stale"

    class Regenerated(Exception):
        pass

    def generate(*args, **kwargs):
        raise Regenerated

    monkeypatch.setattr(burst, "generate_split", generate)
    with pytest.raises(Regenerated):
        make_data(config, progress=False)
    assert f"regenerating {data.path}: dataset {data.path} is {why}" in capsys.readouterr().out


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    data = _data(tmp_path)
    dead = tmp_path / "kdv-smoke.h5.pid999999999.x1.tmp"  # above any pid_max: no such process
    live = tmp_path / f"kdv-smoke.h5.pid{os.getpid()}.x2.tmp"
    other = tmp_path / "other.h5.pid999999999.x3.tmp"
    for path in (dead, live, other):
        path.write_bytes(b"partial")
    _write(data)
    assert sorted(os.listdir(tmp_path)) == sorted(["kdv-smoke.h5", live.name, other.name])


# ----------------------------------------------------------------------------- fault injection


def _solvers_command(path):
    import sys

    return [
        sys.executable,
        "-m",
        "solvers",
        "--config",
        "experiments/kdv.py:smoke",
        f"--config.data.path={path}",
    ]


def _arrays_of(path):
    with h5py.File(path, "r") as f:
        return {f"{s}/{k}": f[s][k][...] for s in dataset.SPLITS for k in dataset.ARRAYS}


def test_generation_killed_at_random_moments_leaves_no_bad_file(tmp_path):
    """SIGKILL `python -m solvers` at 6 random moments and the instant its temporary file appears
    (retried until one kill lands in the write): the dataset path then holds nothing or the
    complete, correct file, never a file that passes the reader's check with other contents; the
    next run makes the correct file and removes the killed runs' temporaries."""
    import random
    import signal
    import subprocess
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = kdv.get_config("smoke").data
    reference_path = tmp_path / "reference" / "kdv-smoke.h5"
    t0 = time.perf_counter()
    subprocess.run(_solvers_command(reference_path), cwd=root, check=True, capture_output=True)
    full = time.perf_counter() - t0
    data.path = str(reference_path)
    dataset.verify(str(reference_path), data)
    reference = _arrays_of(reference_path)

    directory = tmp_path / "killed"
    directory.mkdir()
    path = directory / "kdv-smoke.h5"
    data.path = str(path)
    rng = random.Random(9)
    moments = [rng.uniform(0.05, full) for _ in range(6)] + ["at the temporary file"] * 3
    in_write = 0  # kills that landed while the file was being written
    for moment in moments:
        if moment == "at the temporary file" and in_write:
            break
        proc = subprocess.Popen(
            _solvers_command(path), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if moment == "at the temporary file":
            deadline = time.time() + 120
            while proc.poll() is None and time.time() < deadline:
                if any(name.endswith(".tmp") for name in os.listdir(directory)):
                    break
                time.sleep(0.002)
        else:
            time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        in_write += any(name.endswith(".tmp") for name in os.listdir(directory))
        for name in os.listdir(directory):
            assert name == path.name or (
                name.startswith(path.name + ".pid") and name.endswith(".tmp")
            )
        if path.exists():
            try:
                dataset.verify(str(path), data)
            except dataset.DatasetError:
                continue  # refused: fine
            got = _arrays_of(path)  # passes the check: must be the complete, correct file
            assert got.keys() == reference.keys()
            for key, array in reference.items():
                np.testing.assert_array_equal(got[key], array)
            path.unlink()  # let the next kill land in a generation again

    assert in_write, "no kill landed while the file was being written"
    subprocess.run(_solvers_command(path), cwd=root, check=True, capture_output=True)
    dataset.verify(str(path), data)
    for key, array in _arrays_of(path).items():
        np.testing.assert_array_equal(array, reference[key])
    assert os.listdir(directory) == [path.name]
