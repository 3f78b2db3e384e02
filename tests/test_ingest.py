"""Bring your own data (solvers.ingest, experiments/custom.py): Gray–Scott smoke trajectories from
our own solver, written out as foreign files (.npy, a Well-style HDF5 file, already burst-sampled
arrays), import to the very dataset the solver path writes; every kind of bad input is refused
with a message naming the file, the array and the fix; a model trains on an imported file through
the same config and commands."""

import json
import os
import subprocess
import sys

import h5py
import jax
import numpy as np
import pytest

from experiments import gs2d
from solvers import burst, dataset, ingest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLIT_FLAGS = ["--train", "0,1", "--val", "2", "--test", "3,4"]  # the reference's order
GS = ["--system", "gray_scott", "--coefficients", "d_u=2e-5,d_v=5e-6,f=0.04,kappa=0.06"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The gs2d smoke dataset made by `python -m solvers` (a subprocess: its flags must not meet
    pimrl_jax.main's in one test process), and the same trajectories finely sampled: every micro
    frame (spacing δt) on the solver grid, float64."""
    root = tmp_path_factory.mktemp("ingest")
    config = gs2d.get_config("smoke")
    config.data.path = str(root / "gs2d-smoke.h5")
    made = subprocess.run(
        [
            sys.executable, "-m", "solvers", "--config=experiments/gs2d.py:smoke",
            f"--config.data.path={config.data.path}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    data = config.data.to_dict()
    # Same solver, same initial conditions (they depend on the seed only): save every micro
    # step on the solver grid (k=1, N=1: every macro step is one δt and a burst).
    fine_cfg = dict(data, k=1, N=1, n_macro=data["n_macro"] * data["k"], grid=data["solver_grid"])
    one_device = jax.local_devices()[:1]
    fine = np.concatenate(
        [
            # One device, as the subprocess above (several agree only to float round-off).
            burst.generate_split(
                fine_cfg, data[f"seed_{name}"], data[f"n_{name}"], False, devices=one_device
            )[0]
            for name in dataset.SPLITS
        ]
    )
    loaded = dataset.load(config.data.path, config.data)
    return dict(root=root, config=config, data=data, fine=fine, loaded=loaded)


def ingest_cli(*argv):
    """`python -m solvers.ingest ARGV` in-process: (exit status, stdout+stderr lines)."""
    args = ingest.parser().parse_args(list(argv))
    try:
        return 0, ingest.run(args, list(argv))
    except (ingest.IngestError, dataset.DatasetError) as error:
        return 1, f"error: {error}"


def assert_same_dataset(path, reference, *, exact=True):
    """The imported file holds the reference's arrays, split by split."""
    data = ingest.stored_data_config(path)
    dataset.verify(path, data)
    ours = dataset.load(path, data)
    for name in dataset.SPLITS:
        for key in dataset.ARRAYS:
            a, b = ours[name][key], reference["loaded"][name][key]
            assert a.dtype == b.dtype and a.shape == b.shape, (name, key, a.shape, b.shape)
            if exact:
                np.testing.assert_array_equal(a, b, err_msg=f"{name}/{key}")
            else:
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=f"{name}/{key}")
    for key in ("ndim", "grid", "dt", "k", "N", "n_macro", "n_bursts", "macro_dt", "length"):
        assert ours["attrs"][key] == reference["loaded"]["attrs"][key], key
    return ours


def test_fine_npy_round_trips_to_the_solver_dataset(reference, tmp_path):
    source = tmp_path / "fine.npy"
    np.save(source, reference["fine"])
    out = tmp_path / "imported.h5"
    status, text = ingest_cli(
        "--fine", str(source), "--dt", "1.0", "--k", "4", "--N", "2", "--grid", "16",
        "--length", "1.0", "--field_names", "u,v", "--substeps", "2", "--out", str(out),
        *SPLIT_FLAGS, *GS,
    )  # fmt: skip
    assert status == 0, text
    ours = assert_same_dataset(out, reference)
    assert ours["attrs"]["field_names"] == ["u", "v"]
    # The closure report runs for a named PDE and agrees with the solver path's.
    assert ours["closure"] is not None and "closure (euler)" in text
    np.testing.assert_allclose(
        ours["closure"]["r_oracle"], reference["loaded"]["closure"]["r_oracle"], rtol=1e-5
    )
    np.testing.assert_allclose(
        ours["closure"]["r_state"], reference["loaded"]["closure"]["r_state"], rtol=1e-3
    )


def write_well(path, fine, *, dt=1.0, fields=("u", "v"), bc="PERIODIC", dtype=np.float32):
    """`fine (traj, time, x, y, C)` in The Well's layout (docs/data_format.md of the_well)."""
    n = fine.shape[2]
    with h5py.File(path, "w") as f:
        f.attrs["dataset_name"] = "gray_scott_smoke"
        f.attrs["grid_type"] = "cartesian"
        f.attrs["n_spatial_dims"] = 2
        f.attrs["n_trajectories"] = fine.shape[0]
        f.attrs["simulation_parameters"] = ["f", "kappa"]
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims.create_dataset("time", data=np.arange(fine.shape[1], dtype=np.float32) * dt)
        for axis in ("x", "y"):
            dims.create_dataset(axis, data=np.arange(n, dtype=np.float32) / n)
        bcs = f.create_group("boundary_conditions")
        for axis in ("x", "y"):
            group = bcs.create_group(f"{axis}_periodic")
            group.attrs["associated_dims"] = [axis]
            group.attrs["bc_type"] = bc
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = list(fields)
        for c, name in enumerate(fields):
            dset = t0.create_dataset(name, data=fine[..., c].astype(dtype))
            dset.attrs["dim_varying"] = [True, True]
            dset.attrs["sample_varying"] = True
            dset.attrs["time_varying"] = True
        f.create_group("t1_fields").attrs["field_names"] = []
        f.create_group("t2_fields").attrs["field_names"] = []


def test_well_file_round_trips_to_the_solver_dataset(reference, tmp_path):
    """The Well stores float32: the import equals the solver's file to float32 rounding, with δt,
    length and field names read from the file."""
    source = tmp_path / "gray_scott.hdf5"
    write_well(source, reference["fine"])
    out = tmp_path / "imported.h5"
    status, text = ingest_cli(
        "--fine", str(source), "--fields", "u,v", "--k", "4", "--N", "2", "--grid", "16",
        "--out", str(out), *SPLIT_FLAGS,
    )  # fmt: skip
    assert status == 0, text
    assert "closure report skipped: the PDE is unknown" in text
    ours = assert_same_dataset(out, reference, exact=False)
    assert ours["attrs"]["field_names"] == ["u", "v"] and ours["attrs"]["system"] == "custom"
    assert ours["closure"] is None
    # float64 Well-style data: bit for bit.
    write_well(source, reference["fine"], dtype=np.float64)
    status, text = ingest_cli(
        "--fine", str(source), "--k", "4", "--N", "2", "--grid", "16", "--force",
        "--out", str(out), *SPLIT_FLAGS,
    )  # fmt: skip
    assert status == 0, text
    assert_same_dataset(out, reference)


def burst_arrays(reference):
    """The reference's macro frames and bursts of all splits, concatenated (train, val, test)."""
    loaded = reference["loaded"]
    macro = np.concatenate([loaded[name]["macro"] for name in dataset.SPLITS])
    bursts = np.concatenate([loaded[name]["bursts"] for name in dataset.SPLITS])
    return macro, bursts


def test_burst_sampled_arrays_round_trip(reference, tmp_path):
    macro, bursts = burst_arrays(reference)
    np.savez(tmp_path / "obs.npz", macro=macro, bursts=bursts, t=np.arange(9) * 4.0)
    out = tmp_path / "imported.h5"
    status, text = ingest_cli(
        "--macro", f"{tmp_path}/obs.npz:macro", "--bursts", f"{tmp_path}/obs.npz:bursts",
        "--times", f"{tmp_path}/obs.npz:t", "--N", "2", "--out", str(out), *SPLIT_FLAGS,
    )  # fmt: skip
    assert status == 0, text
    assert_same_dataset(out, reference)
    # --check verifies it and says what it holds.
    status, text = ingest_cli("--check", str(out))
    assert status == 0 and "is a valid dataset" in text and "k 4, N 2" in text, text


def test_split_by_fraction_is_seeded_and_disjoint():
    a = ingest.assign_splits(10, fractions=(0.6, 0.2, 0.2), seed=3)
    assert a == ingest.assign_splits(10, fractions=(0.6, 0.2, 0.2), seed=3)
    assert a != ingest.assign_splits(10, fractions=(0.6, 0.2, 0.2), seed=4)
    assert [len(a[n]) for n in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(a["train"] + a["val"] + a["test"]) == list(range(10))
    b = ingest.assign_splits(10, seed=3, exclude=[0, 9])
    assert 0 not in sum(b.values(), []) and 9 not in sum(b.values(), [])
    with pytest.raises(ingest.IngestError, match="at least one each"):
        ingest.assign_splits(2)
    with pytest.raises(ingest.IngestError, match="trajectory 1 is in --val and --train"):
        ingest.assign_splits(4, explicit=dict(train=[0, 1], val=[1], test=[2]))


# ---------------------------------------------------------------------------------------------
# Bad input: each case names the file, the array and the fix.


def fine_case(reference, tmp_path, case):
    """(argv, expected message parts) of one bad --fine input."""
    fine = reference["fine"].astype(np.float32)
    path = str(tmp_path / "fine.npy")
    base = ["--dt", "1", "--k", "4", "--N", "2", "--out", str(tmp_path / "o.h5"), *SPLIT_FLAGS]
    if case == "rank":
        np.save(path, fine[0])  # one trajectory without its trajectory axis
        return ["--fine", path, "--ndim", "2", *base], [path, "rank 4", "u[None]"]
    if case == "nan":
        fine[3, 17, 5, 5, 1] = np.nan
        np.save(path, fine)
        return ["--fine", path, *base], [
            path,
            "NaN at trajectory 3",
            "time index 17",
            "--exclude 3",
        ]
    if case == "times":
        np.save(path, fine)
        times = np.arange(fine.shape[1], dtype=np.float64)
        times[10] += 0.3
        np.save(tmp_path / "t.npy", times)
        argv = ["--fine", path, "--times", str(tmp_path / "t.npy"), *base[2:]]
        return argv, [str(tmp_path / "t.npy"), "not uniformly spaced", "step 9"]
    if case == "odd grid":
        np.save(path, fine[:, :, :15, :15])
        return ["--fine", path, *base], [
            path,
            "learning grid 15 cannot be halved",
            "--grid 14 or --grid 12",
        ]
    if case == "odd --grid":
        np.save(path, fine)
        return ["--fine", path, "--grid", "15", *base], [path, "cannot be halved", "--grid"]
    if case == "not square":
        np.save(path, fine[:, :, :, :16])
        return ["--fine", path, *base], [path, "(32, 16)", "crop or resample"]
    if case == "missing field":
        write_well(tmp_path / "w.hdf5", reference["fine"])
        argv = ["--fine", str(tmp_path / "w.hdf5"), "--fields", "u,w", *base[2:]]
        return argv, [str(tmp_path / "w.hdf5"), "no field 'w'", "u, v", "--fields"]
    if case == "nonperiodic":
        write_well(tmp_path / "w.hdf5", reference["fine"], bc="WALL")
        argv = ["--fine", str(tmp_path / "w.hdf5"), *base[2:]]
        return argv, [str(tmp_path / "w.hdf5"), "'wall'", "--allow_nonperiodic"]
    if case == "npz name":
        np.savez(tmp_path / "f.npz", a=fine, b=fine)
        argv = ["--fine", f"{tmp_path}/f.npz:c", *base]
        return argv, [f"{tmp_path}/f.npz", "no array 'c'", "['a', 'b']"]
    if case == "horizon":
        np.save(path, fine)
        return ["--fine", path, "--n_macro", "9", *base], [path, "33 frames", "--n_macro 8"]
    raise KeyError(case)


FINE_CASES = (
    "rank",
    "nan",
    "times",
    "odd grid",
    "odd --grid",
    "not square",
    "missing field",
    "nonperiodic",
    "npz name",
    "horizon",
)


@pytest.mark.parametrize("case", FINE_CASES)
def test_bad_fine_input_is_refused_by_name(reference, tmp_path, case):
    argv, parts = fine_case(reference, tmp_path, case)
    status, text = ingest_cli(*argv)
    assert status == 1, text
    for part in parts:
        assert part in text, (part, text)
    assert not os.path.exists(tmp_path / "o.h5")


def macro_case(reference, tmp_path, case):
    macro, bursts = burst_arrays(reference)
    m, b = str(tmp_path / "m.npy"), str(tmp_path / "b.npy")
    extra = []
    if case == "misaligned":
        bursts = bursts.copy()
        bursts[1, 2] = np.concatenate([bursts[1, 2, 1:], bursts[1, 2, -1:]])  # shifted one δt
        parts = [b, m, "bursts do not line up", "burst 2 of trajectory 1", "macro frame 4"]
    elif case == "count":
        bursts = bursts[:, :3]
        parts = [b, "bursts do not line up", "has 3 bursts", "has 4", "--N"]
    elif case == "schedule":
        np.save(tmp_path / "s.npy", np.array([0, 3, 4, 6]))
        extra = ["--burst_start", str(tmp_path / "s.npy")]
        parts = [str(tmp_path / "s.npy"), "bursts do not line up", "[0, 2, 4, 6]"]
    elif case == "nan":
        bursts = bursts.copy()
        bursts[4, 3, 2] = np.inf
        parts = [b, "Inf at trajectory 4", "burst 3 frame 2"]
    elif case == "k":
        extra = ["--k", "5"]
        parts = [b, "k=4", "--k is 5"]
    elif case == "burst times":
        wrong = (np.arange(4)[:, None] * 8 + np.arange(5)[None, :]).astype(float)  # N·k spacing ok
        wrong[2, 1] += 0.5
        np.save(tmp_path / "bt.npy", wrong)
        extra = ["--burst_times", str(tmp_path / "bt.npy")]
        parts = [str(tmp_path / "bt.npy"), "t_j + i·δt"]
    else:
        raise KeyError(case)
    np.save(m, macro)
    np.save(b, bursts)
    argv = ["--macro", m, "--bursts", b, "--dt", "1", "--N", "2", *extra]
    return [*argv, "--out", str(tmp_path / "o.h5"), *SPLIT_FLAGS], parts


@pytest.mark.parametrize("case", ("misaligned", "count", "schedule", "nan", "k", "burst times"))
def test_bad_burst_sampled_input_is_refused_by_name(reference, tmp_path, case):
    argv, parts = macro_case(reference, tmp_path, case)
    status, text = ingest_cli(*argv)
    assert status == 1, text
    for part in parts:
        assert part in text, (part, text)
    assert not os.path.exists(tmp_path / "o.h5")


def test_the_command_line_says_error_in_one_line(reference, tmp_path):
    argv, parts = fine_case(reference, tmp_path, "nan")
    result = subprocess.run(
        [sys.executable, "-m", "solvers.ingest", *argv], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and parts[1] in lines[0], lines


# ---------------------------------------------------------------------------------------------
# Training on an imported file


@pytest.fixture(scope="module")
def imported(reference):
    path = reference["root"] / "well-import.h5"
    write_well(reference["root"] / "well.hdf5", reference["fine"])
    status, text = ingest_cli(
        "--fine", str(reference["root"] / "well.hdf5"), "--k", "4", "--N", "2", "--grid", "16",
        "--out", str(path), *SPLIT_FLAGS,
    )  # fmt: skip
    assert status == 0, text
    return path


def test_custom_config_reads_the_file(imported):
    from experiments import custom

    config = custom.get_config(f"{imported}:smoke")
    assert config.data.path == str(imported) and config.profile == "smoke"
    assert (config.data.grid, config.data.k, config.data.N, config.data.dt) == (16, 4, 2, 1.0)
    assert tuple(config.model.micro.known_terms) == ()
    assert config.train.window == 2 and config.data.n_macro == 8
    # The hash of the data section read back is the file's: load accepts it as current.
    dataset.verify(config.data.path, config.data, exp="custom", profile="smoke")
    assert custom.get_config(str(imported)).profile == "quick"
    # Overriding a data field is refused as stale, naming the import command and the cause.
    config.data.k = 2
    with pytest.raises(dataset.DatasetError) as error:
        dataset.load(config.data.path, config.data, exp="custom", profile="smoke")
    assert "python -m solvers.ingest --fine" in str(error.value)
    assert "drop any --config.data.* override" in str(error.value)
    with pytest.raises(ingest.IngestError, match="does not exist; import your data"):
        custom.get_config("nowhere.h5")


def test_a_smoke_training_on_an_imported_file_lowers_the_loss(imported, tmp_path):
    """The command `make train EXP=custom DATA=<file> PROFILE=smoke` runs, end to end (a longer
    stage 2 at a smaller step than smoke's, so the loss has room to fall)."""
    workdir = tmp_path / "pimrl"
    result = subprocess.run(
        [
            sys.executable, "-m", "pimrl_jax.main",
            f"--config=experiments/custom.py:{imported}:smoke",
            f"--workdir={workdir}", "--noprogress", "--config.train.steps=30",
            "--config.train.lr=0.003", "--config.train.log_every=1",
            "--config.eval.diagnostics=False",  # tested in tests/test_evaluate.py
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test set: RMSE" in result.stdout
    records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    losses = [r["loss"] for r in records if r["stage"] in (2, "macro")]
    assert len(losses) >= 10 and np.all(np.isfinite(losses)), records
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:3]), losses
    stored = json.load(open(workdir / "config.json"))
    assert stored["data.system"] == "custom" and stored["data.source.mode"] == "fine"


def test_oracle_needs_a_named_pde(imported):
    from experiments import custom
    from pimrl_jax.models.registry import build_model

    config = custom.get_config(f"{imported}:smoke")
    config.model.name = "oracle"
    with pytest.raises(ValueError, match="oracle needs the PDE"):
        build_model(config)
    config.model.name = "persistence"
    model = build_model(config)
    u = np.ones((1, 16, 16, 2), np.float32)
    assert model.rollout({}, u, 3).shape == (1, 3, 16, 16, 2)


def test_the_readme_example_imports_as_written(tmp_path, monkeypatch):
    """The README's "Your own data" block: its data script and its import command, run as
    written (in a scratch directory; the training it ends with is what the test above runs)."""
    import re
    import shlex

    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0].replace("\\\n", " ")
    script = re.search(r'python -c "(.*?)"\n', block, flags=re.S).group(1)
    command = next(line for line in block.splitlines() if "-m solvers.ingest" in line)
    monkeypatch.chdir(tmp_path)
    os.makedirs("data")
    exec(compile(script, "README.md:Your own data", "exec"), {"__name__": "readme"})
    status, text = ingest_cli(*shlex.split(command.split("-m solvers.ingest", 1)[1]))
    assert status == 0, text
    assert "train [0, 2, 3, 4, 5, 7, 9, 11], val [6, 10], test [1, 8]" in text
    from experiments import custom

    config = custom.get_config("data/heat.h5:smoke")
    assert (config.data.grid, config.data.k, config.data.n_macro) == (16, 5, 16)


def test_float32_times_and_hdf5_group_paths(tmp_path):
    """Well files store times as float32: 0.01·j rounded is still uniform, and δt reads as 0.01;
    an array inside an HDF5 group is named FILE:group/name."""
    times = (np.arange(801) * 0.01).astype(np.float32)
    assert ingest._check_uniform(times, "t", None, "frames") == 0.01
    assert ingest._check_uniform(times, "t", 0.01, "frames") == 0.01
    with h5py.File(tmp_path / "sim.h5", "w") as f:
        f.create_dataset("run/u", data=np.zeros((2, 3, 4, 1), np.float32))
        f.create_dataset("run/t", data=times[:3])
    u, label = ingest.read_array(f"{tmp_path}/sim.h5:run/u", "fine trajectories")
    assert u.shape == (2, 3, 4, 1) and label.endswith("sim.h5:run/u")
    with pytest.raises(ingest.IngestError, match=r"sim.h5 holds the arrays \['run/t', 'run/u'\]"):
        ingest.read_array(f"{tmp_path}/sim.h5", "fine trajectories")
