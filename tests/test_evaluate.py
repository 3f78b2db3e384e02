"""evaluate() on fake models over a tiny fake dataset, the figures, and compare's table/plot.

The fake dynamics is u_{t+1} = a · roll(u_t, 1 along x): the dataset is built with NumPy, the
fake models apply the same map in JAX, so a model with the true `a` reproduces the truth exactly
and one with another `a` has an error we can compute independently with NumPy.
"""

import dataclasses
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gs2d
from pimrl_jax import compare, evaluate

A_TRUE = 0.9
DT = 0.25


@dataclasses.dataclass(frozen=True)
class FakeModel:
    name: str
    rollout: object
    params_from: str = ""


def _dataset(n_test=3, n_steps=6, space=(8, 6), channels=2, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_test, *space, channels)).astype(np.float32)
    frames = [u]
    for _ in range(n_steps):
        frames.append((np.float32(A_TRUE) * np.roll(frames[-1], 1, axis=1)).astype(np.float32))
    macro = np.stack(frames, axis=1)
    return {"test": {"macro": macro, "macro_times": 10.0 + DT * np.arange(n_steps + 1)}}


def _map_rollout(params, u0, n_steps):
    def step(u, _):
        u = params["a"] * jnp.roll(u, 1, axis=1)
        return u, u

    _, frames = jax.lax.scan(step, u0, None, length=n_steps)
    return jnp.moveaxis(frames, 0, 1)


def _nan_after(step_j, u0_traj):
    """The true map, but the trajectory that starts at `u0_traj` is NaN from macro step
    `step_j` (frame j - 1) on."""

    def rollout(params, u0, n_steps):
        frames = _map_rollout(params, u0, n_steps)
        t = jnp.arange(n_steps).reshape((1, n_steps) + (1,) * (u0.ndim - 1))
        # Keyed on u0, not on the row's position: rows are independent (evaluate splits a batch
        # over the devices, and pads the last one).
        mine = jnp.all(u0 == u0_traj[None], axis=tuple(range(1, u0.ndim)))
        hit = mine.reshape((-1, 1) + (1,) * (u0.ndim - 1)) & (t >= step_j - 1)
        return jnp.where(hit, jnp.nan, frames)

    return rollout


def _config(batch_size=2):
    config = gs2d.get_config("smoke")
    config.eval.batch_size = batch_size
    return config


def _strict_json(path):
    def no_nan(name):
        raise AssertionError(f"{name} in {path}: not strict JSON")

    with open(path) as f:
        return json.load(f, parse_constant=no_nan)


def test_truth_model_scores_zero_error_and_full_horizon(tmp_path):
    data = _dataset()
    model = FakeModel("truth", _map_rollout)
    out = evaluate.evaluate(_config(), model, {"a": jnp.float32(A_TRUE)}, data, str(tmp_path))
    assert out["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert out["mae"] == pytest.approx(0.0, abs=1e-6)
    assert out["hct"] == pytest.approx(6 * DT)  # horizon: 6 predicted frames of 0.25
    assert out["diverged"] is False
    res = _strict_json(out["results_path"])
    assert res["hct_count"] == pytest.approx(6 * DT)
    assert len(res["curves"]["rmse"]) == 6
    np.testing.assert_allclose(res["curves"]["time"], DT * np.arange(1, 7))
    np.testing.assert_allclose(res["curves"]["correlation"], 1.0, atol=1e-5)
    assert res["timings"]["compile_s"] > 0 and res["timings"]["rollout_s_per_trajectory"] > 0
    assert res["timings"]["n_batches"] == 2  # 3 trajectories in batches of 2, last one padded
    assert res["config"]["experiment"] == "gs2d" and res["model"] == "truth"
    assert res["n_params"] == 1
    # The diagnostics reach results.json: one step a·roll(u) is a times a norm-preserving
    # permutation, so every power-iteration ratio, hence the spectral radius, is a = 0.9.
    radius = res["diagnostics"]["jacobian_radius"]
    np.testing.assert_allclose(radius["macro"]["per_state"], A_TRUE, rtol=1e-5)
    assert radius["micro"] is None  # no micro module
    assert res["diagnostics"]["left_data_range"]["step"] is None  # the truth stays in range
    for fig in out["figures"]:
        assert os.path.getsize(fig) > 10_000  # a rendered PNG, not an empty canvas


def test_wrong_model_matches_numpy_reference(tmp_path):
    data = _dataset(n_test=3)
    a = 0.8
    out = evaluate.evaluate(
        _config(), FakeModel("damped", _map_rollout), {"a": jnp.float32(a)}, data, str(tmp_path)
    )
    macro = data["test"]["macro"].astype(np.float64)
    pred = [macro[:, 0]]
    for _ in range(6):
        pred.append(a * np.roll(pred[-1], 1, axis=1))
    err = np.stack(pred[1:], 1) - macro[:, 1:]  # the initial condition is not scored
    assert out["rmse"] == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-5)
    assert out["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    res = _strict_json(out["results_path"])
    want_curve = np.sqrt(np.mean(err**2, axis=(0, 2, 3, 4)))
    np.testing.assert_allclose(res["curves"]["rmse"], want_curve, rtol=1e-5)
    # (0.8/0.9)^t scales the truth: the correlation stays exactly 1, so HCT is the horizon.
    assert out["hct"] == pytest.approx(6 * DT)


def test_nan_after_step_j_is_reported_as_divergence(tmp_path):
    data = _dataset(n_test=3)
    params = {"a": jnp.float32(A_TRUE)}
    out = evaluate.evaluate(
        _config(),
        FakeModel("fno", _nan_after(4, data["test"]["macro"][1, 0])),
        params,
        data,
        str(tmp_path / "fno"),
    )
    assert out["diverged"] is True and out["divergence_step"] == 4
    assert out["rmse"] is None and out["mae"] is None  # no finite-looking number
    res = _strict_json(out["results_path"])
    div = res["divergence"]
    assert div["time"] == pytest.approx(4 * DT) and div["reason"] == "non-finite"
    assert div["trajectories"] == [1] and div["per_trajectory_step"] == [None, 4, None]
    assert res["frames_before_divergence"] == 3
    assert res["rmse_before_divergence"] == pytest.approx(0.0, abs=1e-6)
    assert res["per_trajectory"]["hct"] == pytest.approx([6 * DT, 3 * DT, 6 * DT])
    assert out["hct"] == pytest.approx(5 * DT)
    assert res["curves"]["rmse"][:3] == pytest.approx([0.0] * 3, abs=1e-6)
    assert res["curves"]["rmse"][3:] == [None] * 3
    # Another model evaluated afterwards is unaffected.
    ok = evaluate.evaluate(
        _config(), FakeModel("truth", _map_rollout), params, data, str(tmp_path / "truth")
    )
    assert ok["diverged"] is False and ok["rmse"] == pytest.approx(0.0, abs=1e-6)


def test_first_prediction_nan_and_sanity_bound(tmp_path):
    data = _dataset(n_test=2, n_steps=4)
    out = evaluate.evaluate(
        _config(),
        FakeModel("nan", _nan_after(1, data["test"]["macro"][0, 0])),
        {"a": jnp.float32(A_TRUE)},
        data,
        str(tmp_path / "a"),
    )
    res = _strict_json(out["results_path"])
    assert out["divergence_step"] == 1 and res["rmse_before_divergence"] is None
    assert res["per_trajectory"]["hct"] == [0.0, 4 * DT]
    # Growth by 2e3 per step passes the bound 1e6 × max|data| at step 2 (4e6 > 1e6), not 1.
    config = _config()
    config.eval.divergence_factor = 1e6
    out = evaluate.evaluate(
        config,
        FakeModel("blowup", _map_rollout),
        {"a": jnp.float32(2e3)},
        data,
        str(tmp_path / "b"),
    )
    res = _strict_json(out["results_path"])
    assert out["diverged"] and out["divergence_step"] == 2
    assert res["divergence"]["reason"].startswith("max-abs above bound")


@pytest.mark.parametrize("space", [(16,), (6, 5, 4)])
def test_figures_for_1d_and_3d(tmp_path, space):
    data = _dataset(n_test=1, n_steps=5, space=space, channels=1)
    out = evaluate.evaluate(
        _config(), FakeModel("truth", _map_rollout), {"a": jnp.float32(0.7)}, data, str(tmp_path)
    )
    assert sorted(os.listdir(tmp_path / "figures")) == ["curves.png", "snapshots.png"]
    assert all(os.path.getsize(f) > 10_000 for f in out["figures"])


def _fake_results(workdir, model, rmse, hct, diverged_at=None, n_steps=6):
    rng = np.random.default_rng(len(model))
    curve = list(np.linspace(rmse / 2, rmse * 2, n_steps))
    corr = list(np.linspace(1.0, 0.7, n_steps))
    if diverged_at is not None:
        curve[diverged_at - 1 :] = [None] * (n_steps - diverged_at + 1)
        corr[diverged_at - 1 :] = [None] * (n_steps - diverged_at + 1)
    res = {
        "model": model,
        "n_params": int(rng.integers(100, 10_000)),
        "rmse": None if diverged_at else rmse,
        "mae": None if diverged_at else rmse / 2,
        "hct": hct,
        "hct_count": hct,
        "diverged": diverged_at is not None,
        "divergence": {"step": diverged_at, "time": None if diverged_at is None else diverged_at},
        "curves": {"time": list(np.arange(1.0, n_steps + 1)), "rmse": curve, "correlation": corr},
        "timings": {"rollout_s_per_trajectory": 0.01, "compile_s": 1.0},
        "train_time_s": 12.5,
    }
    os.makedirs(workdir / model, exist_ok=True)
    evaluate.write_json(str(workdir / model / "results.json"), res)


def test_compare_table_and_plot_from_fake_results(tmp_path):
    _fake_results(tmp_path, "pimrl", 0.0123, 5.0)
    _fake_results(tmp_path, "percnn", 0.0456, 3.0)
    _fake_results(tmp_path, "fno", 0.5, 2.0, diverged_at=3)
    results = compare.collect(str(tmp_path), ("pimrl", "percnn", "fno", "crop"))
    table = compare.write_report(str(tmp_path), results, title="gs2d smoke")
    text = (tmp_path / "comparison.md").read_text()
    assert text.strip().endswith(table.strip().splitlines()[-1])
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("|")}
    assert "0.0123" in rows["pimrl"] and "0.0456" in rows["percnn"]
    assert "diverged at step 3" in rows["fno"] and "0.5" not in rows["fno"].split("|")[2]
    assert "missing" in rows["crop"]
    assert "73.0%" in text  # PIMRL's RMSE reduction against PeRCNN: 1 - 0.0123/0.0456
    assert os.path.getsize(tmp_path / "comparison.png") > 10_000


def test_compare_without_its_report_writes_only_the_runs(tmp_path):
    """`compare --noreport` (what `make results` runs side by side in one directory) trains and
    evaluates, prints the table and writes no report; the next plain compare skips the finished
    run and writes it."""
    import subprocess
    import sys

    from synthetic_data import write_synthetic

    from experiments.kdv import get_config

    path = tmp_path / "kdv-smoke.h5"
    write_synthetic(get_config("smoke"), str(path))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [
        sys.executable, "-m", "pimrl_jax.compare", "--config=experiments/kdv.py:smoke",
        f"--config.data.path={path}", f"--workdir={tmp_path / 'runs'}", "--models=persistence",
    ]  # fmt: skip

    def run(*extra):
        out = subprocess.run(
            args + list(extra), cwd=root, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    out = run("--noreport")
    assert "| persistence | " in out and "wrote" not in out
    assert (tmp_path / "runs" / "persistence" / "results.json").exists()
    assert not list((tmp_path / "runs").glob("comparison*"))
    out = run()
    assert "=== persistence: results.json with this config exists, skipped" in out
    assert (tmp_path / "runs" / "comparison.md").read_text().count("| persistence | ") == 1


def test_headline_hct_is_per_field_not_pooled(tmp_path):
    """Right channel means, wrong pattern in v: the pooled correlation (channels × space) stays
    high because of the gap between the means; the per-field headline sees the lost pattern."""
    rng = np.random.default_rng(3)
    n_steps = 6
    u = 1.0 + 0.05 * rng.standard_normal((2, n_steps + 1, 8, 6, 1))
    v = 0.05 * rng.standard_normal((2, n_steps + 1, 8, 6, 1))
    truth = np.concatenate([u, v], axis=-1).astype(np.float32)
    dataset = {"test": {"macro": truth, "macro_times": DT * np.arange(n_steps + 1)}}

    noise = 0.05 * rng.standard_normal(truth[:, 1:, ..., :1].shape)

    def rollout(params, u0, n):  # u exact, v replaced by an unrelated pattern after frame 2
        # The trajectory of each row, found from its initial state (rows are independent).
        row = jnp.argmin(jnp.sum(jnp.abs(u0[:, None] - truth[None, :, 0]), axis=(2, 3, 4)), 1)
        frames = jnp.asarray(truth[:, 1 : n + 1])[row]
        late = jnp.arange(n)[None, :, None, None, None] >= 2
        v_pred = jnp.where(late, jnp.asarray(noise[:, :n], jnp.float32)[row], frames[..., 1:])
        return jnp.concatenate([frames[..., :1], v_pred], axis=-1)

    config = _config()
    config.eval.diagnostics = False  # this fake rollout ignores its initial state
    evaluate.evaluate(config, FakeModel("swapped", rollout), {}, dataset, str(tmp_path))
    res = _strict_json(tmp_path / "results.json")
    per_field = np.asarray(res["per_trajectory"]["correlation"])
    assert np.all(per_field[:, 2:] < 0.8) and np.all(per_field[:, :2] > 0.99)
    assert res["hct"] == pytest.approx(2 * DT)
    assert res["hct_pooled"] == pytest.approx(n_steps * DT)  # the mean gap props it up
    assert res["hct_worst_channel"] == pytest.approx(2 * DT)
