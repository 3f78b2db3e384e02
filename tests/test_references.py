"""The two reference rows, persistence and the physics oracle: no parameters, no training, the
same evaluate path and results.json as every model."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from synthetic_data import write_synthetic

from experiments import kdv
from pimrl_jax import main as main_lib
from pimrl_jax.models.micro import MicroStep
from pimrl_jax.models.registry import REFERENCES, build_model
from solvers import dataset as dataset_lib


def _linear_kdv_config(integrator):
    config = kdv.get_config("smoke")
    config.data.update(
        dict(length=32.0, grid=32, dt=0.05, k=4, micro_integrator=integrator),
        coefficients=dict(convection=0.0, dispersion=1.0),
    )
    return config


def _mode_factor(dx, dt, theta, integrator):
    omega = -13 / 4 * np.sin(theta) + 2 * np.sin(2 * theta) - 1 / 4 * np.sin(3 * theta)
    z = -1j * dt * omega / dx**3
    return {"euler": 1 + z, "rk4": 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24}[integrator]


@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_oracle_rolls_a_fourier_mode_by_its_stability_function(integrator):
    config = _linear_kdv_config(integrator)
    n, length, mode, k = 32, 32.0, 3, 4
    x = np.arange(n) * (length / n)
    wave = 2 * np.pi * mode / length
    u0 = np.cos(wave * x)[None, :, None].astype(np.float32)
    config.model.name = "oracle"
    model = build_model(config)
    assert model.init(jax.random.key(0), u0) == {}
    frames = np.asarray(model.rollout({}, jnp.asarray(u0), 5))
    gain = _mode_factor(length / n, 0.05, wave * length / n, integrator)
    expected = [np.real(gain ** (k * j) * np.exp(1j * wave * x)) for j in range(1, 6)]
    np.testing.assert_allclose(frames[0, :, :, 0], np.stack(expected), atol=2e-5)


def test_micro_module_rk4_with_a_zero_pi_block_is_rk4_of_its_known_term():
    n, length, mode = 32, 32.0, 5
    x = np.arange(n) * (length / n)
    wave = 2 * np.pi * mode / length
    u = jnp.asarray(np.cos(wave * x)[None, :, None], jnp.float32)
    step = MicroStep(dx=1.0, dt=0.3, known_terms=("dispersion",), integrator="rk4")
    params = jax.tree.map(jnp.zeros_like, step.init(jax.random.key(0), u)["params"])
    out = np.asarray(step.apply({"params": params}, u))[0, :, 0]
    gain = _mode_factor(1.0, 0.3, wave, "rk4")
    np.testing.assert_allclose(out, np.real(gain * np.exp(1j * wave * x)), atol=1e-5)
    assert abs(gain) < 1  # Euler's factor would be > 1 at this mode


def test_persistence_repeats_the_initial_state():
    config = kdv.get_config("smoke")
    config.model.name = "persistence"
    model = build_model(config)
    u0 = jnp.asarray(np.random.default_rng(0).standard_normal((3, 32, 1)), jnp.float32)
    frames = model.rollout({}, u0, 4)
    assert frames.shape == (3, 4, 32, 1)
    np.testing.assert_array_equal(np.asarray(frames), np.repeat(np.asarray(u0)[:, None], 4, 1))


@pytest.mark.parametrize("name", REFERENCES)
def test_references_evaluate_through_main_without_training(tmp_path, name):
    config = kdv.get_config("smoke")
    config.data.path = str(tmp_path / "kdv-smoke.h5")
    write_synthetic(config, config.data.path)
    config.model.name = name
    summary = main_lib.run(config, str(tmp_path / name), "train", progress=False)
    results = json.loads((tmp_path / name / "results.json").read_text())
    assert not (tmp_path / name / "checkpoints").exists()  # nothing was trained
    assert results["model"] == name and results["n_params"] == 0 and results["split"] == "test"
    test = dataset_lib.load(config.data.path, config.data)["test"]["macro"].astype(np.float64)
    if name == "persistence":
        expected = math.sqrt(np.mean(np.square(test[:, 1:] - test[:, :1])))
        assert summary["rmse"] == pytest.approx(expected, rel=1e-5)
    else:
        assert summary["rmse"] is not None and math.isfinite(summary["rmse"])
