"""Training: batches are the frames they claim to be, every trainable model learns on every
system, stages train the right modules, a NaN stops training without a bad checkpoint, and a
changed config is refused by name."""

import importlib
import json
import pathlib
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from synthetic_data import write_synthetic

from experiments.common import EXPERIMENTS
from pimrl_jax import data as data_lib
from pimrl_jax import train as train_lib
from pimrl_jax.checkpoint import Checkpoints
from pimrl_jax.models import registry
from solvers import dataset as dataset_lib

TRAINABLE = ("pimrl", "percnn", "convlstm", "fno", "crop")


def smoke_config(exp, path=None):
    config = importlib.import_module(f"experiments.{exp}").get_config("smoke")
    if path is not None:
        config.data.path = str(path)
    return config


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """smoke_data(exp, motion="travel") -> a synthetic smoke dataset, written and read through
    solvers.dataset (made once per session)."""
    root = tmp_path_factory.mktemp("data")
    cache = {}

    def get(exp, motion="travel"):
        if (exp, motion) not in cache:
            config = smoke_config(exp, root / f"{exp}-{motion}-smoke.h5")
            write_synthetic(config, config.data.path, motion)
            cache[exp, motion] = dataset_lib.load(config.data.path, config.data)
        return cache[exp, motion]

    return get


# ---------------------------------------------------------------------------------------------
# Batches


def test_window_starts_are_aligned_and_fit():
    starts = data_lib.window_starts(n_macro_steps=10, window=4, stride=3)
    np.testing.assert_array_equal(starts, [0, 3, 6])
    np.testing.assert_array_equal(data_lib.window_starts(10, 4, 1), np.arange(7))
    with pytest.raises(ValueError, match="train.window=12 exceeds the 10 macro steps"):
        data_lib.window_starts(10, 12, 1)


@pytest.mark.parametrize("stride", [1, 2])
def test_sampled_windows_are_frames_of_the_sequence(stride):
    rng = np.random.default_rng(0)
    macro = rng.normal(size=(3, 9, 5, 2)).astype(np.float32)  # (traj, T+1, x, C)
    window = 3
    u0, target = data_lib.sample_windows(
        jnp.asarray(macro), jax.random.PRNGKey(4), 16, window, stride
    )
    assert u0.shape == (16, 5, 2) and target.shape == (16, window, 5, 2)
    seen = set()
    for b in range(16):
        # Find the (trajectory, start) this sample came from, with a plain loop.
        matches = [
            (t, s)
            for t in range(3)
            for s in range(0, 8 - window + 1, stride)
            if np.array_equal(macro[t, s], u0[b])
        ]
        assert len(matches) == 1, "u0 is not a valid window start"
        t, s = matches[0]
        np.testing.assert_array_equal(target[b], macro[t, s + 1 : s + 1 + window])
        seen.add((t, s))
    assert len(seen) > 3  # really random, not one window repeated


def test_pimrl_windows_start_at_cycles_or_anywhere_as_configured():
    """Stage 2's window spacing: N for the PIMRL cycle with window_starts "cycle" (what older
    runs did, and what a stored run without the field counts as), 1 with "any" and for every
    other model; a stored run without the field compares equal to "cycle", not to "any"."""
    config = smoke_config("kdv", "/nonexistent.h5")
    N = int(config.data.N)

    def stride(name, starts):
        config.train.window_starts = starts
        return train_lib.window_stride(types.SimpleNamespace(name=name), config)

    assert [stride(m, "cycle") for m in ("pimrl", "pimrl_nomp", "percnn", "fno")] == [N, N, 1, 1]
    assert [stride(m, "any") for m in ("pimrl", "pimrl_nomp", "convlstm")] == [1, 1, 1]
    with pytest.raises(ValueError, match="train.window_starts is 'odd'; valid: cycle, any"):
        stride("pimrl", "odd")
    current = {"model.name": "pimrl", "train.window_starts": "any"}
    assert train_lib.config_differences({"model.name": "pimrl"}, current) == ["train.window_starts"]
    assert (
        train_lib.config_differences({"model.name": "fno"}, current | {"model.name": "fno"}) == []
    )


def test_sampled_bursts_are_first_frame_and_followers():
    rng = np.random.default_rng(1)
    bursts = rng.normal(size=(2, 3, 5, 4, 1)).astype(np.float32)  # (traj, n_bursts, k+1, x, C)
    pooled = data_lib.training_arrays({"macro": bursts[:, :, 0], "bursts": bursts})["bursts"]
    u0, target = data_lib.sample_bursts(pooled, jax.random.PRNGKey(0), 8)
    flat = bursts.reshape(6, 5, 4, 1)
    for b in range(8):
        i = [j for j in range(6) if np.array_equal(flat[j, 0], u0[b])]
        assert len(i) == 1
        np.testing.assert_array_equal(target[b], flat[i[0], 1:])


# ---------------------------------------------------------------------------------------------
# Every trainable model learns: PIMRL on every system, the others in 1D and in 2D or 3D


# PeRCNN's Π-block starts near zero, so in a few steps it learns mostly its diffusion
# coefficient: it gets data that term explains (heat-equation decay) and a larger step. The
# others get travelling waves: they start as near-identity maps, and on slowly decaying data
# their first Adam steps (every weight and bias moves by lr) cost more than they gain.
LR = {"percnn": 3e-2}
MOTION = {"percnn": "heat"}


# The micro module carries each system's known physics, so PIMRL trains on every system; every
# other model trains in 1D and in 2D or 3D (their code is the same for every system of a
# dimension; tests/test_models.py checks each model in 1D, 2D and 3D). PeRCNN's micro module is
# PIMRL's; on Gray–Scott it needs 30 to 60 steps at a smaller rate to lower the loss (its first
# Adam steps move each macro frame by k·δt·lr), so it trains on KdV and Burgers here.
CASES = [(exp, "pimrl") for exp in EXPERIMENTS] + [
    ("kdv", "percnn"),
    ("burgers", "percnn"),
    ("kdv", "convlstm"),
    ("gs3d", "convlstm"),
    ("kdv", "fno"),
    ("gs2d", "fno"),
    ("fn", "crop"),
    ("gs3d", "crop"),
]
assert {m for _, m in CASES} == set(TRAINABLE) and {e for e, _ in CASES} == set(EXPERIMENTS)


@pytest.mark.parametrize("exp,model_name", CASES)
def test_a_few_steps_on_one_batch_lower_the_loss(smoke_data, exp, model_name):
    from pimrl_jax.models.registry import build_model

    config = smoke_config(exp)
    config.model.name = model_name
    model = build_model(config)
    arrays = data_lib.training_arrays(smoke_data(exp, MOTION.get(model_name, "travel"))["train"])
    window = int(config.data.N)  # one PIMRL cycle
    batch = data_lib.sample_windows(arrays["macro"], jax.random.PRNGKey(0), 2, window, window)
    params = jax.jit(model.init)(jax.random.PRNGKey(1), batch[0][:1])
    train_config = config.train.copy_and_resolve_references()
    train_config.lr, n_steps = LR.get(model_name, 1e-2), 10
    tx = train_lib.make_optimizer(train_config, params, stage=2)
    update = jax.jit(train_lib.make_update(train_lib.make_loss(model, 2), tx))
    state = train_lib.init_state(params, tx, 2, 0)
    losses = []
    for _ in range(n_steps):
        state, metrics = update(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.98 * losses[0], losses


# ---------------------------------------------------------------------------------------------
# Stages, freezing, NaN, config (a toy model keeps these fast: u ← u + a·Δ²u per micro step)


def _lap(u):
    return jnp.roll(u, 1, axis=1) + jnp.roll(u, -1, axis=1) - 2.0 * u


def toy_model(k):
    """A PIMRL-shaped model: micro u ← u + a·Δ²u; macro step = k micro steps then + w·Δ²."""

    def init(key, u):
        del key, u
        return {
            "micro": {"a": jnp.zeros((), jnp.float32)},
            "macro": {"w": jnp.zeros((), jnp.float32)},
        }

    def micro_rollout(params, u0, n):
        def body(u, _):
            u = u + params["micro"]["a"] * _lap(u)
            return u, u

        return jnp.moveaxis(jax.lax.scan(body, u0, None, length=n)[1], 0, 1)

    def rollout(params, u0, n):
        def body(u, _):
            v = micro_rollout(params, u, k)[:, -1]
            v = v + params["macro"]["w"] * _lap(v)
            return v, v

        return jnp.moveaxis(jax.lax.scan(body, u0, None, length=n)[1], 0, 1)

    def micro_alone(params, u0, n):
        return micro_rollout(params, u0, n * k)[:, k - 1 :: k]

    return types.SimpleNamespace(
        name="pimrl",
        params_from="pimrl",
        init=init,
        rollout=rollout,
        micro_rollout=micro_rollout,
        micro_alone=micro_alone,
    )


def toy_config(tmp_path, **train):
    config = smoke_config("kdv", tmp_path / "unused.h5")
    config.train.update(
        dict(
            micro_steps=4, steps=4, window=2, batch_size=2, lr=1e-2, checkpoint_every=3, log_every=2
        )
    )
    config.train.update(train)
    return config


def test_stage1_trains_micro_only_and_freeze_micro_keeps_it(smoke_data):
    model = toy_model(k=4)
    params = model.init(None, None)
    arrays = data_lib.training_arrays(smoke_data("kdv")["train"])
    burst = data_lib.sample_bursts(arrays["bursts"], jax.random.PRNGKey(0), 2)
    window = data_lib.sample_windows(arrays["macro"], jax.random.PRNGKey(0), 2, 2, 2)
    config = toy_config(pathlib.Path("/nonexistent"))

    def run(stage, batch, freeze):
        train_config = config.train.copy_and_resolve_references()
        train_config.freeze_micro = freeze
        tx = train_lib.make_optimizer(train_config, params, stage)
        update = train_lib.make_update(train_lib.make_loss(model, stage), tx)
        state, _ = update(train_lib.init_state(params, tx, stage, 0), batch)
        return state["params"]

    p1 = run(1, burst, freeze=False)
    assert float(p1["micro"]["a"]) != 0.0 and float(p1["macro"]["w"]) == 0.0
    p2 = run(2, window, freeze=True)
    assert float(p2["micro"]["a"]) == 0.0 and float(p2["macro"]["w"]) != 0.0
    p3 = run(2, window, freeze=False)
    assert float(p3["micro"]["a"]) != 0.0 and float(p3["macro"]["w"]) != 0.0


def test_micro_rollout_stage_trains_the_micro_module_alone_over_macro_windows(smoke_data, tmp_path):
    """Stage 3 runs between the micro and the macro stage, for the number of steps asked,
    with its own window lengths; it trains only the micro module, against macro frames reached
    by k micro steps each (the toy's micro module, rolled by hand, is the reference)."""
    k = 4
    model = toy_model(k=k)
    dataset = {"train": smoke_data("kdv")["train"]}
    config = toy_config(tmp_path, micro_rollout_steps=4, micro_rollout_curriculum=(1, 3))
    assert train_lib.stages_of(model, config.train) == [(1, 4), (3, 4), (2, 4)]
    arrays = data_lib.training_arrays(dataset["train"])
    u0, target = data_lib.sample_windows(arrays["macro"], jax.random.PRNGKey(1), 2, 3, 1)
    params = {"micro": {"a": jnp.asarray(0.05)}, "macro": {"w": jnp.asarray(0.3)}}
    u, frames = u0, []
    for _ in range(3):
        for _ in range(k):
            u = u + 0.05 * _lap(u)
        frames.append(u)
    expected = np.sqrt(np.mean((np.stack(frames, 1) - np.asarray(target)) ** 2))
    loss = train_lib.make_loss(model, 3)(params, (u0, target))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)

    info = train_lib.train(config, model, dataset, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [(r["stage"], r["window"], r["step"]) for r in records] == [
        (1, None, 2),
        (1, None, 4),
        (3, 1, 6),
        (3, 3, 8),
        (2, 2, 10),
        (2, 2, 12),
    ]
    assert info.final_step == 12 and float(info.params["macro"]["w"]) != 0.0
    # Only the micro module moves in stages 1 and 3: the same run without stage 2.
    config.train.steps = 0
    info = train_lib.train(config, model, dataset, tmp_path / "no_stage2", progress=False)
    assert info.final_step == 8 and float(info.params["macro"]["w"]) == 0.0
    assert float(info.params["micro"]["a"]) != 0.0


def test_step_scale_trains_exactly_the_shortened_recipe(smoke_data, tmp_path):
    """train.step_scale = 0.5 on micro 8 + rollout 4 + macro 6 steps, decay every 4 and a
    two-phase curriculum is the run of the recipe written out by hand at half length (4 + 2 + 3
    steps, decay every 2): the same metrics record, the same parameters bit for bit."""
    model = toy_model(k=4)
    dataset = {"train": smoke_data("kdv")["train"]}
    common = dict(micro_rollout_curriculum=(1, 2), curriculum=(1, 2), log_every=1)
    scaled = toy_config(
        tmp_path,
        micro_steps=8,
        micro_rollout_steps=4,
        steps=6,
        lr_decay_every=4,
        step_scale=0.5,
        **common,
    )
    by_hand = toy_config(
        tmp_path, micro_steps=4, micro_rollout_steps=2, steps=3, lr_decay_every=2, **common
    )
    assert train_lib.stages_of(model, scaled.train) == [(1, 4), (3, 2), (2, 3)]
    runs = {}
    for name, config in (("scaled", scaled), ("by_hand", by_hand)):
        info = train_lib.train(config, model, dataset, tmp_path / name, progress=False)
        lines = (tmp_path / name / "metrics.jsonl").open()
        records = [{k: v for k, v in json.loads(x).items() if k != "steps_per_s"} for x in lines]
        runs[name] = (info.final_step, jax.tree.map(np.asarray, info.params), records)
    assert runs["scaled"][0] == runs["by_hand"][0] == 9
    assert runs["scaled"][2] == runs["by_hand"][2]
    assert [r["window"] for r in runs["scaled"][2]] == [None] * 4 + [1, 2] + [1, 1, 2]
    jax.tree.map(np.testing.assert_array_equal, runs["scaled"][1], runs["by_hand"][1])
    with pytest.raises(ValueError, match="step_scale must be > 0"):
        train_lib.stages_of(model, toy_config(tmp_path, step_scale=0.0).train)


def test_the_micro_rollout_stage_is_pimrls_alone():
    config = toy_config(pathlib.Path("/nonexistent"), micro_rollout_steps=4)
    percnn = types.SimpleNamespace(
        name="percnn", params_from="percnn", micro_rollout=object(), micro_alone=None
    )
    assert train_lib.stages_of(percnn, config.train) == [(1, 4), (2, 4)]
    assert registry.never_reads("percnn", "train.micro_rollout_steps")
    assert not registry.never_reads("pimrl", "train.micro_rollout_curriculum")
    built = registry.build_model(smoke_config("kdv", "/nonexistent.h5"))
    assert built.micro_alone is not None


def test_nan_stops_the_stage_and_keeps_the_last_good_checkpoint(smoke_data, tmp_path):
    dataset = {"train": dict(smoke_data("kdv")["train"])}
    macro = np.array(dataset["train"]["macro"])
    macro[:, 1:] = np.nan  # stage 2 targets are NaN; bursts (stage 1) are clean
    dataset["train"]["macro"] = macro
    config = toy_config(tmp_path, lr_decay_every=2)
    with pytest.raises(train_lib.NonFiniteLossError, match=r"stage 2 \(macro\) at step 1 of 4"):
        train_lib.train(config, toy_model(4), dataset, tmp_path / "run", progress=False)
    ckpts = Checkpoints(tmp_path / "run" / "checkpoints")
    assert ckpts.latest_step() == 4  # the end of stage 1, nothing after it
    ckpts.close()
    params, step = train_lib.restore_params(config, toy_model(4), dataset, tmp_path / "run")
    assert step == 4
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [2, 4] and all(np.isfinite(r["loss"]) for r in records)
    # Staircase decay within the stage: lr(i) = 1e-2 * 0.5 ** floor(i / 2), i = 1 and 3 here.
    np.testing.assert_allclose([r["lr"] for r in records], [1e-2, 5e-3], rtol=1e-6)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", registry.MODELS)
def test_a_model_is_the_same_without_the_fields_it_never_reads(name):
    """registry.READS is what the code reads: with every model-specific field the model does not
    read deleted from its config, it builds, plans the same stages and rolls out the same frames,
    so a change there rightly leaves its finished runs reusable."""
    full = smoke_config("kdv")
    full.model.name = name
    bare = full.copy_and_resolve_references()
    with bare.unlocked():
        for field in registry.unread_fields(name):
            parent, _, key = field.rstrip(".").rpartition(".")
            del bare[parent][key]
    u0 = jnp.asarray(np.sin(np.linspace(0, 2 * np.pi, 32, endpoint=False)))[None, :, None]
    outputs = []
    for config in (full, bare):
        model = registry.build_model(config)
        params = model.init(jax.random.PRNGKey(0), u0)
        trains = name in registry.LEARNED and model.params_from == name  # references never train
        stages = train_lib.stages_of(model, config.train) if trains else None
        outputs.append((stages, np.asarray(model.rollout(params, u0, 3))))
    assert outputs[0][0] == outputs[1][0]
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_config_differences_skip_only_the_fields_the_model_never_reads():
    stored = {"model.name": "convlstm", "model.micro.c_up": 1.0, "model.macro.features": 8}
    changed_micro = {**stored, "model.micro.c_up": 2.0}
    assert train_lib.config_differences(stored, changed_micro) == []
    changed_macro = {**stored, "model.macro.features": 16}
    assert train_lib.config_differences(stored, changed_macro) == ["model.macro.features"]
    percnn = {**stored, "model.name": "percnn"}
    assert train_lib.config_differences(percnn, {**changed_micro, "model.name": "percnn"}) == [
        "model.micro.c_up"
    ]
    assert train_lib.config_differences(stored, {**changed_micro, "model.name": "percnn"}) == [
        "model.micro.c_up",
        "model.name",
    ]
    # compare's reuse check of finished runs agrees.
    from pimrl_jax import compare

    def run(name, c_up):
        return {"model": {"name": name, "micro": {"c_up": c_up}, "macro": {"features": 8}}}

    assert compare.same_config(run("convlstm", 1.0), run("convlstm", 2.0))
    assert not compare.same_config(run("percnn", 1.0), run("percnn", 2.0))
    assert not compare.same_config(run("convlstm", 1.0), run("percnn", 2.0))


def test_a_finished_run_stays_reusable_when_only_speed_or_reporting_fields_change():
    from pimrl_jax import compare

    stored = {
        "model": {"name": "pimrl", "remat": False, "micro": {"c_up": 1.0}},
        "train": {"lr": 1e-3, "steps_per_call": 1, "data_parallel": 1, "log_every": 50},
        "eval": {"hct_threshold": 0.8},
    }
    fast = {
        "model": {"name": "pimrl", "remat": True, "micro": {"c_up": 1.0}},
        "train": {"lr": 1e-3, "steps_per_call": 10, "data_parallel": 4, "log_every": 5},
        "eval": {"hct_threshold": 0.8},
    }
    assert compare.same_config(stored, fast)
    # A field that changes training, or evaluation, still makes the run stale.
    assert not compare.same_config(stored, {**fast, "train": {**fast["train"], "lr": 2e-3}})
    assert not compare.same_config(stored, {**fast, "eval": {"hct_threshold": 0.7}})
    # Every field skipped here is one the trainer lets a resumption change as well.
    assert set(train_lib.NO_EFFECT_FIELDS) <= set(train_lib.RESUMABLE_CHANGES)


def test_the_validation_split_may_change_under_a_trained_run_but_not_the_training_split():
    stored = {"model.name": "percnn", "data.n_train": 5, "data.n_val": 3, "data.seed_val": 3}
    more_val = {**stored, "data.n_val": 16, "data.seed_val": 4}
    assert train_lib.config_differences(stored, more_val) == []
    more_train = {**stored, "data.n_train": 6}
    assert train_lib.config_differences(stored, more_train) == ["data.n_train"]


def test_a_changed_config_is_refused_by_name(smoke_data, tmp_path):
    model, dataset = toy_model(4), smoke_data("kdv")
    config = toy_config(tmp_path)
    first = train_lib.train(config, model, dataset, tmp_path / "run", progress=False)
    assert first.final_step == 8 and first.resumed_from is None
    changed = toy_config(tmp_path, lr=0.5)
    changed.model.micro.hidden = 3
    with pytest.raises(train_lib.ConfigMismatchError, match="train.lr") as err:
        train_lib.train(changed, model, dataset, tmp_path / "run", progress=False)
    assert "model.micro.hidden" in str(err.value) and "--allow_config_change" in str(err.value)
    # Fields that do not change what is trained may differ.
    relaxed = toy_config(tmp_path, log_every=1)
    relaxed.eval.batch_size = 1
    again = train_lib.train(relaxed, model, dataset, tmp_path / "run", progress=False)
    assert again.resumed_from == 8 and again.final_step == 8
    allowed = train_lib.train(
        changed, model, dataset, tmp_path / "run", progress=False, allow_config_change=True
    )
    assert allowed.resumed_from == 8
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["train.lr"] == 0.5


def test_pimrl_nomp_has_no_training_of_its_own():
    nomp = types.SimpleNamespace(name="pimrl_nomp", params_from="pimrl", micro_rollout=None)
    with pytest.raises(ValueError, match="evaluates the parameters of 'pimrl'"):
        train_lib.stages_of(nomp, smoke_config("kdv").train)


def test_curriculum_grows_the_window_in_equal_phases(smoke_data, tmp_path):
    model = toy_model(4)
    lengths = []
    rollout = model.rollout

    def recording_rollout(params, u0, n):
        lengths.append(n)  # at trace time: one entry per compiled window length
        return rollout(params, u0, n)

    model = types.SimpleNamespace(**{**vars(model), "rollout": recording_rollout})
    config = toy_config(tmp_path, steps=6, curriculum=(1, 2, 4), log_every=1)
    train_lib.train(config, model, smoke_data("kdv"), tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    stage2 = [r["window"] for r in records if r["stage"] == 2]
    assert stage2 == [1, 1, 2, 2, 4, 4]
    assert sorted(set(lengths)) == [1, 2, 4]
    assert [train_lib.curriculum_window(config.train, i, 7) for i in range(7)] == [
        1,
        1,
        1,
        2,
        2,
        4,
        4,
    ]
    assert train_lib.curriculum(toy_config(tmp_path).train) == (2,)  # no curriculum: the window


def test_input_noise_has_the_requested_scale_and_splits_by_rows():
    u0 = jnp.zeros((512, 16, 2), jnp.float32)
    scale = jnp.asarray([2.0, 0.5], jnp.float32)
    key = jax.random.PRNGKey(5)
    noisy = np.asarray(data_lib.add_input_noise(u0, key, scale, 0.1))
    np.testing.assert_allclose(noisy.reshape(-1, 2).std(axis=0), [0.2, 0.05], rtol=0.03)
    share = data_lib.add_input_noise(
        u0[:128], key, scale, 0.1, start=128, count=128, batch_size=512
    )
    np.testing.assert_array_equal(np.asarray(share), noisy[128:256])


@pytest.mark.parametrize("field, value", [("input_noise", 0.1), ("pushforward", 1)])
def test_rollout_modifiers_reach_the_rollout_windows_not_the_micro_pretraining(
    smoke_data, tmp_path, field, value
):
    """PeRCNN on gs2d smoke, both stages, with and without `train.input_noise` (or
    `train.pushforward`): stage 1 (bursts, one-micro-step targets) logs bitwise the same losses,
    stage 2 (macro windows) other ones."""
    dataset = smoke_data("gs2d")
    losses = {}
    for setting in (0, value):
        config = smoke_config("gs2d", tmp_path / "unused.h5")
        config.model.name = "percnn"
        config.train.update(dict(micro_steps=4, steps=4, log_every=1, **{field: setting}))
        run = tmp_path / f"{field}{setting}"
        train_lib.train(config, registry.build_model(config), dataset, run, progress=False)
        records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
        losses[setting] = {
            stage: [r["loss"] for r in records if r["stage"] == stage] for stage in (1, 2)
        }
    assert len(losses[0][1]) == 4 and len(losses[0][2]) == 4
    assert losses[value][1] == losses[0][1]
    assert all(a != b for a, b in zip(losses[value][2], losses[0][2], strict=True))


def test_pushforward_trains_from_the_models_own_prediction_without_its_gradient():
    """`train.pushforward` = 1 on a toy model whose rollout multiplies by `a` each step: the loss
    is the RMSE of the n - 1 frames predicted from its own first frame a·u0 against target[1:],
    and the gradient holds that first frame fixed (written out by hand in NumPy); windows of one
    frame and the micro pretraining (stage 1) train as without it."""

    def powers(params, u0, n):
        a = params["a"]
        return jnp.stack([u0 * a**i for i in range(1, n + 1)], axis=1)

    toy = types.SimpleNamespace(rollout=powers, micro_rollout=powers, micro_alone=powers)
    rng = np.random.default_rng(3)
    u0, target = rng.normal(size=(3, 5, 1)), rng.normal(size=(3, 4, 5, 1))
    a = 0.9
    u1 = a * u0  # the pushed-forward frame, a constant for the gradient
    i = np.arange(1, 4).reshape(1, 3, 1, 1)
    pred = u1[:, None] * a**i
    err = pred - target[:, 1:]
    want_loss = np.sqrt(np.mean(err**2))
    want_grad = np.mean(err * i * u1[:, None] * a ** (i - 1)) / want_loss

    loss = train_lib.make_loss(toy, 2, pushforward=1)
    value, grad = jax.value_and_grad(loss)({"a": jnp.asarray(a)}, (u0, target))
    np.testing.assert_allclose(value, want_loss, rtol=1e-5)
    np.testing.assert_allclose(grad["a"], want_grad, rtol=1e-5)
    plain = train_lib.make_loss(toy, 2)
    for stage, batch in ((2, (u0, target[:, :1])), (1, (u0, target))):
        np.testing.assert_array_equal(
            train_lib.make_loss(toy, stage, pushforward=1)({"a": a}, batch),
            train_lib.make_loss(toy, stage)({"a": a}, batch),
        )
    assert not np.isclose(plain({"a": a}, (u0, target)), value)


# ---------------------------------------------------------------------------------------------
# Several steps per dispatch (train.steps_per_call)


def test_steps_per_call_is_bitwise_one_step_per_call(smoke_data, tmp_path):
    """A real model (PeRCNN on gs2d smoke, both stages, with a curriculum): 4 steps per call
    give bitwise the params, checkpoints and logged losses of one step per call, with chunks cut
    at every log, checkpoint, stage end and curriculum phase."""
    dataset = smoke_data("gs2d")
    runs = {}
    for n in (1, 4):
        config = smoke_config("gs2d", tmp_path / "unused.h5")
        config.model.name = "percnn"
        config.train.update(
            dict(micro_steps=5, steps=7, checkpoint_every=6, log_every=5, curriculum=(1, 2))
        )
        config.train.steps_per_call = n
        model = registry.build_model(config)
        info = train_lib.train(config, model, dataset, tmp_path / f"run{n}", progress=False)
        records = [json.loads(line) for line in (tmp_path / f"run{n}" / "metrics.jsonl").open()]
        ckpts = Checkpoints(tmp_path / f"run{n}" / "checkpoints")
        runs[n] = (info.params, records, ckpts.all_steps())
        ckpts.close()
    (p1, r1, c1), (p4, r4, c4) = runs[1], runs[4]
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p4), strict=True):
        np.testing.assert_array_equal(a, b)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rs]  # noqa: E731
    assert strip(r1) == strip(r4)
    assert [r["step"] for r in r4] == [5, 10, 12] and [r["window"] for r in r4] == [None, 2, 2]
    assert sorted(c1) == sorted(c4)


@pytest.mark.parametrize("n", [1, 4])
def test_nan_in_the_middle_of_a_call_names_the_first_bad_step(smoke_data, tmp_path, n):
    """One burst is NaN; the step that first draws it (found here by drawing the batches the
    way training does) is not the first of its call: the message names exactly that step."""
    dataset = {"train": dict(smoke_data("kdv")["train"])}
    config = toy_config(
        tmp_path, micro_steps=12, steps=2, checkpoint_every=4, log_every=100, steps_per_call=n
    )
    bursts = np.array(dataset["train"]["bursts"])
    bursts = np.concatenate([bursts.reshape((-1, 1) + bursts.shape[2:])] * 40)  # many rows
    _, train_key = train_lib._keys(config)
    first_draw = {}
    for step in range(12):
        key = jax.random.fold_in(train_key, step)
        rows = jax.random.randint(key, (config.train.batch_size,), 0, bursts.shape[0])
        for row in np.asarray(rows):
            first_draw.setdefault(int(row), step + 1)  # the 1-based step that draws it
    # A row first drawn at a step inside a call of 4 (not its first) and after the checkpoint 4.
    row, bad = next((r, s) for r, s in sorted(first_draw.items()) if s > 5 and s % 4 != 1)
    bursts[row, 0, -1] = np.nan  # the last fine frame of that burst (training pools them)
    dataset["train"]["bursts"] = bursts
    with pytest.raises(train_lib.NonFiniteLossError) as err:
        train_lib.train(config, toy_model(4), dataset, tmp_path / "run", progress=False)
    assert f"stage 1 (micro) at step {bad} of 12 (global step {bad}," in str(err.value)
    last_good = 4 * ((bad - 1) // 4)
    assert f"the last good checkpoint is step {last_good} " in str(err.value)
    assert err.value.step == bad and err.value.last_good_step == last_good
    ckpts = Checkpoints(tmp_path / "run" / "checkpoints")
    assert ckpts.all_steps() == list(range(4, last_good + 1, 4))
    ckpts.close()
