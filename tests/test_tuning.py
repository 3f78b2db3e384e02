"""Per-model tuned settings (`config.tuned`): applied to the named model only (and to the model
whose parameters another evaluates), never over the command line, and seen identically by the
trainer's CLI and by compare's reuse check."""

import json
import pathlib
import subprocess
import sys
import textwrap

import pytest
from synthetic_data import write_synthetic

from experiments.kdv import get_config
from pimrl_jax import compare, tuning

ROOT = pathlib.Path(__file__).resolve().parent.parent

TUNED = {
    "pimrl": {"train": {"lr": 0.0123, "curriculum": [1, 2]}, "model": {"micro": {"hidden": 3}}},
    "persistence": {"eval": {"hct_threshold": 0.5, "n_snapshots": 3}},
}


def _config(model: str):
    config = get_config("smoke")
    config.tuned = TUNED
    config.model.name = model
    return config


def test_settings_go_to_their_model_only():
    plain = get_config("smoke")
    pimrl = tuning.apply_tuned(_config("pimrl"))
    assert pimrl.train.lr == 0.0123 and tuple(pimrl.train.curriculum) == (1, 2)
    assert pimrl.model.micro.hidden == 3
    assert pimrl.train.steps == plain.train.steps  # untouched fields keep the defaults
    # pimrl_nomp evaluates pimrl's parameters, so it describes the same training.
    nomp = tuning.apply_tuned(_config("pimrl_nomp"))
    assert nomp.train.lr == 0.0123 and nomp.model.micro.hidden == 3
    fno = tuning.apply_tuned(_config("fno"))
    assert fno.train.lr == plain.train.lr and fno.model.micro.hidden == plain.model.micro.hidden


def test_the_command_line_wins_and_unknown_paths_are_named():
    config = tuning.apply_tuned(_config("pimrl"), overridden={"train.lr"})
    assert config.train.lr == get_config("smoke").train.lr
    assert config.model.micro.hidden == 3
    bad = _config("pimrl")
    bad.tuned = {"pimrl": {"train": {"learning_rate": 1.0}}}
    with pytest.raises(ValueError, match="train.learning_rate"):
        tuning.apply_tuned(bad)


def test_compare_checks_reuse_against_the_tuned_config():
    config = _config("pimrl")
    wanted = compare.model_config(config, "pimrl_nomp")
    assert wanted["train"]["lr"] == 0.0123 and wanted["model"]["name"] == "pimrl_nomp"
    overridden = compare.model_config(config, "pimrl", overridden={"train.lr"})
    assert overridden["train"]["lr"] == config.train.lr


def test_the_cli_stores_the_tuned_config(tmp_path):
    """Through `python -m pimrl_jax.main` with an experiment file that records tuned settings:
    the run's results.json holds the tuned value, except the one the command line set."""
    data_path = write_synthetic(get_config("smoke"), str(tmp_path / "kdv-smoke.h5"))
    experiment = tmp_path / "tuned_kdv.py"
    experiment.write_text(
        textwrap.dedent(
            f"""
            from experiments.kdv import get_config as _base

            def get_config(profile):
                config = _base(profile)
                config.tuned = {TUNED!r}
                return config
            """
        )
    )
    workdir = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "pimrl_jax.main",
        f"--config={experiment}:smoke",
        f"--workdir={workdir}",
        f"--config.data.path={data_path}",
        "--config.model.name=persistence",
        "--config.eval.n_snapshots=2",
        "--noprogress",
    ]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    stored = json.loads((workdir / "results.json").read_text())["config"]["eval"]
    assert stored["hct_threshold"] == 0.5 and stored["n_snapshots"] == 2


MODELS_WITH_MICRO = ("pimrl", "pimrl_nomp", "percnn")


def test_each_candidate_pins_every_field_any_candidate_sets():
    """A tuning run is what its candidate says whatever the experiment records: its flags set
    every field of every candidate, to the candidate's values or the experiment's own."""
    plain = get_config("quick")
    recorded = tuning.record(get_config("quick"), {"pimrl": "long_rollout"})

    def flags(candidate):
        return dict(
            f.removeprefix("--config.").split("=", 1)
            for f in tuning.candidate_flags(recorded, candidate)
        )

    default, rollout, pretraining, micro_rollout, unroll = (flags(c) for c in tuning.CANDIDATES)
    assert set(default) == set(rollout) == set(pretraining) == set(micro_rollout) == set(unroll)
    assert default["train.micro_steps"] == str(plain.train.micro_steps)
    assert default["model.micro.init_scale"] == str(plain.model.micro.init_scale)
    assert pretraining["train.micro_steps"] == str(4 * plain.train.micro_steps)
    assert pretraining["model.micro.init_scale"] == "0.2"
    assert pretraining["train.lr"] == str(plain.train.lr)  # stage 2 is the experiment's own
    assert rollout["train.lr"] == "0.003"
    # micro_rollout: the long pretraining, then the micro module alone over growing windows
    # (PeRCNN's long_rollout curriculum), then stage 2 with it frozen; the default runs neither.
    window = plain.train.window
    assert micro_rollout["train.micro_steps"] == pretraining["train.micro_steps"]
    assert micro_rollout["train.micro_rollout_steps"] == str(plain.train.steps)
    assert micro_rollout["train.micro_rollout_curriculum"] == f"(1,2,{window // 2},{window})"
    assert micro_rollout["train.curriculum"] == default["train.curriculum"]
    assert (
        micro_rollout["train.freeze_micro"] == "True" and default["train.freeze_micro"] == "False"
    )
    assert default["train.micro_rollout_steps"] == "0"
    # long_unroll: long_rollout twice as far (window, its curriculum and the stage-2 steps
    # doubled); every other candidate keeps the experiment's window and steps.
    assert unroll["train.window"] == str(2 * window)
    assert unroll["train.curriculum"] == f"(1,2,{window},{2 * window})"
    assert unroll["train.steps"] == str(2 * plain.train.steps)
    assert unroll["train.lr"] == rollout["train.lr"]
    assert unroll["train.micro_steps"] == rollout["train.micro_steps"]
    assert {rollout["train.window"], micro_rollout["train.window"]} == {str(window)}


def test_the_recorded_candidate_is_read_back_and_applies_only_where_it_changes_something():
    config = tuning.record(
        get_config("quick"), {"pimrl": "long_pretraining", "fno": "long_rollout", "crop": "default"}
    )
    assert [tuning.chosen(config, m) for m in ("pimrl", "pimrl_nomp", "fno", "crop", "percnn")] == [
        "long_pretraining",
        "long_pretraining",
        "long_rollout",
        "default",
        "default",
    ]
    # long_pretraining sets only the micro module's pretraining: nothing ConvLSTM/FNO/CROP read.
    assert [tuning.applies(m, "long_pretraining", config) for m in ("pimrl", "percnn")] == [
        True
    ] * 2
    assert not any(
        tuning.applies(m, "long_pretraining", config) for m in ("convlstm", "fno", "crop")
    )
    assert all(
        tuning.applies(m, c, config) for m in ("fno", "percnn") for c in ("default", "long_rollout")
    )
    # micro_rollout's extra fields are PIMRL's alone: for PeRCNN it repeats long_pretraining,
    # for the models without a micro module it is their default run.
    assert [tuning.equivalent(m, "micro_rollout", config) for m in MODELS_WITH_MICRO] == [
        "micro_rollout",
        "micro_rollout",
        "long_pretraining",
    ]
    assert [tuning.equivalent(m, "micro_rollout", config) for m in ("convlstm", "fno")] == [
        "default"
    ] * 2
    assert tuning.applies("pimrl", "micro_rollout", config)
    assert not tuning.applies("percnn", "micro_rollout", config)
    with pytest.raises(ValueError, match="valid: default, long_rollout, long_pretraining"):
        tuning.record(get_config("quick"), {"pimrl": "longer"})


def test_a_compute_allowance_rides_beside_the_candidate_and_into_tuning_runs():
    """`record`'s step_scale: the model keeps its candidate (`chosen`), its runs get the scale,
    a model with only a scale is its default candidate shortened, and a tuning run — whose
    flags pin every candidate field — is shortened too (the flags never name the scale)."""
    config = tuning.record(
        get_config("quick"),
        {"pimrl": "long_pretraining", "fno": "long_unroll"},
        step_scale={"pimrl": 0.5, "crop": 0.25, "fno": 1.0},
    )
    assert [tuning.chosen(config, m) for m in ("pimrl", "pimrl_nomp", "fno", "crop")] == [
        "long_pretraining",
        "long_pretraining",
        "long_unroll",
        "default",
    ]

    def applied(model, overridden=()):
        cfg = config.copy_and_resolve_references()
        cfg.model.name = model
        return tuning.apply_tuned(cfg, overridden)

    assert [applied(m).train.step_scale for m in ("pimrl", "pimrl_nomp", "crop", "fno")] == [
        0.5,
        0.5,
        0.25,
        1.0,
    ]
    plain = get_config("quick")
    assert applied("pimrl").train.micro_steps == 4 * plain.train.micro_steps  # not pre-scaled
    flags = tuning.candidate_flags(config, "default")
    assert not any("step_scale" in f for f in flags)
    pinned = [f.removeprefix("--config.").split("=", 1)[0] for f in flags]
    assert applied("crop", pinned).train.step_scale == 0.25
    assert applied("convlstm").train.step_scale == plain.train.step_scale == 1.0


def test_a_modifier_puts_its_settings_on_top_of_any_candidate():
    """ "<candidate>+noisy" is the candidate's settings with noise injection added (nothing else
    changes), is recorded and read back like a candidate, and is, for a model that does not read
    the candidate's fields, its own candidate's run with the modifier ("micro_rollout+noisy" is
    ConvLSTM's "default+noisy", PeRCNN's "long_pretraining+noisy")."""
    config = get_config("quick")
    for candidate in tuning.CANDIDATES:
        plain = tuning.flatten(tuning.candidate_settings(config, candidate))
        noisy = tuning.flatten(tuning.candidate_settings(config, f"{candidate}+noisy"))
        assert noisy == {**plain, "train.input_noise": tuning.INPUT_NOISE}
        assert tuning.with_modifier(candidate, "noisy") == f"{candidate}+noisy"
    recorded = tuning.record(
        get_config("quick"), {"pimrl": "micro_rollout+noisy", "fno": "long_unroll+noisy"}
    )
    assert [tuning.chosen(recorded, m) for m in ("pimrl", "pimrl_nomp", "fno", "crop")] == [
        "micro_rollout+noisy",
        "micro_rollout+noisy",
        "long_unroll+noisy",
        "default",
    ]
    assert tuning.with_modifier("long_unroll+noisy", "noisy") == "long_unroll+noisy"
    assert [
        tuning.equivalent(m, "micro_rollout+noisy", recorded)
        for m in ("pimrl", "percnn", "convlstm")
    ] == ["micro_rollout+noisy", "long_pretraining+noisy", "default+noisy"]
    flags = dict(
        f.removeprefix("--config.").split("=", 1)
        for f in tuning.candidate_flags(recorded, "long_unroll")
    )
    assert flags["train.input_noise"] == "0.0"  # the plain candidates pin the noise off
    with pytest.raises(ValueError, match=r"valid: default, .*\(\+noisy, \+pushforward\)"):
        tuning.candidate_settings(config, "default+loud")
    with pytest.raises(ValueError, match="unknown modifier 'loud'; valid: noisy, pushforward$"):
        tuning.with_modifier("default", "loud")


def test_modifiers_stack_in_one_order_and_each_adds_only_its_own_field():
    """A second modifier goes on top of the first ("long_unroll+noisy" with `pushforward` is
    "long_unroll+noisy+pushforward", whichever came first): its settings are the candidate's
    plus each modifier's one field; every candidate with any set of modifiers is a name, once,
    and reads back as itself; the plain candidates pin the pushforward off."""
    config = get_config("quick")
    assert tuning.with_modifier("long_unroll+noisy", "pushforward") == (
        "long_unroll+noisy+pushforward"
    )
    assert tuning.with_modifier("long_unroll+pushforward", "noisy") == (
        "long_unroll+noisy+pushforward"
    )
    plain = tuning.flatten(tuning.candidate_settings(config, "long_unroll"))
    both = tuning.flatten(tuning.candidate_settings(config, "long_unroll+noisy+pushforward"))
    assert both == {
        **plain,
        "train.input_noise": tuning.INPUT_NOISE,
        "train.pushforward": tuning.PUSHFORWARD,
    }
    names = tuning.names()
    suffixes = ("", "+noisy", "+pushforward", "+noisy+pushforward")
    assert sorted(names) == sorted(c + s for c in tuning.CANDIDATES for s in suffixes)
    recorded = tuning.record(get_config("quick"), {"pimrl": "micro_rollout+noisy+pushforward"})
    assert tuning.chosen(recorded, "pimrl") == "micro_rollout+noisy+pushforward"
    flags = dict(
        f.removeprefix("--config.").split("=", 1)
        for f in tuning.candidate_flags(recorded, "default+noisy")
    )
    assert flags["train.pushforward"] == "0" and flags["train.input_noise"] == "0.02"
