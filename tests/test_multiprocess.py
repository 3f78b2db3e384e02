"""The multi-host path on one machine: `python -m pimrl_jax.launch` starts JAX processes that
join over loopback (127.0.0.1, a free port, gloo collectives), exactly as hosts of a cluster do.

* 2 processes × 4 CPU devices train, checkpoint and evaluate like 1 process × 8 devices: the same
  losses and final parameters to float tolerance, the same metrics, one checkpoint layout, and
  one writer (process 0) of metrics.jsonl, TensorBoard events, results.json and figures;
* a 2-process run killed with SIGKILL and restarted ends with the parameters of an uninterrupted
  2-process run, and a 2-process run is evaluated by a single process;
* a failing process's exit status comes back through the launcher.

Every run is a process group of its own, killed in a `finally`; every wait has a timeout. The
two reference runs are made once per session and shared by the xdist workers (under a file
lock), whichever worker gets there first.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from synthetic_data import write_synthetic

from experiments.gs2d import get_config
from pimrl_jax import launch, parallel
from pimrl_jax import train as train_lib
from pimrl_jax.checkpoint import Checkpoints
from pimrl_jax.models.registry import build_model
from solvers import dataset as dataset_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# gs2d smoke: 16², PIMRL, 4 micro + 4 macro steps; checkpoints at 4 (end of stage 1) and 8.
TRAIN = dict(batch_size=8, data_parallel=True, log_every=1, checkpoint_every=4)
STEPS = 8
TIMEOUT = 300  # seconds for one run of the processes (about 40 s on 2 busy cores)


@contextlib.contextmanager
def shared_dir(tmp_path_factory):
    """A directory every xdist worker of this session sees, held under an exclusive lock."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "multiprocess"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def data_path(tmp_path_factory):
    with shared_dir(tmp_path_factory) as root:
        path = root / "gs2d-smoke.h5"
        if not path.exists():
            config = get_config("smoke")
            config.data.path = str(path)
            write_synthetic(config, str(path) + ".tmp")
            os.replace(str(path) + ".tmp", path)
        return str(path)


def main_args(workdir, data_path, *extra):
    args = [
        "--config",
        "experiments/gs2d.py:smoke",
        "--workdir",
        str(workdir),
        f"--config.data.path={data_path}",
        "--noprogress",
        "--config.eval.diagnostics=False",  # not what this file tests (tests/test_evaluate.py)
    ]
    return args + [f"--config.train.{k}={v}" for k, v in TRAIN.items()] + list(extra)


def launch_args(processes, devices, args):
    return [
        sys.executable,
        "-m",
        "pimrl_jax.launch",
        f"--processes={processes}",
        f"--devices-per-process={devices}",
        f"--port={launch.free_port()}",
        "--grace=5",
        "--",
        *args,
    ]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and every process it started (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run(args, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def config_for(data_path):
    config = get_config("smoke")
    config.data.path = str(data_path)
    config.train.update(TRAIN)
    return config


def final_params(workdir, data_path):
    config = config_for(data_path)
    dataset = dataset_lib.load(str(data_path), config.data)
    return train_lib.restore_params(config, build_model(config), dataset, workdir)


def losses(workdir):
    lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return [(r["stage"], r["step"], r["loss"]) for r in map(json.loads, lines)]


def layout(checkpoint: pathlib.Path) -> set[str]:
    """The checkpoint's files, content-hashed names masked (their number varies with the
    writer's batching): which files exist, and whose."""
    names = {str(p.relative_to(checkpoint)) for p in checkpoint.rglob("*") if p.is_file()}
    return {re.sub(r"/d/[0-9a-f]+$", "/d/*", n) for n in names}


def assert_trees_close(actual, expected, rtol=1e-5):
    leaves_a, tree_a = jax.tree.flatten(actual)
    leaves_e, tree_e = jax.tree.flatten(expected)
    assert tree_a == tree_e
    for a, e in zip(leaves_a, leaves_e, strict=True):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        scale = max(float(np.max(np.abs(e))), 1e-30)
        assert float(np.max(np.abs(a - e))) <= rtol * scale


@pytest.fixture(scope="session")
def runs(tmp_path_factory, data_path):
    """The 2 × 4 and 1 × 8 runs of the same config, trained and evaluated: {name: (workdir,
    stdout)}. Made by the first worker that needs them, read back by the others."""
    with shared_dir(tmp_path_factory) as root:
        out = {}
        # The 1 × 8 run is not evaluated: a single process evaluating the 2 × 4 run's
        # checkpoint is compared with its own evaluation below (the same parameters).
        for name, processes, devices, extra in (
            ("two", 2, 4, ()),
            ("one", 1, 8, ("--noevaluate",)),
        ):
            workdir, stdout = root / name, root / f"{name}.stdout"
            if not stdout.exists():
                args = main_args(workdir, data_path, *extra)
                result = run(launch_args(processes, devices, args))
                assert result.returncode == 0, result.stderr[-4000:]
                stdout.write_text(result.stdout)
            out[name] = (workdir, stdout.read_text())
        return out


def test_two_processes_train_checkpoint_and_evaluate_like_one(runs, data_path):
    (two, two_out), (one, one_out) = runs["two"], runs["one"]
    assert "jax.distributed (JAX_COORDINATOR_ADDRESS): 2 processes, 8 devices" in two_out
    assert "jax.distributed" not in one_out and "on 8 cpu device(s)" in one_out

    # The same batches, split 2 × 4 or 1 × 8: the same losses and parameters (the order of the
    # cross-device sums differs, hence float tolerance and not bit equality).
    two_losses, one_losses = losses(two), losses(one)
    assert [s for _, s, _ in two_losses] == list(range(1, STEPS + 1))  # one line per step
    assert [(g, s) for g, s, _ in two_losses] == [(g, s) for g, s, _ in one_losses]
    np.testing.assert_allclose([x for *_, x in two_losses], [x for *_, x in one_losses], rtol=1e-5)
    (p_two, s_two), (p_one, s_one) = final_params(two, data_path), final_params(one, data_path)
    assert s_two == s_one == STEPS
    assert_trees_close(p_two, p_one)

    # Evaluation spread over both processes (one test trajectory each) and gathered; that it
    # gives the single process's numbers is test_two_process_run_is_evaluated_by_one_process.
    r_two = json.loads((two / "results.json").read_text())
    assert r_two["timings"]["processes"] == 2 and r_two["n_test"] == 2
    assert r_two["timings"]["trajectories_per_process"] == 1
    assert len(r_two["per_trajectory"]["rmse"]) == 2

    # One writer: one checkpoint per step with the single-process layout (process 0's data
    # files only), one event file, results and figures once; process 1 prints nothing.
    ckpts = Checkpoints(two / "checkpoints")
    assert ckpts.all_steps() == [4, 8]
    ckpts.close()
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["4", "8"]  # no tmp dirs
    for step in ("4", "8"):
        assert layout(two / "checkpoints" / step) == layout(one / "checkpoints" / step)
    assert len(list((two / "tensorboard").iterdir())) == 1
    assert sorted(p.name for p in (two / "figures").iterdir()) == ["curves.png", "snapshots.png"]
    assert two_out.count("training done") == 1
    assert two_out.count("test set: RMSE") == 1


def test_killed_two_process_run_resumes_to_the_uninterrupted_parameters(runs, data_path, tmp_path):
    straight = runs["two"][0]
    # SIGKILL the launcher and both processes once the first checkpoint (step 4, the end of the
    # micro stage) is finished: while the macro stage compiles. On a stalled machine the run
    # may finish first: then kill a fresh one.
    for attempt in range(3):
        workdir = tmp_path / f"killed{attempt}"
        args = launch_args(2, 4, main_args(workdir, data_path, "--noevaluate"))
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        ckpt_dir = workdir / "checkpoints"
        try:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                if ckpt_dir.exists() and any(p.name.isdigit() for p in ckpt_dir.iterdir()):
                    break
                time.sleep(0.02)
        finally:
            kill_group(proc)
        ckpts = Checkpoints(ckpt_dir)
        stopped_at = ckpts.latest_step()
        ckpts.close()
        assert stopped_at is not None, "no checkpoint before the timeout"
        if stopped_at < STEPS:
            break
    assert stopped_at < STEPS, "every run finished before it could be killed"

    resumed = run(launch_args(2, 4, main_args(workdir, data_path, "--noevaluate")))
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"resumed from the checkpoint at step {stopped_at}" in resumed.stdout

    (p_straight, s1), (p_resumed, s2) = (
        final_params(straight, data_path),
        final_params(workdir, data_path),
    )
    assert s1 == s2 == STEPS
    leaves_a, tree_a = jax.tree.flatten(p_straight)
    leaves_b, tree_b = jax.tree.flatten(p_resumed)
    assert tree_a == tree_b
    for a, b in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bitwise, as on 1 process
    assert losses(workdir) == losses(straight)


def test_two_process_run_is_evaluated_by_one_process(runs, data_path, tmp_path):
    two = runs["two"][0]
    workdir = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(two), str(workdir)], check=True, timeout=60)
    (workdir / "results.json").unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    result = subprocess.run(
        [sys.executable, "-m", "pimrl_jax.main", "--mode=eval", *main_args(workdir, data_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"evaluating the checkpoint at step {STEPS} of {STEPS}" in result.stdout
    r_two = json.loads((two / "results.json").read_text())
    r_one = json.loads((workdir / "results.json").read_text())
    assert r_one["timings"]["processes"] == 1 and r_one["n_test"] == 2
    for key in ("rmse", "mae", "hct"):
        np.testing.assert_allclose(r_one[key], r_two[key], rtol=1e-5)
    np.testing.assert_allclose(
        r_one["per_trajectory"]["rmse"], r_two["per_trajectory"]["rmse"], rtol=1e-5
    )


def test_launcher_returns_the_failing_status_and_the_message(tmp_path):
    result = run(launch_args(2, 1, main_args(tmp_path / "run", tmp_path / "absent.h5")))
    assert result.returncode == 1
    assert "absent.h5 does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_coordinator_launch_needs_the_process_count_and_id():
    env = {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"}
    with pytest.raises(parallel.DistributedSetupError, match="needs JAX_NUM_PROCESSES"):
        parallel.maybe_initialize_distributed(env)
    env["JAX_NUM_PROCESSES"] = "2"
    with pytest.raises(parallel.DistributedSetupError, match="JAX_PROCESS_ID"):
        parallel.maybe_initialize_distributed(env)
    with pytest.raises(parallel.DistributedSetupError, match=r"JAX_PROCESS_ID=2 is not in 0 … 1"):
        parallel.maybe_initialize_distributed({**env, "JAX_PROCESS_ID": "2"})
    assert jax.process_count() == 1  # nothing was started

    proc = launch.process_env(
        1, 2, 1234, 4, base={"XLA_FLAGS": "--xla_cpu_foo --xla_force_host_platform_device_count=8"}
    )
    assert proc["JAX_COORDINATOR_ADDRESS"] == "127.0.0.1:1234"
    assert (proc["JAX_NUM_PROCESSES"], proc["JAX_PROCESS_ID"]) == ("2", "1")
    assert (proc["JAX_PLATFORMS"], proc["JAX_NUM_CPU_DEVICES"]) == ("cpu", "4")
    assert proc["XLA_FLAGS"] == "--xla_cpu_foo"
    assert "JAX_COORDINATOR_ADDRESS" not in launch.process_env(0, 1, 1234, 8, base={})


def test_launcher_usage_errors_say_what_to_give(capsys):
    with pytest.raises(SystemExit):
        launch.main(["--processes", "2"])
    assert "after --" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        launch.main(["--processes", "0", "--", "--config", "x"])
    assert "--processes must be at least 1" in capsys.readouterr().err
