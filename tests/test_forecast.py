"""Forecasts from a stream of bursts: the reference rows' skill against a NumPy loop, PIMRL's
restart against hand-assembled cycles, the lead bookkeeping and divergence."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import kdv
from pimrl_jax import cycle, forecast
from pimrl_jax.models import registry
from solvers import finite_difference
from solvers.burst import burst_starts
from tests.synthetic_data import _split
from tests.test_cycle import MACRO, MICRO, macro_apply, micro_apply

K, N = 2, 3


@pytest.fixture(scope="module")
def setup():
    bursts = jax.random.normal(jax.random.key(0), (2, 4, K + 1, 8, 2))
    u = bursts[:, 0, 0]
    params = {
        "micro": jax.jit(MICRO.init)(jax.random.key(1), u)["params"],
        "macro": jax.jit(lambda k, v: MACRO.init(k, v, None))(jax.random.key(2), u)["params"],
    }
    return params, bursts


def _hand_carries(params, bursts, restart):
    """The ConvLSTM carry at the start of every burst's cycle, one macro call at a time."""
    macro = jax.jit(macro_apply)
    carry = cycle.zero_carry(macro_apply, params["macro"], bursts[:, 0, 0])
    carries = []
    for s in range(bursts.shape[1]):
        carries.append(carry)
        first = bursts[:, s, 0]
        _, carry = macro(params["macro"], first, carry)
        if restart == "observed":
            u = bursts[:, s, K]
        else:
            u = first
            for _ in range(K):
                u = micro_apply(params["micro"], u)
        for _ in range(N - 1):
            u, carry = macro(params["macro"], u, carry)
    return carries


@pytest.mark.parametrize("lead", [N - 1, 7])
def test_micro_restart_is_the_cycle_started_at_the_burst(setup, lead):
    """restart="micro": burst s's forecast is pimrl_rollout from the observed burst start with
    the carry the earlier cycles left, frames 2 … lead+1."""
    params, bursts = setup
    got = forecast.pimrl_forecast(
        micro_apply, macro_apply, params, bursts, lead, K, N, restart="micro"
    )
    assert got.shape == (2, 4, lead, 8, 2)
    n_cycles = math.ceil((lead + 1) / N)
    for s, carry in enumerate(_hand_carries(params, bursts, "micro")):
        frames = cycle.pimrl_rollout(
            micro_apply, macro_apply, params, bursts[:, s, 0], n_cycles, K, N, carry0=carry
        )
        np.testing.assert_allclose(got[:, s], frames[:, 1 : 1 + lead], rtol=1e-5, atol=1e-6)


def test_observed_restart_takes_the_burst_end_as_the_message(setup):
    """restart="observed": step 2 of the cycle takes the burst's last frame; the forecast beyond
    the next burst goes on with free cycles. Written out one macro/micro call at a time."""
    params, bursts = setup
    lead = 7
    got = forecast.pimrl_forecast(micro_apply, macro_apply, params, bursts, lead, K, N)
    macro = jax.jit(macro_apply)
    for s, carry in enumerate(_hand_carries(params, bursts, "observed")):
        _, carry = macro(params["macro"], bursts[:, s, 0], carry)
        u, frames = bursts[:, s, K], []
        for _ in range(N - 1):
            u, carry = macro(params["macro"], u, carry)
            frames.append(u)
        while len(frames) < lead:  # free cycles from û_{j+N}
            message = u
            for _ in range(K):
                message = micro_apply(params["micro"], message)
            for j in range(N):
                u, carry = macro(params["macro"], message if j == 1 else u, carry)
                frames.append(u)
        np.testing.assert_allclose(got[:, s], np.stack(frames[:lead], axis=1), rtol=1e-5, atol=1e-6)


def test_burst_zero_micro_restart_is_the_free_rollout(setup):
    params, bursts = setup
    got = forecast.pimrl_forecast(micro_apply, macro_apply, params, bursts, 4, K, N, "micro")
    free = cycle.pimrl_rollout(micro_apply, macro_apply, params, bursts[:, 0, 0], 2, K, N)
    np.testing.assert_allclose(got[:, 0], free[:, 1:5], rtol=1e-5, atol=1e-6)


def _kdv_split():
    config = kdv.get_config("smoke")
    macro, bursts = _split(config.data, 2, 5, 1, 0.0)
    split = {
        "macro": macro,
        "bursts": bursts,
        "burst_start": burst_starts(int(config.data.n_macro), int(config.data.N)),
        "macro_times": np.arange(macro.shape[1]) * 0.2,
    }
    return config, split


def _loop_skill(predict, split, k, lead):
    """RMSE(ℓ) and mean per-field correlation(ℓ) written out with NumPy loops."""
    macro, bursts, starts = split["macro"], split["bursts"], split["burst_start"]
    n_traj, T = macro.shape[0], macro.shape[1] - 1
    sq = [[] for _ in range(lead)]
    corr = [[] for _ in range(lead)]
    for b in range(n_traj):
        for s, j in enumerate(starts):
            u = bursts[b, s, k].astype(np.float64)
            for ell in range(1, lead + 1):
                u = predict(u)
                if j + 1 + ell > T:
                    continue
                truth = macro[b, j + 1 + ell].astype(np.float64)
                sq[ell - 1].append((u - truth) ** 2)
                fields = [
                    np.corrcoef(u[..., c].ravel(), truth[..., c].ravel())[0, 1]
                    for c in range(u.shape[-1])
                ]
                corr[ell - 1].append(np.mean(fields))
    rmse = [float(np.sqrt(np.mean(np.stack(x)))) for x in sq]
    return rmse, [float(np.mean(c)) for c in corr]


@pytest.mark.parametrize("name", ["persistence", "oracle"])
def test_reference_rows_match_a_numpy_loop(name):
    config, split = _kdv_split()
    config.model.name = name
    model = registry.build_model(config)
    k, lead = int(config.data.k), 5
    res = forecast.forecast_model(config, model, {}, split, lead)
    if name == "persistence":

        def predict(u):
            return u
    else:
        step = jax.jit(finite_difference.micro_form_step_of(config.data))

        def predict(u):
            v = jnp.asarray(u[None], jnp.float32)
            for _ in range(k):
                v = step(v)
            return np.asarray(v[0], np.float64)

    rmse, corr = _loop_skill(predict, split, k, lead)
    np.testing.assert_allclose(res["rmse"], rmse, rtol=2e-5)
    np.testing.assert_allclose(res["correlation"], corr, rtol=1e-4, atol=1e-6)
    # Leads past the horizon: burst j = 6 of T = 8 has frames only for ℓ = 1.
    assert res["n_forecasts"] == [2 * 4, 2 * 3, 2 * 3, 2 * 2, 2 * 2]
    n_to_next = int(config.data.N) - 1
    expected = np.sqrt(np.mean(np.square(rmse[:n_to_next])))  # ℓ = 1 alone here (N = 2)
    assert res["rmse_to_next_burst"] == pytest.approx(expected, rel=2e-5)


def test_lead_targets_and_a_diverged_forecast():
    macro = np.broadcast_to(np.arange(7.0, dtype=np.float32)[None, :, None, None], (1, 7, 4, 1))
    truth, valid = forecast.lead_targets(macro, np.array([0, 3]), 4)
    np.testing.assert_array_equal(valid, [[1, 1, 1, 1], [1, 1, 0, 0]])
    np.testing.assert_array_equal(truth[0, 0, :, 0, 0], [2, 3, 4, 5])  # j + 1 + ℓ
    np.testing.assert_array_equal(truth[0, 1, :2, 0, 0], [5, 6])
    pred = truth + 1.0
    pred[0, 0, 1] = np.nan  # the first burst's forecast diverges at lead 2
    stats = jax.device_get(forecast.lead_skill(jnp.asarray(pred), jnp.asarray(truth), 1e6))
    res = forecast.summarize(stats, valid, N=3, dt_macro=0.5)
    assert res["rmse"][0] == pytest.approx(1.0)
    assert res["rmse"][1:] == [None, None, None]  # a lead holding a diverged forecast
    assert res["n_diverged"] == [0, 1, 1, 1]
    assert res["rmse_to_next_burst"] is None and res["lead_time"] == [0.5, 1.0, 1.5, 2.0]


def test_cli_errors_are_one_line(capsys):
    assert forecast.main(["--exp", "heat"]) == 1
    assert "valid: kdv, burgers, fn, gs2d, gs3d" in capsys.readouterr().err
    assert forecast.main(["--exp", "kdv", "--profile", "big"]) == 1
    assert "valid profiles: smoke, quick, paper" in capsys.readouterr().err
    assert forecast.main(["--exp", "kdv", "--root", "/nonexistent/runs"]) == 1
    assert "make results EXP=kdv" in capsys.readouterr().err
