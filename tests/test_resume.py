"""The CLI end to end: a run killed with SIGKILL and restarted with the same command ends with
parameters bitwise equal to an uninterrupted run's; a changed config is refused by name; a
missing dataset, an unknown model and an unknown profile give their promised messages."""

import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from synthetic_data import write_synthetic

from experiments.kdv import get_config
from pimrl_jax import train as train_lib
from pimrl_jax.checkpoint import Checkpoints
from pimrl_jax.models.registry import build_model
from solvers import dataset as dataset_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Stage 1: global steps 1-6, stage 2: 7-12; checkpoints at 4, 6 (end of stage 1), 8, 12.
TRAIN = dict(micro_steps=6, steps=6, window=2, batch_size=2, checkpoint_every=4, log_every=1)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "kdv-smoke.h5"
    config = get_config("smoke")
    config.data.path = str(path)
    return write_synthetic(config, str(path))


def command(workdir, data_path, *extra):
    args = [
        sys.executable,
        "-m",
        "pimrl_jax.main",
        "--config",
        "experiments/kdv.py:smoke",
        "--workdir",
        str(workdir),
        f"--config.data.path={data_path}",
        "--noevaluate",
        "--noprogress",
    ]
    args += [f"--config.train.{k}={v}" for k, v in TRAIN.items()]
    return args + list(extra)


def run(args, **kwargs):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, **kwargs)


def final_params(workdir, data_path):
    config = get_config("smoke")
    config.data.path = str(data_path)
    config.train.update(TRAIN)
    dataset = dataset_lib.load(str(data_path), config.data)
    params, step = train_lib.restore_params(config, build_model(config), dataset, workdir)
    return params, step


def kill_after_first_checkpoint(args, workdir) -> int:
    """Start `args`, SIGKILL it once `workdir/checkpoints` holds a finished checkpoint, and
    return the latest finished step (the last one if the run ended first)."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    ckpt_dir = pathlib.Path(workdir) / "checkpoints"
    while time.time() < deadline and proc.poll() is None:
        if ckpt_dir.exists() and any(p.name.isdigit() for p in ckpt_dir.iterdir()):
            break
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted = Checkpoints(ckpt_dir)
    stopped_at = interrupted.latest_step()
    interrupted.close()
    assert stopped_at is not None
    return stopped_at


def losses(workdir):
    lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return [(r["stage"], r["step"], r["loss"]) for r in map(json.loads, lines)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_path):
    """The workdir of an uninterrupted run of `command`."""
    workdir = tmp_path_factory.mktemp("straight") / "run"
    result = run(command(workdir, data_path))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def assert_same_params_and_log(workdir, reference, data_path):
    p_reference, s1 = final_params(reference, data_path)
    p_run, s2 = final_params(workdir, data_path)
    assert s1 == s2 == 12
    leaves_a, tree_a = jax.tree.flatten(p_reference)
    leaves_b, tree_b = jax.tree.flatten(p_run)
    assert tree_a == tree_b
    for a, b in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bitwise, not allclose
    # The log reads as one uninterrupted run with the same losses.
    assert losses(workdir) == losses(reference)


def test_killed_and_restarted_run_is_bitwise_equal_to_an_uninterrupted_one(
    tmp_path, data_path, straight
):

    # Kill a second run with SIGKILL as soon as its first checkpoint is finished (mid stage 1
    # or while stage 2 compiles), then rerun the same command. Steps take milliseconds, so on a
    # stalled machine the kill can land after the last checkpoint: then kill a fresh run.
    for attempt in range(3):
        killed_dir = tmp_path / f"killed{attempt}"
        stopped_at = kill_after_first_checkpoint(command(killed_dir, data_path), killed_dir)
        if stopped_at < 12:
            break
    assert stopped_at < 12, "every run finished before it could be killed"

    resumed = run(command(killed_dir, data_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from the checkpoint at step {stopped_at}" in resumed.stdout

    assert_same_params_and_log(killed_dir, straight, data_path)
    # Where it was trained is recorded once, though two invocations trained its steps.
    ckpts = Checkpoints(killed_dir / "checkpoints")
    machines = ckpts.restore_meta(12)["machines"]
    ckpts.close()
    assert len(machines) == 1 and f"jax {jax.__version__}" in machines[0]

    # Resuming with a different config is refused, naming the field.
    changed = run(command(killed_dir, data_path, "--config.train.lr=0.5"))
    assert changed.returncode == 1
    assert "train.lr" in changed.stderr and "--allow_config_change" in changed.stderr


def test_a_run_resumes_with_rematerialisation_switched(tmp_path, data_path, straight):
    """`model.remat` changes a step's time and memory, not its loss or gradients: a run resumed
    from step 8 with it switched is accepted and ends where the uninterrupted run does, up to
    float32 round-off."""
    workdir = tmp_path / "run"
    shutil.copytree(straight, workdir)
    shutil.rmtree(workdir / "checkpoints" / "12")
    remat = bool(get_config("smoke").model.remat)
    resumed = run(command(workdir, data_path, f"--config.model.remat={not remat}"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from the checkpoint at step 8" in resumed.stdout
    (p_reference, _), (p_run, step) = (final_params(w, data_path) for w in (straight, workdir))
    assert step == 12
    for a, b in zip(jax.tree.leaves(p_reference), jax.tree.leaves(p_run), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)


def _data_files(step_dir):
    """Every OCDBT data file of a checkpoint step: the process's own (`ocdbt.process_0/d`) and,
    where orbax has merged them after writing, the top-level `d` — which of them holds the live
    array data varies from run to run, so damage goes to all of them."""
    return sorted(p for p in (step_dir / "state").glob("**/d/*") if p.is_file())


@pytest.mark.parametrize("damage", ["flipped bytes", "truncated file", "missing items"])
def test_damaged_checkpoints_are_set_aside_and_the_run_resumes_bitwise(
    tmp_path, data_path, straight, damage
):
    """Checkpoints of the finished run: 6, 8, 12. Damage the newest (and for missing items the
    one before too): evaluation refuses, naming the intact steps; training reports each damaged
    one with its step and path, moves it to checkpoints.damaged/, resumes from the newest
    intact one and ends bitwise equal to the uninterrupted run."""
    workdir = tmp_path / "run"
    shutil.copytree(straight, workdir)
    ckpt_dir = workdir / "checkpoints"
    if damage == "flipped bytes":  # what orbax restores silently as other numbers
        for path in _data_files(ckpt_dir / "12"):
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                handle.seek(size // 2)
                old = handle.read(32)
                handle.seek(size // 2)
                handle.write(bytes(b ^ 0x5A for b in old))
        damaged, resumed, intact = [12], 8, "steps 6, 8"
    elif damage == "truncated file":
        # Every data file: OCDBT may leave superseded, unreferenced nodes in a file of its own,
        # so truncating one chosen file (say the biggest) can miss the data entirely.
        for path in _data_files(ckpt_dir / "12"):
            os.truncate(path, path.stat().st_size // 2)
        damaged, resumed, intact = [12], 8, "steps 6, 8"
    else:
        shutil.rmtree(ckpt_dir / "12" / "state")
        shutil.rmtree(ckpt_dir / "8" / "meta")
        damaged, resumed, intact = [12, 8], 6, "step 6"

    evaluated = run(command(workdir, data_path, "--mode=eval"))
    assert evaluated.returncode == 1
    assert f"error: the checkpoint at step 12 ({ckpt_dir / '12'}) is damaged" in evaluated.stderr
    assert f"Refusing to evaluate it (intact checkpoints: {intact})" in evaluated.stderr
    assert "Traceback" not in evaluated.stderr and "Event loop is closed" not in evaluated.stderr
    assert (ckpt_dir / "12").exists()  # evaluation moves nothing

    resumed_run = run(command(workdir, data_path))
    assert resumed_run.returncode == 0, resumed_run.stderr[-3000:]
    for step in damaged:
        assert f"the checkpoint at step {step} ({ckpt_dir / str(step)}) is damaged" in (
            resumed_run.stderr
        )
        assert (workdir / "checkpoints.damaged" / str(step) / "state").exists() or damage == (
            "missing items"
        )
        assert (workdir / "checkpoints.damaged" / str(step)).is_dir()
    assert f"resumed from the checkpoint at step {resumed}" in resumed_run.stdout
    assert "Traceback" not in resumed_run.stderr
    assert_same_params_and_log(workdir, straight, data_path)


def test_missing_dataset_names_the_command_that_makes_it(tmp_path):
    """The data path is not the profile's, so `make data` would not help: the message names
    `python -m solvers` with that path, and running it makes the file the run reads."""
    path = tmp_path / "absent.h5"
    result = run(command(tmp_path / "run", path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    fix = result.stderr.strip().split("make it with: ")[1]
    assert fix == (f"python -m solvers --config experiments/kdv.py:smoke --config.data.path={path}")
    made = run([sys.executable, *shlex.split(fix)[1:]])
    assert made.returncode == 0, made.stderr[-2000:]
    config = get_config("smoke")
    config.data.path = str(path)
    dataset_lib.verify(str(path), config.data, exp="kdv", profile="smoke")


def test_unknown_model_lists_the_valid_ones(tmp_path, data_path):
    result = run(command(tmp_path / "run", data_path, "--config.model.name=transformer"))
    assert result.returncode == 1
    assert "pimrl, pimrl_nomp, percnn, convlstm, fno, crop" in result.stderr


def test_unknown_profile_lists_the_valid_ones(tmp_path):
    args = [
        sys.executable,
        "-m",
        "pimrl_jax.main",
        "--config",
        "experiments/kdv.py:huge",
        "--workdir",
        str(tmp_path / "run"),
    ]
    result = run(args)
    assert result.returncode != 0
    assert "smoke, quick, paper" in result.stderr
