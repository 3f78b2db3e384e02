"""Checkpoint verification: a digest of the saved state is checked at every restore, so flipped
bytes, a truncated file or a missing item are reported as damage (with the step and path), never
restored as silently wrong numbers; another structure is told apart from damage; a damaged
checkpoint is set aside, not deleted."""

import asyncio
import gc
import os
import pathlib
import shutil

import numpy as np
import orbax.checkpoint as ocp
import pytest

from pimrl_jax.checkpoint import (
    CheckpointDamagedError,
    Checkpoints,
    CheckpointStructureError,
    tree_digest,
)


def _tree():
    rng = np.random.default_rng(0)
    return {
        "params": {"w": rng.standard_normal((64, 64)).astype(np.float32)},
        "stage": np.asarray(2, np.int32),
    }


def _abstract(tree):
    import jax

    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


@pytest.fixture
def saved(tmp_path):
    ckpts = Checkpoints(tmp_path / "checkpoints")
    tree = _tree()
    ckpts.save(1, tree, {"stage": 2, "step": 1})
    ckpts.save(2, tree, {"stage": 2, "step": 2})
    ckpts.close()
    return tmp_path / "checkpoints", tree


def _data_files(step_dir: pathlib.Path):
    return sorted(p for p in (step_dir / "state").rglob("d/*") if p.is_file())


def _flip_middles(step_dir):
    """32 flipped bytes in the middle of each data file of process 0 (the array chunks)."""
    for path in sorted((step_dir / "state" / "ocdbt.process_0" / "d").iterdir()):
        size = os.path.getsize(path)
        with open(path, "r+b") as handle:
            handle.seek(size // 2)
            old = handle.read(32)
            handle.seek(size // 2)
            handle.write(bytes(b ^ 0x5A for b in old))


def test_round_trip_verifies(saved):
    directory, tree = saved
    ckpts = Checkpoints(directory)
    meta = ckpts.restore_meta(2)
    assert meta["digest"] == tree_digest(tree)
    restored = ckpts.restore(2, _abstract(tree))
    np.testing.assert_array_equal(restored["params"]["w"], tree["params"]["w"])
    ckpts.close()


def test_flipped_bytes_that_orbax_restores_silently_are_caught(saved):
    directory, tree = saved
    _flip_middles(directory / "2")
    ckpts = Checkpoints(directory)
    # Plain orbax reads the flipped bytes back without complaint: silently wrong numbers.
    raw = ckpts._manager.restore(
        2, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(tree)))
    )["state"]
    assert not np.array_equal(np.asarray(raw["params"]["w"]), tree["params"]["w"])
    with pytest.raises(CheckpointDamagedError, match="does not match the digest") as info:
        ckpts.restore(2, _abstract(tree))
    assert info.value.step == 2 and info.value.path == directory / "2"
    ckpts.restore(1, _abstract(tree))  # the other one is intact
    ckpts.close()


def test_truncated_file_is_damage(saved):
    directory, tree = saved
    biggest = max(_data_files(directory / "2"), key=os.path.getsize)
    os.truncate(biggest, os.path.getsize(biggest) // 2)
    ckpts = Checkpoints(directory)
    with pytest.raises(CheckpointDamagedError, match=r"at step 2 \(.*/checkpoints/2\) is damaged"):
        ckpts.restore(2, _abstract(tree))
    ckpts.close()


@pytest.mark.parametrize("item", ["state", "meta"])
def test_missing_item_is_damage(saved, item):
    directory, tree = saved
    shutil.rmtree(directory / "2" / item)
    ckpts = Checkpoints(directory)
    with pytest.raises(CheckpointDamagedError, match=f'Item "{item}" was not found'):
        ckpts.restore(2, _abstract(tree))
    ckpts.close()


def test_another_structure_is_not_damage(saved):
    directory, tree = saved
    other = dict(tree, params={"w": np.zeros((64, 32), np.float32)})
    ckpts = Checkpoints(directory)
    with pytest.raises(CheckpointStructureError):
        ckpts.restore(2, _abstract(other))
    ckpts.close()


def test_set_aside_moves_and_keeps(saved):
    directory, tree = saved
    ckpts = Checkpoints(directory)
    files = sorted(p.relative_to(directory / "2") for p in (directory / "2").rglob("*"))
    moved = ckpts.set_aside(2)
    assert moved == directory.with_name("checkpoints.damaged") / "2"
    assert sorted(p.relative_to(moved) for p in moved.rglob("*")) == files
    assert ckpts.all_steps() == [1] and ckpts.latest_step() == 1
    ckpts.close()


def _unretrieved_failure(filename):
    """Run a task whose coroutine is defined in `filename`, let it fail, never retrieve its
    exception, and let it be garbage-collected: asyncio then logs 'Task exception was never
    retrieved' with the task's repr (which names `filename`)."""
    namespace = {}
    source = "async def async_deserialize():\n    raise ValueError('OUT_OF_RANGE: byte range')\n"
    exec(compile(source, filename, "exec"), namespace)
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(namespace["async_deserialize"]())
        loop.run_until_complete(asyncio.sleep(0.01))
        assert task.done()
    finally:
        loop.close()
    del task
    gc.collect()


def test_unretrieved_orbax_read_failures_are_not_logged_twice(tmp_path, caplog):
    """After a failed restore, orbax's other read tasks of that checkpoint end with the same error,
    unretrieved; asyncio logs each as a traceback when it is collected. Once `Checkpoints` exists,
    such records of tasks defined in orbax are dropped; any other task's still show."""
    Checkpoints(tmp_path / "checkpoints").close()
    with caplog.at_level("ERROR", logger="asyncio"):
        _unretrieved_failure(os.path.join(os.sep, "site-packages", "orbax", "serialization.py"))
        assert not [r for r in caplog.records if r.name == "asyncio"]
        _unretrieved_failure(os.path.join(os.sep, "site-packages", "mine", "reader.py"))
        logged = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert len(logged) == 1 and logged[0].startswith("Task exception was never retrieved")
    assert "mine" in logged[0] and "OUT_OF_RANGE" in str(caplog.records[-1].exc_info[1])
