"""Data parallelism on the 8 host CPU devices of conftest: the sharded loss and gradients are the
single-device ones, the compiled sharded step gathers no activations (while a plain batch-sharded
`jit` of the FNO does — the control), and the errors say what works."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimrl_jax import parallel
from pimrl_jax import train as train_lib
from pimrl_jax.models.registry import build_model

BATCH = 8


def tiny_config(name: str, batch_size: int = BATCH):
    """gs2d smoke (16², 2 fields, window 2) with a small FNO: compile time is what the test pays."""
    config = importlib.import_module("experiments.gs2d").get_config("smoke")
    config.model.name = name
    config.model.fno.update(dict(modes=4, width=8, layers=2))
    config.train.batch_size = batch_size
    return config


def random_data(config) -> dict:
    """Arrays shaped like `data.training_arrays`: (traj, T+1, *space, C), (n, k+1, *space, C)."""
    rng = np.random.default_rng(0)
    d = config.data
    space = (int(d.grid),) * int(d.ndim)
    macro = 0.5 + 0.1 * rng.normal(size=(2, int(d.n_macro) + 1, *space, 2))
    bursts = 0.5 + 0.1 * rng.normal(size=(4, int(d.k) + 1, *space, 2))
    return {"macro": jnp.asarray(macro, jnp.float32), "bursts": jnp.asarray(bursts, jnp.float32)}


def random_batch(config, stage: int):
    rng = np.random.default_rng(1)
    d = config.data
    n = int(d.k) if stage == 1 else int(config.train.window)
    u0 = 0.5 + 0.1 * rng.normal(size=(BATCH, *(int(d.grid),) * int(d.ndim), 2))
    target = 0.5 + 0.1 * rng.normal(size=(BATCH, n, *u0.shape[1:]))
    return jnp.asarray(u0, jnp.float32), jnp.asarray(target, jnp.float32)


def assert_trees_close(actual, expected, rtol=1e-5):
    """Leafwise max|a − e| ≤ rtol · max|e| (relative to each leaf's scale, not per entry)."""
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        assert a.shape == e.shape
        scale = max(float(np.max(np.abs(e))), 1e-30)
        assert float(np.max(np.abs(a - e))) <= rtol * scale


@pytest.mark.parametrize(("name", "stage"), [("fno", 2), ("pimrl", 1), ("pimrl", 2)])
def test_loss_and_grads_equal_single_device(name, stage):
    config = tiny_config(name)
    model = build_model(config)
    batch = random_batch(config, stage)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch[0][:1])

    expected = jax.jit(jax.value_and_grad(train_lib.make_loss(model, stage)))(params, batch)
    mesh = parallel.make_data_mesh()
    dp = parallel.data_parallel_value_and_grad(
        train_lib.make_loss(model, stage, error=train_lib.mse), mesh, finalize=jnp.sqrt
    )
    loss, grads = jax.jit(dp)(params, batch)

    assert mesh.shape[parallel.DATA_AXIS] == 8
    np.testing.assert_allclose(float(loss), float(expected[0]), rtol=1e-5)
    assert_trees_close(grads, expected[1])
    # Replicated results: every device holds the whole gradient.
    assert all(g.sharding.is_fully_replicated for g in jax.tree.leaves(grads))


def _hlo(lowered) -> str:
    return lowered.compile().as_text()


def test_data_parallel_train_step_matches_and_gathers_nothing():
    config = tiny_config("fno")
    model = build_model(config)
    data = random_data(config)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), data["macro"][:1, 0])
    tx = train_lib.make_optimizer(config.train, params, 2)
    key = jax.random.PRNGKey(3)

    def fresh():  # the steps donate their state
        return train_lib.init_state(jax.tree.map(jnp.copy, params), tx, 2, 0)

    single = train_lib.make_train_step(model, config, 2, tx)
    _, expected = single(fresh(), data, key)
    config.train.data_parallel = True
    sharded = train_lib.make_train_step(model, config, 2, tx)
    state, metrics = sharded(fresh(), data, key)
    state, _ = sharded(state, data, key)  # from a state already on the mesh

    np.testing.assert_allclose(float(metrics["loss"]), float(expected["loss"]), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["grad_norm"]), float(expected["grad_norm"]), rtol=1e-5)
    assert int(state["step"]) == 2 and len(state["params"]["fno"]) > 0

    hlo = _hlo(sharded.lower(fresh(), data, key))
    assert "all-reduce" in hlo  # the pmean of loss and gradients is there ...
    assert "all-gather" not in hlo  # ... and nothing gathers the batch

    # Control: the same loss under a plain jit with a batch-sharded input gathers before the FFT.
    mesh = parallel.make_data_mesh()
    split = parallel.batch_sharded(mesh)
    naive = jax.jit(
        jax.value_and_grad(train_lib.make_loss(model, 2)),
        in_shardings=(parallel.replicated(mesh), (split, split)),
    )
    assert "all-gather" in _hlo(naive.lower(params, random_batch(config, 2)))


def test_batch_not_divisible_by_devices_names_the_sizes_that_work():
    config = tiny_config("fno", batch_size=6)
    config.train.data_parallel = True
    model = build_model(config)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 2)))
    tx = train_lib.make_optimizer(config.train, params, 2)
    message = r"global batch size 6 is not divisible by the 8 devices.*multiple of 8 \(8, 16, 24"
    with pytest.raises(ValueError, match=message):
        train_lib.make_train_step(model, config, 2, tx)

    dp = parallel.data_parallel_value_and_grad(
        lambda p, b: jnp.mean(b * p), parallel.make_data_mesh()
    )
    with pytest.raises(ValueError, match="global batch size 12 .* nearest are 8 and 16"):
        dp(jnp.ones(()), jnp.ones((12, 3)))


def test_distributed_initialisation_only_for_multiple_processes():
    launcher = parallel.multihost_launcher
    assert launcher({}) is None
    assert launcher({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}) == "JAX_COORDINATOR_ADDRESS"
    slurm = {
        "SLURM_JOB_ID": "7",
        "SLURM_STEP_NODELIST": "node[1-2]",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
    }
    assert launcher({**slurm, "SLURM_NTASKS": "1"}) is None  # one task: a single host
    assert launcher({**slurm, "SLURM_NTASKS": "2"}) == "slurm"
    ompi = {"OMPI_MCA_orte_hnp_uri": "x"}
    assert launcher({**ompi, "OMPI_COMM_WORLD_SIZE": "1"}) is None
    assert launcher({**ompi, "OMPI_COMM_WORLD_SIZE": "4"}) == "ompi"
    # On this single host it does nothing (and JAX stays single-process).
    assert parallel.maybe_initialize_distributed({}) is False
    assert jax.process_count() == 1
