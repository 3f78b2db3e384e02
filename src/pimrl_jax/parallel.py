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
one task); then `jax.devices()` and hence `make_data_mesh()` span every process. Every process
runs the same program on the same (replicated) params, optimiser state and training data; in
the train step each device draws only its own rows of the batch (`data_parallel_value_and_grad`
with `draw`), so no batch crosses a process boundary and only the loss and gradients are
all-reduced (over gloo between CPU processes, NCCL between GPUs). `put_replicated` turns
process-local values into such global arrays, `host_copy` brings replicated ones back for
process-local code, `gather_rows` collects per-process results (the evaluation's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import jax
import numpy as np
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
    draw: Callable | None = None,
    batch_size: int | None = None,
) -> Callable:
    """value_and_grad(params, batch) -> (loss, grads), data-parallel over `mesh`.

    Args:
      loss_fn: loss_fn(params, batch) -> scalar, a MEAN over the batch's leading axis (so that
        the mean of the per-device values is the global one).
      mesh: a mesh with a `data` axis (`make_data_mesh()`); params are replicated over it.
      finalize: optional scalar map applied to the global mean (e.g. `jnp.sqrt` to turn a mean
        squared error into an RMSE); the gradients are scaled by its derivative there.
      draw: optional `draw(*inputs, start, count) -> batch`, rows `start … start+count` of the
        global batch of `batch_size` examples that `inputs` (e.g. the training arrays and a PRNG
        key, replicated) define. With it the function takes `(params, *inputs)` and each device
        draws only its own rows: no device, and no process, ever holds the whole batch.
      batch_size: the global batch size; required with `draw`.
    Returns:
      A function of (params, batch), batch a pytree of arrays (B, …) with B a multiple of the
      device count (ValueError otherwise) — or of (params, *inputs) with `draw` — giving the
      loss and gradients replicated on every device. Use it inside `jit`.
    """
    n = int(mesh.shape[DATA_AXIS])

    def local(params, batch):
        # Without vma checking (below) the gradients are this shard's own; averaging them is
        # the one explicit pmean.
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        return jax.lax.pmean((loss, grads), DATA_AXIS)

    def local_drawn(params, *inputs):
        per_device = batch_size // n
        start = jax.lax.axis_index(DATA_AXIS) * per_device
        return local(params, draw(*inputs, start=start, count=per_device))

    # check_vma=False: model code starts scans from fresh zeros (the ConvLSTM state) whose
    # carries would otherwise need per-device casts in every model; the only cross-device
    # value here is the pmean, so the check would guard nothing else.
    def finish(loss, grads):
        if finalize is None:
            return loss, grads
        loss, slope = jax.value_and_grad(finalize)(loss)
        return loss, jax.tree.map(lambda g: slope * g, grads)

    if draw is not None:
        if batch_size is None:
            raise ValueError("data_parallel_value_and_grad: `draw` needs the global batch_size")
        check_batch_size(int(batch_size), mesh)

        def drawn_value_and_grad(params, *inputs):
            sharded = jax.shard_map(
                local_drawn,
                mesh=mesh,
                in_specs=(P(),) * (1 + len(inputs)),
                out_specs=(P(), P()),
                check_vma=False,
            )
            return finish(*sharded(params, *inputs))

        return drawn_value_and_grad

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
        # Wherever the batch was drawn (replicated), split it here: each device slices out its
        # own examples, no collective.
        batch = jax.tree.map(lambda x: jax.sharding.reshard(x, batch_sharded(mesh)), batch)
        return finish(*sharded(params, batch))

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


class DistributedSetupError(RuntimeError):
    """A multi-process launch whose variables are incomplete or inconsistent."""


def _distributed_args(env: Mapping[str, str]) -> dict:
    """The `jax.distributed.initialize` arguments for a `JAX_COORDINATOR_ADDRESS` launch: JAX
    0.10 reads the address from the environment but not the process count and id, so they are
    read here from JAX_NUM_PROCESSES and JAX_PROCESS_ID."""
    address = env["JAX_COORDINATOR_ADDRESS"]
    values = {}
    for name in ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        raw = env.get(name)
        try:
            values[name] = int(raw)
        except (TypeError, ValueError):
            raise DistributedSetupError(
                f"JAX_COORDINATOR_ADDRESS={address} starts a multi-process run, which also needs "
                f"{name} (an integer; got {raw!r}). Set JAX_NUM_PROCESSES to the number of "
                "processes and JAX_PROCESS_ID to 0 … JAX_NUM_PROCESSES-1 on each (the same "
                "address everywhere), or use `python -m pimrl_jax.launch` on one machine."
            ) from None
    count, index = values["JAX_NUM_PROCESSES"], values["JAX_PROCESS_ID"]
    if count < 1 or not 0 <= index < count:
        raise DistributedSetupError(
            f"JAX_PROCESS_ID={index} is not in 0 … {count - 1} (JAX_NUM_PROCESSES={count})"
        )
    return {"coordinator_address": address, "num_processes": count, "process_id": index}


def maybe_initialize_distributed(environ: Mapping[str, str] | None = None) -> bool:
    """Call `jax.distributed.initialize` when launched as one of several processes (see
    `multihost_launcher`); a no-op on a single host or when already initialised. Must run before
    the first JAX computation. Returns whether it initialised.

    Slurm and Open MPI launches are detected by JAX itself. A plain launch sets, on every
    process, JAX_COORDINATOR_ADDRESS=host:port (process 0's host), JAX_NUM_PROCESSES and
    JAX_PROCESS_ID; `python -m pimrl_jax.launch` does that on one machine. Across processes on
    CPU the collectives run over gloo (JAX's default for CPU since 0.4.3x)."""
    env = os.environ if environ is None else environ
    launcher = multihost_launcher(env)
    if launcher is None or jax.distributed.is_initialized():
        return False
    args = _distributed_args(env) if launcher == "JAX_COORDINATOR_ADDRESS" else {}
    jax.distributed.initialize(**args)
    if jax.process_index() == 0:
        print(
            f"jax.distributed ({launcher}): {jax.process_count()} processes, "
            f"{jax.device_count()} devices in all ({jax.local_device_count()} per process)"
        )
    return True


def is_primary() -> bool:
    """Whether this is process 0, the one that writes logs, results and figures."""
    return jax.process_index() == 0


def _global(x, sharding: NamedSharding):
    if isinstance(x, jax.Array):
        if x.sharding == sharding:
            return x
        if jax.process_count() > 1 and x.is_fully_addressable:
            # A process-local array (e.g. a freshly initialised parameter): every process holds
            # the same value, so each contributes its copy to the global replicated array.
            x = np.asarray(x)
    return jax.device_put(x, sharding)


def put_replicated(tree, mesh: jax.sharding.Mesh):
    """`tree` on every device of `mesh`, of every process (a no-op for arrays already placed so).
    With several processes every one must pass the same values (they all do: same data, same
    seeds, same updates)."""
    target = replicated(mesh)
    return jax.tree.map(lambda x: _global(x, target), tree)


def host_copy(tree):
    """`tree` as NumPy arrays on this host, e.g. params to run process-local code with. Arrays
    spread over several processes must be fully replicated (as params and optimiser state
    are)."""
    return jax.tree.map(lambda x: np.array(x, copy=True), tree)


def local_copy(tree):
    """`tree` with every array that spans several devices (params of a data-parallel run, of one
    process or several) replaced by a host copy, so that process-local, single-device code
    (evaluation, diagnostics) can mix it with its own arrays; other leaves are kept as they are."""

    def one(x):
        if isinstance(x, jax.Array) and len(x.sharding.device_set) > 1:
            return np.array(x, copy=True)
        return x

    return jax.tree.map(one, tree)


def gather_rows(tree, n_rows: int):
    """Concatenate every process's `tree` (equal shapes everywhere) along axis 0, in process
    order, and keep the first `n_rows` rows; on one process, `tree` itself."""
    if jax.process_count() == 1:
        return jax.tree.map(lambda x: np.asarray(x)[:n_rows], tree)
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(lambda x: np.asarray(x)[:n_rows], gathered)


__all__ = [
    "DATA_AXIS",
    "DistributedSetupError",
    "batch_sharded",
    "check_batch_size",
    "data_parallel_value_and_grad",
    "gather_rows",
    "host_copy",
    "is_primary",
    "local_copy",
    "make_data_mesh",
    "maybe_initialize_distributed",
    "multihost_launcher",
    "put_replicated",
    "replicated",
]
