"""Every front door — `make train|eval|data|compare|results`, `python -m pimrl_jax.main`,
`python -m pimrl_jax.compare`, `python -m solvers` — answers a user's error with one line
`error: …` naming the fix, exit status 1 (make: 2, its own), and no Python traceback; `--debug`
brings the traceback back."""

import pathlib
import re
import shlex
import subprocess
import sys

import h5py
import pytest
from synthetic_data import write_synthetic

from experiments.common import EXPERIMENTS, PROFILES
from experiments.kdv import get_config
from solvers import dataset as dataset_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROFILE_LIST = ", ".join(PROFILES)
# The config files in experiments/: the five systems and custom (your own data, solvers.ingest).
ALL_EXPERIMENTS = (*EXPERIMENTS, "custom")


def run(args, **kwargs):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, **kwargs)


def py(module, *args):
    return run([sys.executable, "-m", module, *args])


def make(*args):
    """make with this interpreter, without (re)installing the venv."""
    return run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", f"PY={sys.executable}"]
        + list(args)
    )


def one_error_line(result, code=1):
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


CONFIG_ERRORS = [
    (
        ["--config", "experiments/kdv.py:bogus"],
        f"unknown profile 'bogus'; valid profiles: {PROFILE_LIST}",
    ),
    (
        ["--config", "experiments/nope.py:quick"],
        "config file experiments/nope.py (from --config experiments/nope.py:quick) does not "
        f"exist; the experiments in experiments/ are: {', '.join(sorted(ALL_EXPERIMENTS))}",
    ),
    (
        ["--config", "experiments/kdv.py:smoke", "--config.train.nope=3"],
        "--config.train.nope=3: train has no field 'nope'; its fields are: batch_size,",
    ),
    (
        ["--config", "experiments/kdv.py:smoke", "--config.train.steps=abc"],
        "flag --config.train.steps=abc: invalid literal for int() with base 10: 'abc'",
    ),
]


@pytest.mark.parametrize("args,expected", CONFIG_ERRORS, ids=["profile", "file", "field", "value"])
@pytest.mark.parametrize("module", ["solvers", "pimrl_jax.main", "pimrl_jax.compare"])
def test_config_errors_are_one_line(tmp_path, module, args, expected):
    extra = [] if module == "solvers" else ["--workdir", str(tmp_path / "run")]
    line = one_error_line(py(module, *args, *extra))
    assert expected in line


def test_debug_brings_the_traceback_back():
    result = py("solvers", "--config", "experiments/kdv.py:bogus", "--debug")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: unknown profile 'bogus'" in result.stderr


def test_bad_flag_values_and_models(tmp_path):
    base = ["--config", "experiments/kdv.py:smoke", "--workdir", str(tmp_path / "run")]
    line = one_error_line(py("pimrl_jax.main", *base, "--mode=foo"))
    assert line == "error: flag --mode=foo: value should be one of <train|eval> (see --helpshort)"
    line = one_error_line(py("pimrl_jax.main", *base, "--config.model.name=transformer"))
    assert line.startswith("error: unknown model 'transformer'; valid models: pimrl, ")
    line = one_error_line(py("pimrl_jax.compare", *base, "--models=pimrl,transformer"))
    assert line.startswith("error: unknown model(s) ['transformer']; valid models: pimrl, ")
    line = one_error_line(py("pimrl_jax.main", "--config", "experiments/kdv.py:smoke"))
    assert "--workdir must have a value" in line


@pytest.fixture
def damaged_data(tmp_path):
    config = get_config("smoke")
    path = tmp_path / "kdv-smoke.h5"
    config.data.path = str(path)
    write_synthetic(config, str(path))
    with h5py.File(path, "r") as f:
        offset = f["train/macro"].id.get_offset()
    with open(path, "r+b") as handle:
        handle.seek(offset + 64)
        handle.write(b"\x00\x01\x02\x03\x04\x05\x06\x07")
    return config, path


def test_damaged_dataset_names_a_command_that_remakes_it(tmp_path, damaged_data):
    """The circle of the issue: train refuses a damaged file naming a command, and that command
    (which used to answer 'up to date') regenerates it."""
    config, path = damaged_data
    args = ["--config", "experiments/kdv.py:smoke", f"--config.data.path={path}"]
    line = one_error_line(py("pimrl_jax.main", *args, "--workdir", str(tmp_path / "run")))
    fix = f"python -m solvers --config experiments/kdv.py:smoke --config.data.path={path}"
    assert line == (
        f"error: dataset {path} is damaged (train/macro fails its checksum); remake it with: {fix}"
    )
    made = run([sys.executable, *shlex.split(fix)[1:]])
    assert made.returncode == 0, made.stderr[-2000:]
    assert f"regenerating {path}: dataset {path} is damaged (train/macro fails" in made.stdout
    dataset_lib.verify(str(path), config.data, exp="kdv", profile="smoke")


def test_eval_without_a_checkpoint_says_train_first(tmp_path):
    config = get_config("smoke")
    path = tmp_path / "kdv-smoke.h5"
    config.data.path = str(path)
    write_synthetic(config, str(path))
    args = ["--config", "experiments/kdv.py:smoke", f"--config.data.path={path}"]
    workdir = tmp_path / "run"
    line = one_error_line(py("pimrl_jax.main", *args, "--workdir", str(workdir), "--mode=eval"))
    assert line == (
        f"error: no checkpoint in {workdir / 'checkpoints'}; train first (make train EXP=kdv "
        "PROFILE=smoke MODEL=pimrl)"
    )


def test_damaged_stored_config_names_the_fix(tmp_path):
    from pimrl_jax import train as train_lib

    (tmp_path / "config.json").write_text('{"train.lr": 0.0')
    with pytest.raises(train_lib.ConfigMismatchError, match=r"config.json, the stored config of"):
        train_lib.check_config(tmp_path, get_config("smoke"), False, resuming=True, write=False)


MAKE_ERRORS = [
    (["train", "EXP=kdv", "PROFILE=bogus"], f"valid profiles: {PROFILE_LIST}"),
    (["eval", "EXP=kdv", "PROFILE=bogus"], f"valid profiles: {PROFILE_LIST}"),
    (["data", "EXP=kdv", "PROFILE=bogus"], f"valid profiles: {PROFILE_LIST}"),
    (["compare", "EXP=kdv", "PROFILE=bogus"], f"valid profiles: {PROFILE_LIST}"),
    (["eval", "EXP=kdv", "PROFILE=smoke", "MODEL=transformer"], "valid models: pimrl, "),
]
if re.search(r"^results:", (ROOT / "Makefile").read_text(), re.MULTILINE):
    MAKE_ERRORS.append((["results", "EXP=kdv", "PROFILE=bogus"], f"valid profiles: {PROFILE_LIST}"))


@pytest.mark.parametrize(
    "args,expected", MAKE_ERRORS, ids=lambda x: x if isinstance(x, str) else "-".join(x)
)
def test_make_targets(args, expected):
    result = make(*args)
    assert result.returncode == 2  # make's own status when a recipe fails
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.stderr


def test_make_unknown_experiment():
    result = make("train", "EXP=bogus")
    assert result.returncode == 2
    assert f"unknown EXP 'bogus'; valid experiments: {' '.join(sorted(ALL_EXPERIMENTS))}" in (
        result.stderr
    )
