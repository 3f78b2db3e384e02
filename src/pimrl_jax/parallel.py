"""Data parallelism: a 1-D `data` mesh, replicated params, the batch axis split over devices.

The loss and gradients of a batch are computed under `jax.shard_map` over the batch axis: each
device runs the model on its B/n examples and the results are averaged with one `pmean`. Under a
plain `jit` with a batch-sharded input XLA all-gathers the whole batch before every FFT
(jax-ml/jax#15680, spec/jax-notes.md), which would serialise FNO, CROP and any spectral code;
inside `shard_map` every device keeps its own examples, and the only collectives are the
all-reduces of the loss and of the gradients.

For a loss that is a mean over the batch, L = (1/B) Σ_b ℓ_b, the per-device means averaged over
n equal shards are exactly L and ∇L. A loss that is a function of such a mean (the RMSE, sqrt of
the mean squared error) is passed as `finalize`: L = finalize(mean), ∇L = finalize'(mean) ∇mean.

Multi-host: `maybe_initialize_distributed()` starts JAX's distributed runtime when the process
was launched as one of several (a coordinator address or a Slurm / Open MPI job with more than
one task); then `jax.devices()` and hence `make_data_mesh()` span every host.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_data_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh named `data` over `devices` (default: every device of every process)."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh(
        (len(devices),),
        (DATA_AXIS,),
        axis_types=(jax.sharding.AxisType.Explicit,),
        devices=devices,
    )


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
    """Every device holds the whole array (params, optimiser state, the training data)."""
    return NamedSharding(mesh, P())


def batch_sharded(mesh: jax.sharding.Mesh) -> NamedSharding:
    """The leading (batch) axis split over the `data` axis."""
    return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: jax.sharding.Mesh) -> int:
    """`batch_size`, or a ValueError naming the sizes that split evenly over the mesh."""
    n = int(mesh.shape[DATA_AXIS])
    if batch_size % n:
        below = (batch_size // n) * n
        options = ", ".join(str(m * n) for m in range(1, 4))
        hint = f"; the nearest are {below} and {below + n}" if below else ""
        raise ValueError(
            f"global batch size {batch_size} is not divisible by the {n} devices of the data "
            f"mesh: data-parallel training needs a multiple of {n} ({options}, …{hint}). Set "
            "train.batch_size to one, or train.data_parallel=False."
        )
    return batch_size


def data_parallel_value_and_grad(
    loss_fn: Callable,
    mesh: jax.sharding.Mesh,
    *,
    finalize: Callable[[jax.Array], jax.Array] | None = None,
) -> Callable:
    """value_and_grad(params, batch) -> (loss, grads), data-parallel over `mesh`.

    Args:
      loss_fn: loss_fn(params, batch) -> scalar, a MEAN over the batch's leading axis (so that
        the mean of the per-device values is the global one).
      mesh: a mesh with a `data` axis (`make_data_mesh()`); params are replicated over it.
      finalize: optional scalar map applied to the global mean (e.g. `jnp.sqrt` to turn a mean
        squared error into an RMSE); the gradients are scaled by its derivative there.
    Returns:
      A function of (params, batch), batch a pytree of arrays (B, …) with B a multiple of the
      device count (ValueError otherwise), giving the loss and gradients replicated on every
      device. Use it inside `jit`.
    """

    def local(params, batch):
        # Without vma checking (below) the gradients are this shard's own; averaging them is
        # the one explicit pmean.
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        return jax.lax.pmean((loss, grads), DATA_AXIS)

    # check_vma=False: model code starts scans from fresh zeros (the ConvLSTM state) whose
    # carries would otherwise need per-device casts in every model; the only cross-device
    # value here is the pmean, so the check would guard nothing else.
    sharded = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(), P(DATA_AXIS)),
        out_specs=(P(), P()),
        check_vma=False,
    )

    def value_and_grad(params, batch):
        for leaf in jax.tree.leaves(batch):
            check_batch_size(int(leaf.shape[0]), mesh)
        # Wherever the batch was drawn (replicated, in the train step), split it here: each
        # device slices out its own examples, no collective.
        batch = jax.tree.map(lambda x: jax.sharding.reshard(x, batch_sharded(mesh)), batch)
        loss, grads = sharded(params, batch)
        if finalize is None:
            return loss, grads
        loss, slope = jax.value_and_grad(finalize)(loss)
        return loss, jax.tree.map(lambda g: slope * g, grads)

    return value_and_grad


# ----------------------------------------------------------------------------------------------
# Multi-host start-up
# ----------------------------------------------------------------------------------------------


def _int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ.get(name, "1"))
    except ValueError:
        return 1


def multihost_launcher(environ: Mapping[str, str] | None = None) -> str | None:
    """Which multi-process launch `environ` shows, or None for a single process.

    Recognised: `JAX_COORDINATOR_ADDRESS` (with JAX_NUM_PROCESSES / JAX_PROCESS_ID, read by
    `jax.distributed.initialize` itself), a Slurm job step with SLURM_NTASKS > 1 and an Open MPI
    run with OMPI_COMM_WORLD_SIZE > 1 — the variables JAX's own cluster detection reads. A
    one-task Slurm job is a single host: nothing to initialise.
    """
    env = os.environ if environ is None else environ
    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS"
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID")
    if all(v in env for v in slurm) and _int(env, "SLURM_NTASKS") > 1:
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in env and _int(env, "OMPI_COMM_WORLD_SIZE") > 1:
        return "ompi"
    return None


def maybe_initialize_distributed(environ: Mapping[str, str] | None = None) -> bool:
    """Call `jax.distributed.initialize()` when launched as one of several processes (see
    `multihost_launcher`); a no-op on a single host or when already initialised. Must run before
    the first JAX computation. Returns whether it initialised."""
    launcher = multihost_launcher(environ)
    if launcher is None or jax.distributed.is_initialized():
        return False
    # Addresses, counts and ids come from the same environment; JAX reads them itself.
    jax.distributed.initialize()
    print(
        f"jax.distributed ({launcher}): process {jax.process_index()} of "
        f"{jax.process_count()}, {jax.device_count()} devices in all"
    )
    return True


def put_replicated(tree, mesh: jax.sharding.Mesh):
    """`tree` on every device of `mesh` (a no-op for arrays already placed so)."""
    return jax.device_put(tree, replicated(mesh))


__all__ = [
    "DATA_AXIS",
    "batch_sharded",
    "check_batch_size",
    "data_parallel_value_and_grad",
    "make_data_mesh",
    "maybe_initialize_distributed",
    "multihost_launcher",
    "put_replicated",
    "replicated",
]
