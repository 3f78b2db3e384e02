"""Sharded data generation and evaluation on the 8 host CPU devices of conftest: trajectories of
`python -m solvers` (`burst.generate_split`) and the test rollouts of `evaluate` split over the
devices under `shard_map` equal the single-device ones, and their compiled programs gather
nothing (while a plain `jit` of the same function on a batch-sharded input does — the control)."""

import importlib
import json

import jax
import numpy as np
import pytest
from synthetic_data import write_synthetic

from pimrl_jax import evaluate as evaluate_lib
from pimrl_jax import parallel
from pimrl_jax.models.registry import build_model
from solvers import burst
from solvers import dataset as dataset_lib


def _config(exp):
    return importlib.import_module(f"experiments.{exp}").get_config("smoke")


def test_eight_devices():
    assert len(jax.local_devices()) == 8  # conftest; the tests below need several devices


@pytest.mark.parametrize("exp", ["kdv"])  # 1D keeps it cheap; the code path is ndim-generic
def test_sharded_generation_equals_one_device_and_gathers_nothing(exp):
    data = _config(exp).data
    n_traj = 5  # five devices, no padding; seven with padding below
    one = burst.generate_split(data, 7, n_traj, progress=False, devices=jax.devices()[:1])
    many = burst.generate_split(data, 7, n_traj, progress=False)  # all 8 devices
    # Equal to float64 round-off: a device's vmapped batch (1 here, 3 and 2 on one device) may
    # change how XLA batches the FFTs (1e-12 relative seen for kdv).
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    # A call of 7 on 4 devices: padded to 8, the copy dropped.
    padded = burst.generate_split(data, 7, 7, progress=False, devices=jax.devices()[:4])
    assert padded[0].shape[0] == 7
    np.testing.assert_allclose(padded[0][:n_traj], one[0], rtol=1e-10, atol=1e-12)

    with burst._dtype_scope(data.dtype):
        rollout = burst.make_rollout(data)
        space = (int(data.solver_grid),) * int(data.ndim)
        u0 = np.ones((8, *space, 2 if exp == "gs2d" else 1), data.dtype)
        hlo = burst.shard_trajectories(rollout, jax.devices()).lower(u0).compile().as_text()
        assert "all-gather" not in hlo
        mesh = parallel.make_data_mesh()
        control = jax.jit(rollout, in_shardings=parallel.batch_sharded(mesh))
        assert "all-gather" in control.lower(u0).compile().as_text()


@pytest.fixture(scope="module")
def fno_setup(tmp_path_factory):
    """FNO (spectral: it would all-gather under a plain jit) on a synthetic gs2d smoke dataset
    with 5 test trajectories, random params."""
    config = _config("gs2d")
    path = tmp_path_factory.mktemp("data") / "gs2d-smoke.h5"
    config.data.path = str(path)
    config.data.n_test = 5
    config.model.name = "fno"
    config.model.fno.update(dict(modes=4, width=8, layers=2))
    config.eval.diagnostics = False
    write_synthetic(config, str(path))
    dataset = dataset_lib.load(str(path), config.data)
    model = build_model(config)
    sample = np.asarray(dataset["test"]["macro"][:1, 0], np.float32)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), sample)
    return config, model, params, dataset


def test_sharded_evaluation_equals_one_device(fno_setup, tmp_path):
    config, model, params, dataset = fno_setup
    out = {}
    for name, devices in (("one", jax.devices()[:1]), ("all", None)):
        evaluate_lib.evaluate(config, model, params, dataset, str(tmp_path / name), devices=devices)
        out[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert out["one"]["timings"]["devices"] == 1
    assert out["all"]["timings"]["devices"] == 5  # batch 8 → 5 trajectories, one per device
    for key in ("rmse", "mae", "hct"):
        np.testing.assert_allclose(out["all"][key], out["one"][key], rtol=1e-5)
    for key in ("rmse", "correlation"):
        a = np.asarray(out["all"]["curves"][key], np.float64)
        np.testing.assert_allclose(a, out["one"]["curves"][key], rtol=1e-5)
    np.testing.assert_allclose(
        out["all"]["per_trajectory"]["rmse"], out["one"]["per_trajectory"]["rmse"], rtol=1e-5
    )


def test_sharded_rollout_gathers_nothing(fno_setup):
    config, model, params, dataset = fno_setup
    u0 = np.asarray(dataset["test"]["macro"][:, 0], np.float32)
    u0 = np.concatenate([u0, u0[:3]])  # 8 trajectories
    n_steps = 3
    rollout, stats = evaluate_lib.sharded_rollout(model, n_steps, jax.devices())
    assert "all-gather" not in rollout.lower(params, u0).compile().as_text()
    pred = rollout(params, u0)
    truth = np.zeros_like(np.asarray(pred))
    assert "all-gather" not in stats.lower(pred, truth).compile().as_text()
    # The rows stay where they were computed: one trajectory per device.
    assert len({s.device for s in pred.addressable_shards}) == 8
    mesh = parallel.make_data_mesh()
    control = jax.jit(
        lambda p, u: model.rollout(p, u, n_steps),
        in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)),
    )
    assert "all-gather" in control.lower(params, u0).compile().as_text()
