"""Orbax checkpoints of the train state: save, find the latest finished one, restore.

A checkpoint at step s holds two items:

* `state`: the whole train state pytree (params, optimizer state, stage, step), saved with
  `ocp.args.StandardSave` and restored bit-exactly against an abstract tree;
* `meta`: a small JSON dict (stage, step, …) read first, because the optimizer-state structure
  depends on the stage and the abstract tree must be built before the state can be restored.

Orbax writes into a temporary directory and renames it when the write is complete, so a process
killed mid-save leaves no half checkpoint behind: `latest_step` only sees finished ones.

Verification. `save` stores in `meta` a SHA-256 `digest` of the state as copied to host memory
(every leaf's dtype, shape and bytes, in tree order) and a `structure` hash (leaf paths, shapes,
dtypes). `restore` checks that the structure the caller expects is the saved one (else a
`CheckpointStructureError`: other code or config), then restores and recomputes the digest: a
mismatch, an unreadable file or a missing item raise `CheckpointDamagedError` with the step and
path. `set_aside` moves a damaged checkpoint to `<directory>.damaged/<step>` (never deletes it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointDamagedError(RuntimeError):
    """A checkpoint that cannot be restored as saved: digest mismatch, unreadable file, missing
    item. `step` and `path` say which."""

    def __init__(self, step: int, path: pathlib.Path, reason: str):
        super().__init__(f"the checkpoint at step {step} ({path}) is damaged: {reason}")
        self.step, self.path, self.reason = step, path, reason


class CheckpointStructureError(ValueError):
    """The state saved at a step has another tree, shapes or dtypes than the one asked for."""


def tree_digest(tree) -> str:
    """SHA-256 over every leaf's dtype, shape and bytes, in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        array = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def tree_structure(tree) -> str:
    """SHA-256 of the leaves' paths, shapes and dtypes (of arrays or `ShapeDtypeStruct`s)."""
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        h.update(
            f"{jax.tree_util.keystr(path)}:{np.dtype(leaf.dtype).str}{tuple(leaf.shape)};".encode()
        )
    return h.hexdigest()


def _defined_in_orbax(filename: str) -> bool:
    return f"{os.sep}orbax{os.sep}" in filename


class _UnretrievedOrbaxTaskFilter(logging.Filter):
    """Drops asyncio's 'Task exception was never retrieved' record for a task running an orbax
    coroutine ('future: <Task … coro=<async_deserialize() done, defined at …/orbax/…>'): the error
    it carries is the one `restore` has already raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        first, *rest = record.getMessage().splitlines() or [""]
        return not (
            first == "Task exception was never retrieved"
            and any(line.startswith("future: <Task") and _defined_in_orbax(line) for line in rest)
        )


def _drop_failed_restore_noise() -> None:
    """After a failed restore, orbax's other read coroutines of the same checkpoint end with the
    same error, unretrieved, and print it again as tracebacks in two ways, both repeating the error
    `restore` has already raised:

    * through `sys.unraisablehook`: tensorstore reads still in flight call back into orbax's event
      loop, closed by then ('RuntimeError: Event loop is closed', 'Exception ignored in: <coroutine
      object _read_array_index_and_device_put>');
    * through the `asyncio` logger, when such a task is garbage-collected ('Task exception was
      never retrieved', future: <Task … coro=<async_deserialize() …>); whether this happens
      depends on how many reads had started, so it shows in some runs only.

    Drop exactly those; everything else goes on as before."""
    asyncio_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _UnretrievedOrbaxTaskFilter) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(_UnretrievedOrbaxTaskFilter())
    previous = sys.unraisablehook
    if getattr(previous, "_drops_closed_loop_noise", False):
        return

    def hook(unraisable):
        value, obj = unraisable.exc_value, unraisable.object
        if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
            return
        code = getattr(obj, "cr_code", None)
        if code is not None and _defined_in_orbax(code.co_filename):
            return
        previous(unraisable)

    hook._drops_closed_loop_noise = True
    sys.unraisablehook = hook


class Checkpoints:
    """A `CheckpointManager` over `directory` with items `state` and `meta`."""

    def __init__(self, directory: str | pathlib.Path, max_to_keep: int | None = 3):
        _drop_failed_restore_noise()
        self.directory = pathlib.Path(directory).resolve()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, cleanup_tmp_directories=True
            ),
            item_names=("state", "meta"),
        )

    def latest_step(self) -> int | None:
        """The step of the newest finished checkpoint, or None when there is none."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state, meta: dict) -> None:
        """Save asynchronously. The state is first copied to host memory so the caller may
        donate its device buffers to the next train step while orbax is still writing; the
        digest and structure of that copy go into `meta`."""
        host_state = jax.tree.map(lambda x: np.array(x, copy=True), state)
        meta = dict(meta, digest=tree_digest(host_state), structure=tree_structure(host_state))
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(host_state), meta=ocp.args.JsonSave(meta)
            ),
        )

    def step_path(self, step: int) -> pathlib.Path:
        return self.directory / str(step)

    def restore_meta(self, step: int) -> dict:
        """The `meta` item saved at `step`; `CheckpointDamagedError` when it is missing or
        unreadable."""
        try:
            meta = self._manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            )["meta"]
        except Exception as error:  # missing item, bad JSON, unreadable file
            raise CheckpointDamagedError(step, self.step_path(step), _first_line(error)) from error
        if not isinstance(meta, dict) or "stage" not in meta:
            raise CheckpointDamagedError(step, self.step_path(step), f"meta item reads {meta!r}")
        return meta

    def restore(self, step: int, abstract_state, meta: dict | None = None):
        """Restore the state saved at `step` into the structure, shapes and dtypes of
        `abstract_state` (e.g. from `jax.eval_shape`) and verify it against the digest in its
        `meta`. Raises `CheckpointStructureError` when `abstract_state` is not what was saved,
        `CheckpointDamagedError` when the saved state cannot be read back exactly. A checkpoint
        saved before digests were recorded is restored unverified (errors then raise as
        `CheckpointStructureError`: there is nothing to tell damage from another structure)."""
        meta = self.restore_meta(step) if meta is None else meta
        path = self.step_path(step)
        saved = meta.get("structure")
        if saved is not None and saved != tree_structure(abstract_state):
            raise CheckpointStructureError(
                "its state has other leaves, shapes or dtypes than the current model's"
            )
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
            )["state"]
        except Exception as error:
            if saved is None:
                raise CheckpointStructureError(_first_line(error)) from error
            raise CheckpointDamagedError(step, path, _first_line(error)) from error
        if "digest" in meta and tree_digest(restored) != meta["digest"]:
            raise CheckpointDamagedError(
                step, path, "the restored state does not match the digest saved with it"
            )
        return restored

    def set_aside(self, step: int) -> pathlib.Path:
        """Move the checkpoint at `step` out of the managed directory, to
        `<directory>.damaged/<step>` (`<step>-1`, … when taken); return the new path."""
        target_dir = self.directory.with_name(self.directory.name + ".damaged")
        target_dir.mkdir(parents=True, exist_ok=True)
        target, n = target_dir / str(step), 0
        while target.exists():
            n += 1
            target = target_dir / f"{step}-{n}"
        os.replace(self.step_path(step), target)
        self._manager.reload()
        return target

    def wait_until_finished(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        # The manager cleans up temporary directories in a background thread that `close` does
        # not join; a process exiting right after (an error) would log its failure. Join it.
        await_cleanup = getattr(self._manager, "_maybe_await_cleanup_tmp_directory", None)
        if await_cleanup is not None:
            await_cleanup()
        self._manager.close()


def _first_line(error: BaseException) -> str:
    """The gist of an orbax/tensorstore error: its first line, without the TensorStore spec."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].split(" See full TensorStore details")[0][:300]
