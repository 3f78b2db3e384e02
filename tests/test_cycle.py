"""The rollouts against plain Python loops of the documented schedule, remat equivalence, and
compile-once behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.common import make_config
from pimrl_jax import cycle
from pimrl_jax.models import registry
from pimrl_jax.models.macro import MacroStep
from pimrl_jax.models.micro import MicroStep

K, N = 3, 3
MICRO = MicroStep(dx=0.5, dt=0.02, c_up=1.0, n_conv=2, kernel=3, hidden=3, init_scale=0.5)
MACRO = MacroStep(features=(4,), lstm_features=4, kernel=3)


def micro_apply(p, u):
    return MICRO.apply({"params": p}, u)


def macro_apply(p, s, carry):
    return MACRO.apply({"params": p}, s, carry)


@pytest.fixture(scope="module")
def setup():
    u0 = jax.random.normal(jax.random.key(0), (2, 8, 2))
    params = {
        "micro": jax.jit(MICRO.init)(jax.random.key(1), u0)["params"],
        "macro": jax.jit(lambda k, u: MACRO.init(k, u, None))(jax.random.key(2), u0)["params"],
    }
    return params, u0


def _loop_schedule(params, u0, num_cycles, message_passing):
    """The schedule written out step by step, one jitted step at a time."""
    micro = jax.jit(micro_apply)
    macro = jax.jit(macro_apply)
    carry = (jnp.zeros((2, 4, 4)), jnp.zeros((2, 4, 4)))
    u, frames = u0, []
    for _ in range(num_cycles):
        message = u
        for _ in range(K):
            message = micro(params["micro"], message)
        for j in range(1, N + 1):
            s = message if (message_passing and j == 2) else u
            u, carry = macro(params["macro"], s, carry)
            frames.append(u)
    return np.stack(frames, axis=1)


@pytest.mark.parametrize("message_passing", [True, False])
def test_pimrl_rollout_equals_a_python_loop_of_the_schedule(setup, message_passing):
    params, u0 = setup
    rollout = jax.jit(cycle.pimrl_rollout, static_argnums=(0, 1, 4, 5, 6, 7))
    got = rollout(micro_apply, macro_apply, params, u0, 2, K, N, message_passing)
    expected = _loop_schedule(params, u0, 2, message_passing)
    assert got.shape == (2, 2 * N, 8, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_message_passing_changes_the_prediction_and_off_is_macro_rollout(setup):
    params, u0 = setup
    on = cycle.pimrl_rollout(micro_apply, macro_apply, params, u0, 2, K, N, True)
    off = cycle.pimrl_rollout(micro_apply, macro_apply, params, u0, 2, K, N, False)
    macro_only = cycle.macro_rollout(macro_apply, params["macro"], u0, 2 * N)
    np.testing.assert_array_equal(off, macro_only)
    # Frame 0 (autonomous) is shared; frame 1 is the first corrected one.
    np.testing.assert_allclose(on[:, 0], off[:, 0], rtol=1e-6, atol=1e-6)
    assert np.max(np.abs(np.asarray(on[:, 1] - off[:, 1]))) > 1e-4


def test_micro_rollouts_against_loops(setup):
    params, u0 = setup
    frames = cycle.micro_rollout(micro_apply, params["micro"], u0, 2 * K)
    step = jax.jit(micro_apply)
    u, expected = u0, []
    for _ in range(2 * K):
        u = step(params["micro"], u)
        expected.append(u)
    np.testing.assert_allclose(frames, np.stack(expected, 1), rtol=1e-6, atol=1e-6)
    strided = cycle.strided_micro_rollout(micro_apply, params["micro"], u0, 2, K)
    np.testing.assert_allclose(strided, frames[:, K - 1 :: K], rtol=1e-6, atol=1e-6)


def test_remat_changes_neither_values_nor_gradients(setup):
    params, u0 = setup

    def loss(p, remat):
        out = cycle.pimrl_rollout(micro_apply, macro_apply, p, u0, 2, K, N, True, remat)
        return jnp.mean(out**2)

    grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    (v0, g0), (v1, g1) = grad(params, False), grad(params, True)
    np.testing.assert_allclose(v0, v1, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


def test_registry_rollout_compiles_once_and_truncates_whole_cycles():
    data = dict(ndim=1, grid=8, length=4.0, dt=0.02, k=K, N=N)
    model_cfg = dict(
        name="pimrl",
        micro=dict(c_up=1.0, n_conv=2, kernel=3, hidden=3),
        macro=dict(features=(4,), lstm_features=4, kernel=3),
    )
    model = registry.build_model(make_config("burgers", "smoke", data, model_cfg))
    traces = []
    rollout = jax.jit(
        lambda p, u, n: (traces.append(n), model.rollout(p, u, n))[1], static_argnums=2
    )
    u0 = jax.random.normal(jax.random.key(3), (2, 8, 2))
    params = jax.jit(model.init)(jax.random.key(4), u0)
    first = rollout(params, u0, 4)  # 2 cycles of N=3, truncated to 4 frames
    rollout(params, u0 + 1.0, 4)
    rollout(jax.tree.map(lambda p: p * 0.5, params), u0, 4)
    assert traces == [4]
    full = cycle.pimrl_rollout(
        lambda p, u: model.micro_rollout({"micro": p}, u, 1)[:, 0],
        lambda p, s, c: MacroStep((4,), 4, 3).apply({"params": p}, s, c),
        params,
        u0,
        2,
        K,
        N,
    )
    assert first.shape == (2, 4, 8, 2)
    np.testing.assert_allclose(first, full[:, :4], rtol=1e-6, atol=1e-6)
