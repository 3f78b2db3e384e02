"""Seed ensembles (`train.seeds`): member m of an ensemble trained in one vmapped program is the
single run of seed `config.seed + m` (compared with those runs, trained separately), the
ensemble resumes bitwise from a checkpoint, its evaluation writes each member as that run and
the summary's mean ± std is the one of the single runs' scores, and a stored config from before
the field existed still resumes and is still skipped by compare."""

import importlib
import json
import shutil

import jax
import numpy as np
import pytest
from synthetic_data import write_synthetic

from pimrl_jax import compare
from pimrl_jax import evaluate as evaluate_lib
from pimrl_jax import train as train_lib
from pimrl_jax.checkpoint import Checkpoints
from pimrl_jax.models import registry
from solvers import dataset as dataset_lib

# Stage 1: global steps 1-3, stage 2: 4-6 (a curriculum phase change at 5); two steps per call.
TRAIN = dict(
    micro_steps=3,
    steps=3,
    batch_size=2,
    window=2,
    curriculum=(1, 2),
    checkpoint_every=2,
    log_every=2,
    steps_per_call=2,
)


def config_for(path, seed: int, seeds: int):
    config = importlib.import_module("experiments.gs2d").get_config("smoke")
    config.data.path = str(path)
    config.model.name = "percnn"
    config.train.update(TRAIN)
    config.seed, config.train.seeds = seed, seeds
    return config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "gs2d-smoke.h5"
    config = config_for(path, 0, 1)
    write_synthetic(config, str(path))
    return path, dataset_lib.load(str(path), config.data)


def assert_close(actual, expected, rtol=2e-5):
    """max|a − e| ≤ rtol · max|e| per leaf (vmap batches the arithmetic differently)."""
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        assert a.shape == e.shape
        assert np.max(np.abs(a - e)) <= rtol * max(np.max(np.abs(e)), 1e-30)


def records(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").open()]


def test_ensemble_members_are_the_single_runs_of_their_seeds(dataset, tmp_path):
    path, data = dataset
    base, seeds = 1, 2
    config = config_for(path, base, seeds)
    model = registry.build_model(config)
    ens = train_lib.train(config, model, data, tmp_path / "ensemble", progress=False)
    assert train_lib.member_seeds(config) == [1, 2]
    assert jax.tree.leaves(ens.params)[0].shape[0] == seeds

    singles = {}
    for m in range(seeds):
        single = config_for(path, base + m, 1)  # what --config.seed=<base + m> trains
        info = train_lib.train(single, model, data, tmp_path / f"seed{base + m}", progress=False)
        singles[m] = info.params
        assert_close(jax.tree.map(lambda x, m=m: x[m], ens.params), info.params)
        # The logged losses of member m are the single run's.
        ens_loss = [r["loss_per_seed"][m] for r in records(tmp_path / "ensemble")]
        one_loss = [r["loss"] for r in records(tmp_path / f"seed{base + m}")]
        np.testing.assert_allclose(ens_loss, one_loss, rtol=1e-5)
    # Members differ from each other (own init and batch stream), so the check above has teeth.
    a, b = (np.asarray(jax.tree.leaves(singles[m])[0]) for m in range(2))
    assert not np.allclose(a, b)

    meta = Checkpoints(tmp_path / "ensemble" / "checkpoints")
    assert meta.restore_meta(meta.latest_step())["seeds"] == [1, 2]
    meta.close()

    # Evaluation: each member is scored as its single run, the summary is their mean ± std.
    config.eval.diagnostics = False
    out = evaluate_lib.evaluate_ensemble(
        config, model, ens.params, data, str(tmp_path / "ensemble"), extra={"train_time_s": 4.0}
    )
    rmse = []
    for m in range(seeds):
        single = config_for(path, base + m, 1)
        single.eval.diagnostics = False
        ref = evaluate_lib.evaluate(single, model, singles[m], data, str(tmp_path / f"ref{m}"))
        member_file = tmp_path / "ensemble" / f"seed{base + m}" / "results.json"
        member = json.loads(member_file.read_text())
        assert member["config"] == evaluate_lib.config_to_dict(single)
        assert member["train_time_s"] == 2.0 and member["ensemble_train_time_s"] == 4.0
        np.testing.assert_allclose(member["rmse"], ref["rmse"], rtol=1e-4)
        rmse.append(member["rmse"])
    summary = json.loads((tmp_path / "ensemble" / "results.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["rmse_per_seed"] == rmse
    np.testing.assert_allclose(summary["rmse"], np.mean(rmse), rtol=1e-12)
    np.testing.assert_allclose(summary["rmse_std"], np.std(rmse), rtol=1e-9, atol=1e-15)
    assert out["rmse"] == summary["rmse"] and summary["train_time_s"] == 4.0


def test_ensemble_resumes_bitwise_from_a_checkpoint(dataset, tmp_path):
    path, data = dataset
    config = config_for(path, 0, 3)
    model = registry.build_model(config)
    straight = train_lib.train(config, model, data, tmp_path / "run", progress=False)
    # Checkpoints at 3 (end of stage 1), 4, 6 are kept; drop the last two: the rerun resumes at
    # the stage boundary (a fresh optimiser for every member) and trains stage 2 again.
    ckpts = tmp_path / "run" / "checkpoints"
    for step in (4, 6):
        shutil.rmtree(ckpts / str(step))
    resumed = train_lib.train(config, model, data, tmp_path / "run", progress=False)
    assert resumed.resumed_from == 3 and resumed.final_step == 6
    for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Another ensemble size is another run: refused by name.
    with pytest.raises(train_lib.ConfigMismatchError, match="train.seeds: stored 3, now 2"):
        train_lib.train(config_for(path, 0, 2), model, data, tmp_path / "run", progress=False)


def test_configs_stored_before_train_seeds_existed_still_match():
    config = config_for("unused.h5", 0, 1)
    old = train_lib.config_to_flat(config)
    del old["train.seeds"]
    assert train_lib.config_differences(old, train_lib.config_to_flat(config)) == []
    config.train.seeds = 3
    assert train_lib.config_differences(old, train_lib.config_to_flat(config)) == ["train.seeds"]

    wanted = compare.model_config(config_for("unused.h5", 0, 1), "percnn")
    stored = json.loads(json.dumps(wanted))
    del stored["train"]["seeds"]
    assert compare.same_config(stored, wanted)
    assert not compare.same_config(stored, compare.model_config(config, "percnn"))


def test_ensemble_refuses_data_parallel_and_bad_sizes():
    config = config_for("unused.h5", 0, 2)
    config.train.data_parallel = True
    model = registry.build_model(config)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), np.zeros((1, 16, 16, 2)))
    tx = train_lib.make_optimizer(config.train, params, 2)
    with pytest.raises(ValueError, match="does not combine with data-parallel"):
        train_lib.make_train_step(model, config, 2, tx)
    config.train.seeds = 0
    with pytest.raises(ValueError, match="train.seeds=0"):
        train_lib.n_seeds(config)
    config.train.update(dict(seeds=2, data_parallel=False, observation_noise=0.1))
    with pytest.raises(ValueError, match="shares one copy of the training data"):
        train_lib.train(config, model, {"train": {}}, "/nonexistent/run", progress=False)


def test_a_nan_in_one_member_stops_the_ensemble_and_names_it(dataset, tmp_path):
    """One burst is NaN and member 1 draws it (at a step found by drawing the batches the way
    training does) before member 0 ever does: the stop names member 1, its seed and that step."""
    path, data = dataset
    config = config_for(path, 5, 2)
    config.train.update(dict(micro_steps=12, steps=2, checkpoint_every=4, log_every=100))
    train = dict(data["train"])
    bursts = np.asarray(train["bursts"])
    bursts = np.concatenate([bursts.reshape((-1, 1) + bursts.shape[2:])] * 40)  # many rows
    _, keys = train_lib._keys(config)
    first = [{}, {}]  # per member: row -> the 1-based step that first draws it
    for m in range(2):
        for step in range(12):
            rows = jax.random.randint(jax.random.fold_in(keys[m], step), (2,), 0, len(bursts))
            for row in np.asarray(rows):
                first[m].setdefault(int(row), step + 1)
    row, bad = next(
        (r, s) for r, s in sorted(first[1].items()) if s > 4 and first[0].get(r, 99) > s
    )
    bursts[row, 0, -1] = np.nan
    train["bursts"] = bursts
    with pytest.raises(train_lib.NonFiniteLossError) as err:
        train_lib.train(
            config,
            registry.build_model(config),
            {**data, "train": train},
            tmp_path / "run",
            progress=False,
        )
    assert f"of ensemble member 1 (seed 6) in stage 1 (micro) at step {bad} of 12" in str(err.value)
    assert err.value.step == bad and err.value.last_good_step == 4 * ((bad - 1) // 4)
