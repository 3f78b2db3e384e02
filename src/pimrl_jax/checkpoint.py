"""Orbax checkpoints of the train state: save, find the latest finished one, restore.

A checkpoint at step s holds two items:

* `state`: the whole train state pytree (params, optimizer state, stage, step), saved with
  `ocp.args.StandardSave` and restored bit-exactly against an abstract tree;
* `meta`: a small JSON dict (stage, step, …) read first, because the optimizer-state structure
  depends on the stage and the abstract tree must be built before the state can be restored.

Orbax writes into a temporary directory and renames it when the write is complete, so a process
killed mid-save leaves no half checkpoint behind: `latest_step` only sees finished ones.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpoints:
    """A `CheckpointManager` over `directory` with items `state` and `meta`."""

    def __init__(self, directory: str | pathlib.Path, max_to_keep: int | None = 3):
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
        donate its device buffers to the next train step while orbax is still writing."""
        host_state = jax.tree.map(lambda x: np.array(x, copy=True), state)
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(host_state), meta=ocp.args.JsonSave(meta)
            ),
        )

    def restore_meta(self, step: int) -> dict:
        return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
            "meta"
        ]

    def restore(self, step: int, abstract_state):
        """Restore the state saved at `step` into the structure, shapes and dtypes of
        `abstract_state` (e.g. from `jax.eval_shape`)."""
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
        )
        return restored["state"]

    def wait_until_finished(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
