"""make results: mean ± std over seeds from the runs on disk, diverged seeds marked, a system
without runs keeps its section, the README headline rewritten between its markers."""

import json
import os

import numpy as np
import pytest

from pimrl_jax import results, tuning


def _fake(
    root,
    exp,
    seed,
    model,
    rmse,
    hct,
    diverged_at=None,
    factor=None,
    trained_on=None,
    scale=None,
    curve=None,
):
    run = root / "runs" / f"{exp}-quick" / f"seed{seed}" / model
    run.mkdir(parents=True)
    res = {
        "model": model,
        "rmse": None if diverged_at else rmse,
        "mae": None if diverged_at else rmse / 2,
        "hct": hct,
        "hct_pooled": hct + 1,
        "hct_worst_channel": hct - 1,
        "diverged": diverged_at is not None,
        "divergence": {"step": diverged_at},
        "horizon": {"n_steps": 100, "dt_macro": 0.25, "time": 25.0},
        "train_time_s": 60.0,
        "config": {
            **({} if factor is None else {"eval": {"divergence_factor": factor}}),
            **({} if scale is None else {"train": {"step_scale": scale}}),
        },
        **({"trained_on": trained_on} if trained_on else {}),
        **({"curves": {"rmse": curve}} if curve else {}),
        "diagnostics": {
            "left_data_range": {"step": diverged_at},
            "jacobian_radius": {"macro": {"max": 1.0}, "micro": None},
        },
    }
    (run / "results.json").write_text(json.dumps(res))


def test_tables_aggregate_seeds_and_keep_other_sections(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/figures")
    with open("docs/results.md", "w") as f:
        f.write(
            "<!-- results:fn -->\n## fn from an earlier session\n\n<!-- notes -->\n"
            "fn's reading then\n<!-- /notes -->\n<!-- /results:fn -->\n"
        )
    with open("README.md", "w") as f:
        f.write("intro\n<!-- headline -->\nold\n<!-- /headline -->\nrest\n")
    pimrl = [0.1, 0.2, 0.3]
    for seed, value in enumerate(pimrl):
        _fake(tmp_path, "kdv", seed, "pimrl", value, 20.0 + seed)
    _fake(tmp_path, "kdv", 0, "percnn", 0.4, 10.0, scale=0.5)
    _fake(tmp_path, "kdv", 1, "percnn", 0.6, 12.0, scale=0.5)
    _fake(tmp_path, "kdv", 2, "percnn", 0.5, 5.0, diverged_at=17)
    for seed in range(3):  # PIMRL's own parameters without messages: no baseline, however good
        _fake(tmp_path, "kdv", seed, "pimrl_nomp", 0.45, 15.0)
    _fake(tmp_path, "gs2d", 0, "pimrl", 0.2, 100.0)  # one seed of three so far
    stopped = tmp_path / "runs" / "kdv-quick" / "seed1" / "fno"
    stopped.mkdir(parents=True)
    (stopped / "compare.log").write_text("error: non-finite loss at step 3; training stopped\n")
    os.makedirs("docs/results-notes")
    with open(results.notes_path("kdv", "quick"), "w") as f:
        f.write("PIMRL leads here because of the noted reason.\n")
    with open(results.notes_path("fn", "quick"), "w") as f:
        f.write("fn's reading now\n")
    results.add_time(str(tmp_path / "runs" / "kdv-quick" / "results_time.json"), 50 * 60.0)
    results.write("quick", (0, 1, 2), ("pimrl", "pimrl_nomp", "percnn", "fno"))
    doc = open("docs/results.md").read()
    # 50 min against kdv's 45; six trained runs of 60 s (pimrl_nomp trains nothing of its own)
    budget = "Budget: 45 min, exceeded by 5 min; the runs' training times sum to 360 s, 3.0 min"
    assert budget in doc
    # PeRCNN's seeds 0, 1 ran shortened to half, seed 2 whole; pimrl_nomp trains nothing
    shortened = "Recipes shortened to the compute allowance (docs/profiles.md, train.step_scale)"
    assert f"{shortened}: percnn × 0.5/1." in doc
    assert "Budget: 45 min; the runs' training times sum to 60 s, 0.5 min" in doc  # gs2d, no wall
    mean, std = np.mean(pimrl), np.std(pimrl)
    assert f"| pimrl | 3/3 | {mean:.4g} ± {std:.4g} |" in doc
    assert f"| percnn | 3/3 | {0.5:.4g} ± {0.1:.4g} (2 finite) |" in doc
    assert "2: 17" in doc  # seed 2 diverged at macro step 17
    assert "| fno | 0/3 | seed 1: training failed: non-finite loss at step 3 |" in doc
    assert "PIMRL leads here because of the noted reason." in doc
    assert "## fn from an earlier session" in doc  # no runs here: kept as it was,
    assert "fn's reading now" in doc and "fn's reading then" not in doc  # with today's notes
    assert "<!-- notes -->\nPIMRL leads here because of the noted reason.\n<!-- /notes -->" in doc
    assert "Not run yet: `make results EXP=gs3d PROFILE=quick`" in doc
    reduction = 100 * (1 - mean / 0.5)
    reduction_text = f"{reduction:.1f} % (finite seeds only; percnn diverged on some)"
    assert f"PIMRL's RMSE reduction against our PeRCNN: {reduction_text}" in doc
    readme = open("README.md").read()
    assert readme.startswith("intro\n<!-- headline -->\n| system (quick)") and "old" not in readme
    pim_hct, per_hct = (
        (np.mean([20, 21, 22]), np.std([20, 21, 22])),
        (np.mean([10, 12, 5]), np.std([10, 12, 5])),
    )
    percnn_rmse = "0.5 ± 0.1 (2 finite; diverged: seed 2 at step 17)"  # the headline says so too
    row = (
        f"| 1D KdV | {mean:.4g} ± {std:.4g} | {percnn_rmse} (percnn) | "
        f"{pim_hct[0]:.4g} ± {pim_hct[1]:.4g} | {per_hct[0]:.4g} ± {per_hct[1]:.4g} (percnn) | "
        f"{percnn_rmse} | {reduction_text} |"
    )
    assert row in readme
    assert "| 2D Gray–Scott (1 of 3 seeds) | 0.2 ± 0 |" in readme
    # A baseline that diverged on a seed ranks behind one finite on every seed, however low
    # the mean of its finite seeds.
    finite = {"rmse": (0.3, 0.0), "hct": (5.0, 0.0), "diverged": []}
    lucky = {"rmse": (0.1, 0.0), "hct": (9.0, 0.0), "diverged": [(1, 40)]}
    both = {"convlstm": finite, "fno": lucky}
    assert results._best_other(both, "rmse", lower=True)[0] == "convlstm"
    assert results._best_other(both, "hct", lower=False)[0] == "convlstm"
    assert results._best_other({"fno": lucky}, "rmse", lower=True)[0] == "fno"
    assert readme.endswith("<!-- /headline -->\nrest\n")


def test_the_step_a_seed_first_does_worse_than_persistence_is_in_its_row(tmp_path, monkeypatch):
    """Item 1's "keeps improving on persistence over the whole horizon", per seed: the first
    macro step (1-based) at which the seed's RMSE(t) exceeds persistence's, NaN counting as
    worse; a plain loop is the reference."""

    def loop(curve, reference):
        for step, (a, b) in enumerate(zip(curve, reference, strict=False), start=1):
            if not a <= b:
                return step
        return None

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        curve, reference = rng.random(n).round(1).tolist(), rng.random(n).round(1).tolist()
        if rng.random() < 0.3:
            curve[int(rng.integers(n))] = float("nan")
        assert results.first_step_above(curve, reference) == loop(curve, reference)

    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/figures")
    with open("README.md", "w") as f:
        f.write("<!-- headline -->\nold\n<!-- /headline -->\n")
    persistence = [0.1, 0.2, 0.3, 0.4]
    pimrl = {0: [0.05, 0.1, 0.35, 0.2], 1: [0.0, 0.2, 0.3, 0.4], 2: [0.05, float("nan"), 0, 0]}
    for seed in range(3):
        _fake(tmp_path, "kdv", seed, "persistence", 0.3, 1.0, curve=persistence)
        _fake(tmp_path, "kdv", seed, "pimrl", 0.2, 2.0, curve=pimrl[seed])
        _fake(tmp_path, "kdv", seed, "percnn", 0.2, 2.0)  # no curve on record: not judged
    results.write("quick", (0, 1, 2), ("pimrl", "percnn", "persistence"))
    rows = {
        line.split(" | ")[0][2:]: line.split(" | ")
        for line in open("docs/results.md").read().splitlines()
        if line.startswith("| ")
    }
    column = rows["model"].index("RMSE above persistence from step")
    assert rows["pimrl"][column] == "3, never, 2"  # seed 1 ties persistence: never above it
    assert rows["percnn"][column] == "–" and rows["persistence"][column] == "–"


def test_the_budget_is_not_judged_on_invocations_that_only_evaluated_adopted_runs(
    tmp_path, monkeypatch
):
    """A results run copied from a tuning run was trained by `--tune`: the wall time of the
    `make results` invocations that adopted it is evaluation only, not a clean clone's."""
    monkeypatch.chdir(tmp_path)
    _fake(tmp_path, "kdv", 0, "pimrl", 0.1, 20.0)
    _fake(tmp_path, "kdv", 0, "percnn", 0.2, 10.0)
    _fake(tmp_path, "kdv", 0, "pimrl_nomp", 0.3, 10.0)  # pimrl's parameters: trains nothing
    for model in ("pimrl", "pimrl_nomp"):
        (tmp_path / "runs" / "kdv-quick" / "seed0" / model / results.ADOPTED).write_text("{}")
    results.add_time(str(tmp_path / "runs" / "kdv-quick" / "results_time.json"), 50 * 60.0)
    text = results.section("kdv", "quick", (0,), ("pimrl", "pimrl_nomp", "percnn"))
    assert "which trained none of the 1 run(s) it adopted from the tuning runs" in text
    assert "Budget: 45 min; the runs' training times sum to 120 s" in text
    assert "exceeded" not in text and ", met" not in text


def test_a_fresh_runs_directory_keeps_the_rows_and_tuning_tables_it_cannot_recompute(
    tmp_path, monkeypatch
):
    """On a machine whose runs/ lost some systems (or all tuning runs), make results of one
    system must not blank the others' headline rows nor drop a tuning table it cannot remake."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/figures")
    tuning = (
        "Tuning (validation split, seed 0; `make results EXP=kdv TUNE=1`): the protocol.\n\n"
        "| model | default: val RMSE / HCT | choice |\n|---|---|---|\n"
        "| pimrl | 0.1 / 25 | default |"
    )
    kdv_old = f"## 1D KdV, quick profile\n\n| table |\n\n{tuning}\n\nnotes of before"
    with open("docs/results.md", "w") as f:
        f.write(f"<!-- results:kdv -->\n{kdv_old}\n<!-- /results:kdv -->\n")
    fn_row = "| 2D FitzHugh–Nagumo | 0.03 ± 0.005 | 0.017 (percnn) | 4 ± 0 | x | -85.8 % | 15.2 % |"
    gs2d_row = "| 2D Gray–Scott (2 of 3 seeds) | 0.08 | z | z | z | z | 35 % | 70.8 % |"
    header = "| system (quick) | PIMRL RMSE |\n|---|---|"
    with open("README.md", "w") as f:
        f.write(f"<!-- headline -->\n{header}\n{fn_row}\n{gs2d_row}\n<!-- /headline -->\n")
    for seed in range(3):  # seed 2 evaluated under another divergence bound than the others
        old = seed == 2  # made before the bound and the machine were recorded
        machine = None if old else [f"CPU {seed % 2}"]
        _fake(
            tmp_path,
            "kdv",
            seed,
            "pimrl",
            0.25,
            25.0,
            factor=1e6 if old else 10.0,
            trained_on=machine,
        )
    for _ in range(2):  # the second write finds the kept block and keeps it once
        results.write("quick", (0, 1, 2), ("pimrl",))
    doc = open("docs/results.md").read()
    assert doc.count(results.KEPT_TUNING) == 1
    assert f"{results.KEPT_TUNING}\n\n{tuning}" in doc
    assert "| pimrl | 3/3 | 0.25 ± 0 |" in doc  # the section itself is recomputed
    assert "max-abs above 10 or 1e+06 × the test data's" in doc  # each bound its runs used
    assert "Trained on: CPU 0; CPU 1; not recorded for 1 run(s) made before." in doc
    readme = open("README.md").read()
    assert fn_row in readme and gs2d_row in readme  # no runs here: rows kept verbatim
    assert "| 3D Gray–Scott | not run |" in readme
    assert "| 1D KdV | 0.25 ± 0 |" in readme
    # A tuning run of the system makes the table from runs/ again, without the note.
    tuned = tmp_path / "runs" / "tune" / "kdv-quick" / "default" / "seed0" / "pimrl"
    tuned.mkdir(parents=True)
    (tuned / "results_val.json").write_text(json.dumps({"rmse": 0.3, "hct": 20.0}))
    results.write("quick", (0, 1, 2), ("pimrl",))
    doc = open("docs/results.md").read()
    assert results.KEPT_TUNING not in doc and "0.3 / 20" in doc


def test_a_partial_tuning_rerun_keeps_the_earlier_table_beside_the_new_one(tmp_path, monkeypatch):
    """Tuning runs of one candidate made again on a fresh machine give a table with the other
    candidates "not run": the earlier table, which had them, stays beside it (once, however often
    the section is rewritten), and goes once no cell it filled is missing here."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/figures")
    _fake(tmp_path, "kdv", 0, "pimrl", 0.25, 25.0)
    old_table = (
        "Tuning (validation split, seed 0; `make results EXP=kdv TUNE=1`): the protocol.\n\n"
        "| model | default: val RMSE / HCT | long_rollout: val RMSE / HCT | choice |\n"
        "|---|---|---|---|\n| pimrl | 0.1 / 25 | diverged at step 7 | default |"
    )
    old = f"## 1D KdV, quick profile\n\n{old_table}"
    tune = tmp_path / "runs" / "tune" / "kdv-quick"
    (tune / "long_rollout" / "seed0" / "pimrl").mkdir(parents=True)
    run = tune / "long_rollout" / "seed0" / "pimrl" / "results_val.json"
    run.write_text(json.dumps({"rmse": 0.3, "hct": 20.0}))
    once = results.section("kdv", "quick", (0,), ("pimrl",), old=old)
    twice = results.section("kdv", "quick", (0,), ("pimrl",), old=once)
    for text in (once, twice):
        assert "| pimrl | not run | 0.3 / 20 |" in text  # long_rollout made again here
        assert text.count(results.KEPT_TUNING) == 1
        assert f"{results.KEPT_TUNING}\n\n{old_table}" in text
    # The default run made again too: nothing the earlier table had is missing any more.
    (tune / "default" / "seed0" / "pimrl").mkdir(parents=True)
    run = tune / "default" / "seed0" / "pimrl" / "results_val.json"
    run.write_text(json.dumps({"rmse": 0.2, "hct": 21.0}))
    third = results.section("kdv", "quick", (0,), ("pimrl",), old=twice)
    assert results.KEPT_TUNING not in third and "| pimrl | 0.2 / 21 | 0.3 / 20 |" in third


def test_mean_std_ignores_missing_and_non_finite():
    assert results.mean_std([1.0, None, float("nan"), 3.0]) == pytest.approx((2.0, 1.0))
    assert results.mean_std([None]) is None


def test_unknown_system_profile_model_and_argument_are_refused(capsys):
    assert results.main(["--exp", "heat", "--write_only"]) == 1
    assert "valid: kdv, burgers, fn, gs2d, gs3d, all" in capsys.readouterr().err
    assert results.main(["--exp", "kdv", "--profile", "big"]) == 1
    assert "valid profiles: smoke, quick, paper" in capsys.readouterr().err
    assert results.main(["--exp", "kdv", "--models", "pimrl,mlp"]) == 1
    assert "unknown model 'mlp'" in capsys.readouterr().err
    assert results.main(["--exp", "kdv", "--bogus"]) == 1
    assert results.main(["--exp", "kdv", "--tune", "--candidates", "default,longer"]) == 1
    assert "unknown candidate 'longer'; valid: default, long_rollout" in capsys.readouterr().err


def test_tuning_runs_are_ranked_on_validation_and_adopted_as_seed_0(tmp_path, monkeypatch):
    """Each candidate's validation run per model; the table names the lower validation RMSE (a
    diverged run loses), shows a candidate that changes nothing the model reads as its default,
    and names the candidate in use; seed 0 of the results copies the tuning run whose config is
    the one in use (checkpoints, not its validation results)."""
    from experiments.kdv import get_config
    from pimrl_jax import compare, tuning

    monkeypatch.chdir(tmp_path)
    config = tuning.record(  # what experiments/<exp>.py records
        get_config("quick"), {"pimrl": "long_rollout", "percnn": "long_pretraining"}
    )
    monkeypatch.setattr(results, "_config", lambda exp, profile: config)
    plain = get_config("quick")
    scores = {  # model: {candidate: validation RMSE}; None: diverged
        "pimrl": {
            "default": 0.3,
            "long_rollout": 0.1,
            "long_pretraining": 0.2,
            "micro_rollout": 0.12,
        },
        "percnn": {"default": 0.2, "long_rollout": None, "long_pretraining": 0.15},
        "convlstm": {"default": 0.25, "long_rollout": 0.4},
        "crop": {"default": 0.5, "long_rollout": None},
    }
    # The seed check (validation, seeds 1 and 2) of some candidates: {(model, candidate): RMSEs}.
    checked = {
        ("pimrl", "long_rollout"): (0.11, None),  # seed 2 diverges: the check moves on
        ("pimrl", "micro_rollout"): (0.13, 0.14),
        ("convlstm", "default"): (0.26, 0.27),
        ("crop", "default"): (None, 0.3),  # the only candidate finite on seed 0 fails: kept
        ("percnn", "long_pretraining"): (0.16, "failed"),  # seed 2's training stopped: fails
    }

    def store(model, candidate, rmse, seed=0):
        trial = tuning.record(plain.copy_and_resolve_references(), {model: candidate})
        trial.seed = seed
        run = tmp_path / results.tune_root("kdv", "quick", candidate, seed) / model
        (run / "checkpoints").mkdir(parents=True)
        stored = compare.model_config(trial, model)
        stored["eval"]["split"] = "val"
        res = {
            "rmse": rmse,
            "hct": 5.0,
            "diverged": rmse is None,
            "divergence": {"step": 7 + seed},
            "config": stored,
        }
        (run / "results_val.json").write_text(json.dumps(res))

    for model, by_candidate in scores.items():
        for candidate, rmse in by_candidate.items():
            store(model, candidate, rmse)

    def stop(model, candidate, seed=0):
        stopped = tmp_path / results.tune_root("kdv", "quick", candidate, seed) / model
        stopped.mkdir(parents=True)
        (stopped / "compare.log").write_text(
            "python -m pimrl_jax.main ...\nerror: non-finite loss or parameters in stage 2 (macro) "
            "at step 6 of 1000 (global step 506, loss nan); training stopped, the last good ...\n"
        )

    for (model, candidate), rmses in checked.items():
        for seed, rmse in zip(results.CHECK_SEEDS, rmses, strict=True):
            if rmse == "failed":
                stop(model, candidate, seed)
            else:
                store(model, candidate, rmse, seed)
    stop("fno", "default")
    models = ("pimrl", "pimrl_nomp", "percnn", "convlstm", "fno", "crop", "oracle")
    table = results.tuning_table(results.tuning_rows("kdv", "quick", models))
    assert (
        "| fno | training failed: non-finite loss or parameters in stage 2 (macro) at step 6 of "
        "1000 | not run | = default | = default | not run | not run | – | default |" in table
    )
    # The lowest seed-0 RMSE (long_rollout) diverges on seed 2: the next one that stays finite.
    assert (
        "| pimrl | 0.3 / 5 | 0.1 / 5 | 0.2 / 5 | 0.12 / 5 | not run | "
        "long_rollout: seed 2 diverged at "
        "step 9; micro_rollout: finite (0.13, 0.14) | micro_rollout | long_rollout |" in table
    )
    # micro_rollout sets nothing more that PeRCNN reads than long_pretraining: the same run. Its
    # seed 2 stopped non-finite: the check fails and moves on to the default, not yet checked.
    assert (
        "| percnn | 0.2 / 5 | diverged at step 7 | 0.15 / 5 | = long_pretraining | not run | "
        "long_pretraining: seed 2 training failed (non-finite loss or parameters in stage 2 "
        "(macro) at step 6 of 1000) | default (unchecked) | long_pretraining |" in table
    )
    assert (
        "| convlstm | 0.25 / 5 | 0.4 / 5 | = default | = default | not run | "
        "default: finite (0.26, 0.27) "
        "| default | default |" in table
    )
    assert (
        "| crop | 0.5 / 5 | diverged at step 7 | = default | = default | not run | "
        "default: seed 1 diverged "
        "at step 8 | default (none passes) | default |" in table
    )
    # pimrl_nomp evaluates pimrl's parameters: its row says whose choice it uses.
    assert (
        "| pimrl_nomp | not run | not run | not run | not run | not run | – | – | "
        "long_rollout (pimrl's) |" in table
    )
    assert "oracle" not in table  # references have nothing to tune
    adopted = results.adopt_tuning_runs("kdv", "quick", ("pimrl", "percnn", "convlstm", "fno"))
    assert adopted == {"pimrl": "long_rollout", "percnn": "long_pretraining", "convlstm": "default"}
    seed0 = tmp_path / "runs" / "kdv-quick" / "seed0"
    assert (seed0 / "pimrl" / "checkpoints").is_dir()
    assert not (seed0 / "pimrl" / "results_val.json").exists()
    marker = json.loads((seed0 / "pimrl" / results.ADOPTED).read_text())
    assert marker["candidate"] == "long_rollout"
    assert results.adopted_runs("kdv", "quick", (0,), ("pimrl", "percnn", "convlstm", "fno")) == 3
    # Seed 1's results runs are the seed-check runs of the candidates in use, where there are any.
    adopted = results.adopt_tuning_runs("kdv", "quick", ("pimrl", "percnn", "convlstm"), seed=1)
    assert adopted == {"pimrl": "long_rollout", "percnn": "long_pretraining", "convlstm": "default"}
    assert (tmp_path / "runs" / "kdv-quick" / "seed1" / "convlstm" / "checkpoints").is_dir()


def test_candidates_that_passed_the_seed_check_are_ranked_by_their_mean_over_seeds():
    """A modifier that wins on seed 0 by a hair and loses on the other seeds does not replace the
    candidate in use: once both have every seed, the lower mean over the seeds is the choice."""

    def run(rmse):
        return {"rmse": rmse, "hct": 5.0, "diverged": rmse is None, "divergence": {"step": 3}}

    def row(seed0, checks):
        return {
            "model": "pimrl",
            "columns": tuple(seed0),
            "results": {c: run(r) for c, r in seed0.items()},
            "checks": {c: [run(r) for r in checks[c]] if c in checks else None for c in seed0},
            "check_failures": {c: None for c in seed0},
        }

    seed0 = {"long_unroll": 0.1516, "long_unroll+noisy": 0.1514, "default": 0.14}
    # default leads on seed 0 and diverges on seed 1; +noisy passes; long_unroll, the candidate in
    # use, passed before. Means: long_unroll (0.1516 + 0.518 + 0.175) / 3 = 0.2815, +noisy
    # (0.1514 + 0.899 + 0.209) / 3 = 0.4198.
    checks = {
        "default": (None, 0.2),
        "long_unroll+noisy": (0.899, 0.209),
        "long_unroll": (0.518, 0.175),
    }
    note, choice = results.protocol_choice(row(seed0, checks))
    assert choice == "long_unroll"
    assert note == (
        "default: seed 1 diverged at step 3; long_unroll+noisy: finite (0.899, 0.209); "
        "mean over seeds 0, 1, 2: long_unroll 0.2815 < long_unroll+noisy 0.4198"
    )
    # Lower on the mean too: the seed-0 order's choice stands, with no note of the means.
    checks["long_unroll+noisy"] = (0.3, 0.2)
    note, choice = results.protocol_choice(row(seed0, checks))
    assert (choice, note.count("mean")) == ("long_unroll+noisy", 0)
    # A candidate that diverged on a seed is not in the comparison of means.
    checks["long_unroll"] = (0.1, None)
    assert results.protocol_choice(row(seed0, checks))[1] == "long_unroll+noisy"


def test_every_earlier_table_a_new_machine_cannot_remake_is_kept(tmp_path, monkeypatch):
    """A section with the table made from runs/tune/ on an earlier machine and one kept from a
    machine before it: on a machine whose runs/tune/ has another candidate only, both stay, each
    once, however often the section is rewritten."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/figures")
    _fake(tmp_path, "kdv", 0, "pimrl", 0.25, 25.0)
    head = "| model | default: val RMSE / HCT | long_rollout: val RMSE / HCT | choice |"
    head += "\n|---|---|---|---|"
    intro = "Tuning (validation split, seed 0; `make results EXP=kdv TUNE=1`): the protocol.\n\n"
    made = f"{intro}{head}\n| pimrl | not run | 0.4 / 10 | long_rollout |"
    before = f"{intro}{head}\n| pimrl | not run | diverged at step 7 | default |"
    old = f"## 1D KdV, quick profile\n\n{made}\n\n{results.KEPT_TUNING}\n\n{before}"
    run = tmp_path / "runs" / "tune" / "kdv-quick" / "default" / "seed0" / "pimrl"
    run.mkdir(parents=True)
    (run / "results_val.json").write_text(json.dumps({"rmse": 0.2, "hct": 21.0}))
    once = results.section("kdv", "quick", (0,), ("pimrl",), old=old)
    twice = results.section("kdv", "quick", (0,), ("pimrl",), old=once)
    for text in (once, twice):
        assert "| pimrl | 0.2 / 21 | not run |" in text
        assert text.count(results.KEPT_TUNING) == 2
        assert f"{results.KEPT_TUNING}\n\n{made}" in text
        assert f"{results.KEPT_TUNING}\n\n{before}" in text


def test_runs_made_with_other_settings_are_set_aside_not_refused(tmp_path, monkeypatch):
    """A tuned choice recorded after a system's runs were made: those runs move to stale/ (and
    are trained again), the runs that still match stay."""
    from pimrl_jax import compare, tuning
    from pimrl_jax import train as train_lib

    monkeypatch.chdir(tmp_path)
    config = results._config("kdv", "quick")

    def stored_run(seed, model, **train):
        with config.unlocked():
            config.seed = seed
        flat = tuning.flatten(compare.model_config(config, model))
        flat.update({f"train.{k}": v for k, v in train.items()})
        run = tmp_path / "runs" / "kdv-quick" / f"seed{seed}" / model
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(flat))
        return run, flat

    same, flat = stored_run(1, "pimrl")
    assert train_lib.config_differences(json.loads((same / "config.json").read_text()), flat) == []
    other, _ = stored_run(1, "convlstm", lr=0.5)
    moved = results.set_aside_stale_runs("kdv", "quick", (0, 1), ("pimrl", "convlstm"))
    assert same.exists() and not other.exists() and len(moved) == 1
    assert os.path.basename(moved[0]).startswith("seed1-convlstm-")
    assert json.loads(open(os.path.join(moved[0], "config.json")).read())["train.lr"] == 0.5


def test_seed_check_copies_the_results_run_with_the_same_settings(tmp_path, monkeypatch):
    """A seed-check run is the results run of that seed when the settings agree (whatever the
    `tuned` record said when each was made): its checkpoints are copied, then only evaluated on
    validation; a results run with other settings is left alone and the check trains anew."""
    from experiments.kdv import get_config
    from pimrl_jax import compare, tuning

    monkeypatch.chdir(tmp_path)
    config = tuning.record(get_config("quick"), {"pimrl": "long_rollout"})
    monkeypatch.setattr(results, "_config", lambda exp, profile: config)
    calls = []

    def stored(seed, split, tuned):
        cfg = tuning.record(get_config("quick"), tuned)
        cfg.seed = seed
        out = compare.model_config(cfg, "pimrl")
        out["eval"]["split"] = split
        out["tuned"] = cfg.tuned.to_dict()  # what a stored run holds besides
        return {"rmse": 0.1, "hct": 1.0, "diverged": False, "config": out}

    tune0 = tmp_path / results.tune_root("kdv", "quick", "long_rollout") / "pimrl"
    tune0.mkdir(parents=True)
    (tune0 / "results_val.json").write_text(json.dumps(stored(0, "val", {"pimrl": "long_rollout"})))
    for seed, tuned in ((1, {"pimrl": "long_rollout", "fno": "long_rollout"}), (2, {})):
        run = tmp_path / "runs" / "kdv-quick" / f"seed{seed}" / "pimrl"
        (run / "checkpoints").mkdir(parents=True)
        (run / "results.json").write_text(json.dumps(stored(seed, "test", tuned)))
        calls.append(results._seed_command("kdv", "quick", "pimrl", "long_rollout", seed)[1])
    seed1 = tmp_path / results.tune_root("kdv", "quick", "long_rollout", 1) / "pimrl"
    assert (seed1 / "checkpoints").is_dir() and not (seed1 / "results.json").exists()
    # seed 2's results run was made with the default settings: not the candidate's run.
    assert not (tmp_path / results.tune_root("kdv", "quick", "long_rollout", 2)).exists()
    assert [c[c.index("--config.seed=1")] for c in calls[:1]] == ["--config.seed=1"]
    assert all("--config.eval.split=val" in c and "--models=pimrl" in c for c in calls)
    assert "--config.train.lr=0.003" in calls[1]  # the candidate's settings, pinned


def test_seed_check_trains_the_candidate_a_passing_modifier_modifies(tmp_path, monkeypatch):
    """A modifier's candidate that passes the check is compared with the one it modifies on every
    seed: that one's seeds are trained too (here they were not there), the mean decides, and no
    other candidate is trained."""
    from experiments.kdv import get_config
    from pimrl_jax import tuning

    monkeypatch.chdir(tmp_path)
    config = tuning.record(get_config("quick"), {"pimrl": "long_unroll"})
    monkeypatch.setattr(results, "_config", lambda exp, profile: config)
    rmse = {  # (candidate, seed): validation RMSE the "training" gives
        ("long_unroll+noisy+pushforward", 0): 0.02,
        ("long_unroll+noisy+pushforward", 1): 0.05,
        ("long_unroll+noisy+pushforward", 2): 0.06,
        ("long_unroll+noisy", 0): 0.025,
        ("long_unroll+noisy", 1): 0.03,
        ("long_unroll+noisy", 2): 0.02,
        ("long_unroll", 0): 0.03,
        ("long_unroll", 1): 0.01,
        ("long_unroll", 2): 0.01,
        ("default", 0): 0.04,
    }
    trained = []

    def write(candidate, seed):
        run = tmp_path / results.tune_root("kdv", "quick", candidate, seed) / "pimrl"
        run.mkdir(parents=True)
        result = {"rmse": rmse[candidate, seed], "hct": 1.0, "diverged": False}
        (run / "results_val.json").write_text(json.dumps(result))

    for (candidate, seed), _ in rmse.items():
        if seed == 0:
            write(candidate, seed)

    def command(exp, profile, model, candidate, seed):
        """The stand-in for a training command: None where the seed's result is there."""
        if results._seed_result(exp, profile, model, candidate, seed):
            return None
        return candidate, seed

    def run(commands, jobs=1):
        for candidate, seed in commands:
            trained.append((candidate, seed))
            write(candidate, seed)

    monkeypatch.setattr(results, "_seed_command", command)
    monkeypatch.setattr(results, "run_commands", run)
    choice = results.check_seeds("kdv", "quick", ("pimrl",))
    # Means: +noisy+pushforward 0.0433, +noisy 0.025, long_unroll 0.0167; default is no base.
    assert trained == [
        ("long_unroll+noisy+pushforward", 1),
        ("long_unroll+noisy+pushforward", 2),
        ("long_unroll+noisy", 1),
        ("long_unroll+noisy", 2),
        ("long_unroll", 1),
        ("long_unroll", 2),
    ]
    assert choice == {"pimrl": "long_unroll"}
    assert tuning.modified("default") == []


def test_runs_side_by_side_overlap_and_keep_their_output_and_exit_codes(tmp_path):
    """With jobs=2 two commands run at the same time: each waits for the other's file, which
    only works if both are running; each one's output lands in its own log, and the exit codes
    come back in the commands' order."""
    import sys

    def waiter(mine, theirs, code):
        script = (
            "import os, sys, time\n"
            f"open({str(tmp_path / mine)!r}, 'w').close()\n"
            "deadline = time.time() + 60\n"
            f"while not os.path.exists({str(tmp_path / theirs)!r}):\n"
            "    assert time.time() < deadline, 'the other command never ran alongside'\n"
            "    time.sleep(0.05)\n"
            f"print('done {mine}')\n"
            f"sys.exit({code})\n"
        )
        return (mine, [sys.executable, "-c", script], str(tmp_path / "logs" / f"{mine}.log"))

    codes = results.run_commands([waiter("a", "b", 3), waiter("b", "a", 0)], jobs=2)
    assert codes == [3, 0]
    assert (tmp_path / "logs" / "a.log").read_text().strip() == "done a"
    assert (tmp_path / "logs" / "b.log").read_text().strip() == "done b"


def test_wall_time_counts_overlapping_invocations_once(tmp_path):
    """Two seeds run as concurrent invocations cover one stretch of wall time, not two; a record
    from before intervals were kept stays part of the total."""
    path = str(tmp_path / "time.json")
    with open(path, "w") as f:
        json.dump({"seconds": 100.0, "invocations": 1}, f)  # the old format: a running sum
    results.add_time(path, 60.0, end=1060.0)  # [1000, 1060]
    results.add_time(path, 50.0, end=1050.0)  # [1000, 1050], inside the first
    results.add_time(path, 30.0, end=1080.0)  # [1050, 1080], overlaps it by 10
    results.add_time(path, 5.0, end=2005.0)  # [2000, 2005], apart
    spent = results.read_json(path)
    assert spent["invocations"] == 5
    assert spent["seconds"] == pytest.approx(100.0 + 80.0 + 5.0)
    # A plain sweep over the seconds the intervals cover gives the same union.
    covered = {t for start, end in spent["intervals"] for t in range(int(start), int(end))}
    assert results.union_length(spent["intervals"]) == pytest.approx(len(covered))


def _flag_values(cmd) -> dict[str, str]:
    """{"--flag": value} of a command's `--flag=value` arguments."""
    return dict(a.split("=", 1) for a in cmd if a.startswith("--") and "=" in a)


def _fake_comparisons(monkeypatch, comparison) -> list:
    """Replace `results.run_commands` by `comparison(its --flag=value arguments)` per command,
    which writes the command's runs and returns its exit code; returns the list that receives
    each call's (commands, jobs)."""
    started = []

    def fake_run_commands(commands, jobs):
        started.append((commands, jobs))
        return [comparison(_flag_values(cmd)) for _, cmd, _ in commands]

    monkeypatch.setattr(results, "run_commands", fake_run_commands)
    return started


def _rmse_column(report) -> dict[str, str]:
    """{model: its RMSE cell} of a comparison report's table."""
    return {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in open(report)
        if line.startswith("| ") and not line.startswith("| model")
    }


def test_results_start_one_comparison_per_model_and_seed_and_report_each_seed_once(
    tmp_path, monkeypatch
):
    """`make results` starts one comparison per trained model and seed, longest first, two
    models side by side on two cores (`run_order`), so runs keep every core busy (pimrl_nomp
    evaluates PIMRL's parameters: after pimrl, in its run; the reference rows together), none
    writes the report, and each seed's report then holds every model, a failed run's model
    marked failed."""
    from experiments.kdv import get_config
    from pimrl_jax import compare

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(  # the dataset step
        results.subprocess, "run", lambda cmd, check: results.subprocess.CompletedProcess(cmd, 0)
    )

    def comparison(value):
        seed, failed = int(value["--config.seed"]), value["--models"] == "fno"
        config = get_config("quick")
        config.seed = seed
        for model in value["--models"].split(","):
            run = tmp_path / value["--workdir"] / model
            run.mkdir(parents=True)
            stored = {"config": compare.model_config(config, model)}
            if failed:  # a results.json of other settings stays behind
                stored["config"]["train"]["lr"] = -1.0
            res = {"rmse": 0.1 + seed, "mae": 0.05, "hct": 3.0, "n_params": 7, **stored}
            (run / "results.json").write_text(json.dumps(res))
        return 1 if failed and seed == 1 else 0

    started = _fake_comparisons(monkeypatch, comparison)
    monkeypatch.setattr(results.os, "cpu_count", lambda: 2)
    models = ["pimrl_nomp", "fno", "pimrl", "oracle", "persistence"]
    results.run_system("kdv", "quick", [0, 1], models)

    [(commands, jobs)] = started
    runs = [
        (_flag_values(cmd)["--models"], _flag_values(cmd)["--config.seed"])
        for _, cmd, _ in commands
    ]
    assert runs == [
        ("pimrl,pimrl_nomp", "0"),
        ("fno", "0"),
        ("pimrl,pimrl_nomp", "1"),
        ("fno", "1"),
        ("oracle,persistence", "0"),
        ("oracle,persistence", "1"),
    ]
    assert all("--noreport" in cmd for _, cmd, _ in commands)
    assert [log for *_, log in commands][:3] == [
        "runs/kdv-quick/seed0/pimrl.log",
        "runs/kdv-quick/seed0/fno.log",
        "runs/kdv-quick/seed1/pimrl.log",
    ]
    assert jobs == 2
    rows = {s: _rmse_column(tmp_path / f"runs/kdv-quick/seed{s}/comparison.md") for s in (0, 1)}
    assert list(rows[0]) == models  # the asked order
    assert rows[0]["fno"] == "0.1" and rows[0]["pimrl_nomp"] == "0.1"
    assert rows[1]["pimrl"] == "1.1"
    assert rows[1]["fno"].startswith("failed (exit 1, log runs/kdv-quick/seed1/fno/compare.log")


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_stopped_invocation_stops_its_runs_and_records_its_time(tmp_path, monkeypatch, jobs):
    """`kill` (SIGTERM) of `python -m pimrl_jax.results` stops the runs it started, one at a
    time or side by side, and what they started in turn (compare's trainer), instead of leaving
    them running unseen (each resumes from its checkpoint next time); an interrupted
    `run_system` still records the wall time it spent."""
    import signal
    import subprocess
    import sys
    import time

    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text(
        "import os, subprocess, sys, time\n"
        "if len(sys.argv) > 2:  # a child of its own, as compare starts the trainer\n"
        "    subprocess.Popen([sys.executable, __file__, sys.argv[2]])\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    commands = [
        (n, [sys.executable, str(sleeper), str(tmp_path / n), str(tmp_path / f"{n}.child")],
         str(tmp_path / f"{n}.log"))
        for n in ("a", "b")
    ]  # fmt: skip
    started = [tmp_path / n for n in ("a", "a.child", "b", "b.child")[: 2 * jobs]]
    script = (
        "from pimrl_jax import results\nresults.stop_on_sigterm()\n"
        f"results.run_commands({commands!r}, jobs={jobs})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not all(p.exists() and p.read_text() for p in started):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        parent.kill()
    deadline = time.monotonic() + 10  # an orphaned child is reaped by init, a moment later
    while any(_alive(int(p.read_text())) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p.name for p in started if _alive(int(p.read_text()))]
    assert not (tmp_path / "b").exists() or jobs == 2  # one at a time: b never started

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        results.subprocess, "run", lambda cmd, check: results.subprocess.CompletedProcess(cmd, 0)
    )

    def interrupted(commands, jobs):
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "run_commands", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.run_system("kdv", "quick", [0], ["persistence"])
    spent = json.loads((tmp_path / "runs" / "kdv-quick" / "results_time.json").read_text())
    assert spent["invocations"] == 1 and len(spent["intervals"]) == 1


def test_tuning_starts_one_comparison_per_candidate_and_model(tmp_path, monkeypatch):
    """Tuning runs like `make results`: the dataset first (made where missing: a fresh clone's
    first `--tune` once failed every run on the missing file), then one comparison per
    (candidate, trained model), none writing the report, then each candidate's validation report
    with every model, a failed run's model marked failed; a candidate that sets nothing a model
    reads does not train it."""
    from pimrl_jax import tuning

    monkeypatch.chdir(tmp_path)
    steps = []
    monkeypatch.setattr(
        results.subprocess,
        "run",
        lambda cmd, check: steps.append(cmd) or results.subprocess.CompletedProcess(cmd, 0),
    )

    def comparison(value):
        steps.append("comparison")
        failed = value["--models"] == "fno" and "long_rollout" in value["--workdir"]
        for model in value["--models"].split(","):
            if not failed:
                run = tmp_path / value["--workdir"] / model
                run.mkdir(parents=True)
                res = {"rmse": 0.25, "mae": 0.1, "hct": 3.0, "n_params": 7}
                (run / "results_val.json").write_text(json.dumps(res))
        return 1 if failed else 0

    started = _fake_comparisons(monkeypatch, comparison)
    models = ["pimrl", "pimrl_nomp", "fno", "persistence"]
    results.tune_system("kdv", "quick", models, ("default", "long_rollout", "long_pretraining"))

    [(commands, jobs)] = started
    assert steps[0][1:] == ["-m", "solvers", "--config=experiments/kdv.py:quick"]
    assert steps[1:] == ["comparison"] * len(commands)
    runs = [
        (_flag_values(c)["--workdir"].split("/")[-2], _flag_values(c)["--models"])
        for _, c, _ in commands
    ]
    assert not tuning.applies("fno", "long_pretraining", results._config("kdv", "quick"))
    assert [r for r in runs if r[0] == "long_pretraining"] == [
        ("long_pretraining", "pimrl,pimrl_nomp"),
        ("long_pretraining", "persistence"),
    ]
    assert [r for r in runs if r[0] == "default"] == [
        ("default", "pimrl,pimrl_nomp"),
        ("default", "fno"),
        ("default", "persistence"),
    ]
    assert all("--noreport" in cmd for _, cmd, _ in commands)
    assert jobs == min(len(commands), os.cpu_count())
    report = tmp_path / results.tune_root("kdv", "quick", "long_rollout") / "comparison_val.md"
    rows = _rmse_column(report)
    assert rows["pimrl"] == "0.25" and rows["persistence"] == "0.25"
    assert rows["fno"].startswith("failed (exit 1, log runs/tune/kdv-quick/long_rollout/seed0/fno/")


def test_training_a_subset_still_reports_every_model_and_seed(tmp_path, monkeypatch):
    """`--models`/`--seeds` choose what to train; the tables written afterwards still hold every
    model's rows over every seed (a subset once wrote tables of that subset alone)."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/figures")
    with open("README.md", "w") as f:
        f.write("<!-- headline -->\nold\n<!-- /headline -->\n")
    for seed in range(3):
        _fake(tmp_path, "kdv", seed, "pimrl", 0.1 + seed / 10, 20.0)
        _fake(tmp_path, "kdv", seed, "percnn", 0.5, 10.0)
    trained = []
    monkeypatch.setattr(
        results,
        "run_system",
        lambda exp, profile, seeds, models, *a, **k: trained.append((seeds, models)) or 1.0,
    )
    assert results.main(["--exp", "kdv", "--models", "percnn", "--seeds", "1"]) == 0
    assert trained == [((1,), ("percnn",))]
    doc = open("docs/results.md").read()
    assert "seeds 0, 1, 2;" in doc
    assert f"| pimrl | 3/3 | {np.mean([0.1, 0.2, 0.3]):.4g} ± " in doc
    assert "| percnn | 3/3 | 0.5 ± 0 |" in doc
    assert "| 1D KdV | 0.2 ± " in open("README.md").read()


def _tuning_table(candidates, rows) -> str:
    """A tuning table as docs/results.md has it: (model, candidate cells, in use) per row."""
    head = ["model", *(f"{c}: val RMSE / HCT" for c in candidates), "seed check", "choice"]
    lines = ["| " + " | ".join([*head, "in use"]) + " |", "|" + "---|" * (len(head) + 1)]
    for model, cells, used in rows:
        lines.append("| " + " | ".join([model, *cells, "–", "–", used]) + " |")
    return "\n".join(lines)


def test_a_candidate_in_use_that_another_model_never_ran_is_named():
    """The equal tuning budget, checked on the tables: a model's choice stands only on a
    candidate every other learned model ran, here or in the kept earlier table (a `= X` cell is
    run X; a diverged run was run); evaluating another's parameters is no choice of its own."""

    def table(rows):
        return _tuning_table(results.CANDIDATES, rows)

    nr = "not run"
    here = table(
        [
            ("pimrl", [nr, "0.07 / 5", nr, nr, "0.06 / 7"], "long_unroll"),
            ("pimrl_nomp", [nr] * 5, "long_unroll (pimrl's)"),
            ("percnn", [nr, "0.08 / 6", nr, "= long_pretraining", nr], "long_rollout"),
            ("fno", ["0.09 / 4", nr, "= default", "= default", nr], "default"),
        ]
    )
    gap = results.unequal_tuning([here])
    assert "pimrl uses `long_unroll`, which percnn, fno did not run" in gap
    assert "percnn uses `long_rollout`, which fno did not run" in gap
    assert "fno uses `default`, which pimrl, percnn did not run" in gap
    assert "pimrl_nomp" not in gap
    earlier = table(
        [
            ("pimrl", ["diverged at step 9", nr, nr, nr, nr], "long_rollout"),
            ("percnn", ["0.1 / 2", nr, nr, "= long_pretraining", "diverged at step 3"], "default"),
            ("fno", [nr, "0.2 / 1", "= default", "= default", "0.1 / 3"], "default"),
        ]
    )
    assert results.unequal_tuning([here, earlier]) is None


def test_a_modifier_round_gives_each_model_its_own_candidate_with_it():
    """`--candidates +noisy`: each learned model is trained with its candidate in use plus the
    modifier (PIMRL's choice for pimrl_nomp, the reference rows beside each); a choice with a
    modifier stands once every other learned model ran the modifier on any candidate."""
    from experiments.kdv import get_config

    config = tuning.record(
        get_config("quick"), {"pimrl": "micro_rollout", "percnn": "long_unroll", "fno": "default"}
    )
    models = ("pimrl", "pimrl_nomp", "percnn", "fno", "crop", "persistence")
    assert results.tuning_plan(config, models, ("+noisy",)) == {
        "micro_rollout+noisy": ["pimrl", "pimrl_nomp", "persistence"],
        "long_unroll+noisy": ["percnn", "persistence"],
        "default+noisy": ["fno", "crop", "persistence"],
    }
    # "in_use": each model's candidate in use itself (crop's is the default).
    assert results.tuning_plan(config, models, (results.IN_USE,)) == {
        "micro_rollout": ["pimrl", "pimrl_nomp", "persistence"],
        "long_unroll": ["percnn", "persistence"],
        "default": ["fno", "crop", "persistence"],
    }
    # A plain candidate trains only where it is a run of its own, as before.
    assert results.tuning_plan(config, models, ("micro_rollout",)) == {
        "micro_rollout": ["pimrl", "pimrl_nomp", "persistence"]
    }

    def table(rows):
        return _tuning_table((*results.CANDIDATES, "long_unroll+noisy"), rows)

    nr = "not run"
    everyone = [nr, nr, nr, nr, "0.1 / 5"]
    assert (
        results.unequal_tuning(
            [
                table(
                    [
                        ("pimrl", [*everyone, "0.05 / 9"], "long_unroll+noisy"),
                        ("fno", [*everyone, "diverged at step 4"], "long_unroll"),
                    ]
                )
            ]
        )
        is None
    )
    gap = results.unequal_tuning(
        [
            table(
                [
                    ("pimrl", [*everyone, "0.05 / 9"], "long_unroll+noisy"),
                    ("fno", [*everyone, nr], "long_unroll"),
                ]
            )
        ]
    )
    assert "pimrl uses `long_unroll+noisy`, and fno did not run their own candidate with" in gap

    # Two modifiers on top: every other model must have run each (on any of its candidates).
    stacked = "long_unroll+noisy+pushforward"
    columns = (*results.CANDIDATES, "long_unroll+noisy", "default+pushforward", stacked)
    pimrl = ("pimrl", [*everyone, "0.05 / 9", nr, "0.04 / 9"], stacked)
    fno_noisy_only = ("fno", [*everyone, "0.2 / 1", nr, nr], "long_unroll")
    fno_both = ("fno", [*everyone, "0.2 / 1", "0.3 / 1", nr], "long_unroll")
    gap = results.unequal_tuning([_tuning_table(columns, [pimrl, fno_noisy_only])])
    assert f"pimrl uses `{stacked}`, and fno did not run their own candidate with each" in gap
    assert "`--candidates +noisy` and `--candidates +pushforward`" in gap
    assert results.unequal_tuning([_tuning_table(columns, [pimrl, fno_both])]) is None


def test_runs_side_by_side_are_different_models_and_seeds_follow_each_other():
    """Two lanes, four groups, three seeds: written out by hand, the order in which `make
    results` starts them (a model's seed s + 1 after its seed s; the two runs started together
    are two models of one seed)."""
    a, b, c, refs = ["pimrl", "pimrl_nomp"], ["percnn"], ["fno"], ["persistence", "oracle"]
    assert results.run_order([a, b, c, refs], (0, 1, 2), 2) == [
        (a, 0), (b, 0), (a, 1), (b, 1), (a, 2), (b, 2),
        (c, 0), (refs, 0), (c, 1), (refs, 1), (c, 2), (refs, 2),
    ]  # fmt: skip
    assert results.run_order([a, b, c], (0, 1), 1) == [
        (a, 0),
        (a, 1),
        (b, 0),
        (b, 1),
        (c, 0),
        (c, 1),
    ]
