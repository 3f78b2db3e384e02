"""The studies: observation noise on the training data, the plans of the four studies, their
tables from runs on disk, resumption, and `make study STUDY=forecast` end to end on kdv smoke."""

import json
import os
import pathlib
import shutil
import subprocess

import jax
import numpy as np
import pytest

from experiments import gs2d, kdv
from pimrl_jax import compare, studies, tuning
from pimrl_jax import data as data_lib
from pimrl_jax import train as train_lib
from solvers.burst import burst_starts
from tests.synthetic_data import _split

ROOT = pathlib.Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------
# train.observation_noise


@pytest.fixture(scope="module")
def split():
    config = gs2d.get_config("smoke")
    macro, bursts = _split(config.data, 3, 1, 2, 0.0)
    macro[..., 1] *= 0.1  # two fields of different spread: the noise follows each field's std
    bursts[..., 1] *= 0.1
    return {
        "macro": macro,
        "bursts": bursts,
        "burst_start": burst_starts(int(config.data.n_macro), int(config.data.N)),
    }


def test_zero_noise_leaves_the_training_arrays_bitwise(split):
    plain = data_lib.training_arrays(split)
    zero = data_lib.training_arrays(split, 0.0, jax.random.key(3))
    for name in plain:
        np.testing.assert_array_equal(np.asarray(plain[name]), np.asarray(zero[name]))
    np.testing.assert_array_equal(np.asarray(plain["macro"]), split["macro"])


def test_noise_has_the_stated_std_per_field_and_one_draw_per_measurement(split):
    level = 0.05
    clean = data_lib.training_arrays(split)
    noisy = data_lib.training_arrays(split, level, jax.random.key(3))
    scale = np.std(split["macro"].reshape(-1, 2), axis=0)
    np.testing.assert_allclose(np.asarray(clean["scale"]), scale, rtol=1e-5)
    eps = (np.asarray(noisy["macro"]) - split["macro"]) / scale
    eps_b = (np.asarray(noisy["bursts"]) - np.asarray(clean["bursts"])) / scale
    for c in range(2):  # 3 · 9 · 8² values per field: the std within a few % of the level
        assert np.std(eps[..., c]) / level == pytest.approx(1.0, abs=0.04)
        assert abs(np.mean(eps[..., c])) / level < 0.05
        assert np.std(eps_b[..., c]) / level == pytest.approx(1.0, abs=0.04)
    # A burst's first and last frames are macro frames j and j+1: the same noisy measurement.
    starts = split["burst_start"]
    bursts = np.asarray(noisy["bursts"]).reshape(split["bursts"].shape)
    np.testing.assert_array_equal(bursts[:, :, 0], np.asarray(noisy["macro"])[:, starts])
    np.testing.assert_array_equal(bursts[:, :, -1], np.asarray(noisy["macro"])[:, starts + 1])
    other = data_lib.training_arrays(split, level, jax.random.key(4))
    assert not np.allclose(np.asarray(other["macro"]), np.asarray(noisy["macro"]))


def test_stored_runs_without_observation_noise_stay_resumable_and_reusable():
    config = kdv.get_config("smoke")
    current = train_lib.config_to_flat(config)
    stored = {k: v for k, v in current.items() if k != "train.observation_noise"}
    assert train_lib.config_differences(stored, current) == []
    config.train.observation_noise = 0.05
    noisy = train_lib.config_to_flat(config)
    assert train_lib.config_differences(stored, noisy) == ["train.observation_noise"]
    wanted = compare.model_config(kdv.get_config("smoke"), "pimrl")
    old = json.loads(json.dumps(wanted))
    del old["train"]["observation_noise"]
    assert compare.same_config(old, wanted)
    assert not compare.same_config(old, compare.model_config(config, "pimrl"))


# ---------------------------------------------------------------------------------------------
# Plans


def test_kn_grid_keeps_the_horizon_and_reuses_the_profile_point():
    assert studies.kn_grid(kdv.get_config("quick")) == ((2, 5, 10), (2, 4, 8))
    assert studies.kn_grid(kdv.get_config("smoke")) == ((2, 4, 8), (2, 3, 4))
    points = studies.plan("kn", "kdv", "quick")
    assert len(points) == 9
    shared = [p for p in points if p.shared]
    assert [p.key for p in shared] == [(5, 4)] and shared[0].root == "runs/kdv-quick"
    by_key = {p.key: dict(p.overrides) for p in points}
    assert by_key[(2, 8)]["data.n_macro"] == 250 and by_key[(10, 2)]["data.n_macro"] == 50
    assert by_key[(10, 2)]["data.path"] == "data/studies/kdv-quick-k10-N2.h5"
    assert all(p.models == ("pimrl", "percnn") for p in points)
    # A window longer than a point's horizon is cut to it (smoke k=8: T = 4 ≥ window 2: none).
    assert "train.window" not in by_key[(2, 2)]
    with pytest.raises(ValueError, match="does not divide the horizon's 500 micro steps"):
        studies.plan("kn", "kdv", "quick", ks=(3,))


def test_noise_and_noprior_points_and_their_overrides():
    noise = studies.plan("noise", "gs2d", "quick", levels=(0.01, 0.1))
    assert [p.label for p in noise] == ["0 %", "1 %", "10 %"]
    assert noise[0].shared and noise[0].root == "runs/gs2d-quick"
    assert noise[2].root == "runs/studies/noise/gs2d-quick/noise10"
    assert studies.cli_overrides(noise[1].overrides) == ["--config.train.observation_noise=0.01"]
    noprior = studies.plan("noprior", "kdv", "smoke")
    assert [p.label for p in noprior] == ["dispersion", "none (Π only)"]
    assert studies.cli_overrides(noprior[1].overrides) == ["--config.model.micro.known_terms=()"]
    config = studies.point_config("kdv", "smoke", noprior[1], seed=2)
    assert tuple(config.model.micro.known_terms) == () and config.seed == 2


def test_unknown_study_system_and_arguments_are_one_line(capsys):
    assert studies.main(["--study", "bogus"]) == 1
    assert "valid studies: forecast, noise, kn, noprior" in capsys.readouterr().err
    assert studies.main(["--study", "kn", "--exp", "heat"]) == 1
    assert "valid: kdv, burgers, fn, gs2d, gs3d, all" in capsys.readouterr().err
    assert studies.main(["--study", "noise", "--models", "mlp"]) == 1
    assert "unknown model 'mlp'" in capsys.readouterr().err
    assert studies.main(["--study", "noise", "--levels", "0"]) == 1
    assert "noise fractions > 0" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Tables from runs on disk, resumption


def _fake(root, seed, model, rmse, hct, config, diverged_at=None):
    run = pathlib.Path(root) / f"seed{seed}" / model
    run.mkdir(parents=True, exist_ok=True)
    res = {
        "model": model,
        "rmse": None if diverged_at else rmse,
        "mae": None if diverged_at else rmse / 2,
        "hct": hct,
        "diverged": diverged_at is not None,
        "divergence": {"step": diverged_at},
        "horizon": {"n_steps": 8, "dt_macro": 0.2, "time": 1.6},
        "n_params": 10,
        "config": compare.model_config(config, model),
    }
    (run / "results.json").write_text(json.dumps(res))


def test_noise_and_kn_sections_and_resumption(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "experiments", tmp_path / "experiments")
    seeds = (0, 1)
    points = studies.plan("noise", "kdv", "smoke", models=("pimrl", "percnn"), levels=(0.05,))
    values = {"0 %": (0.1, 0.3), "5 %": (0.2, 0.4)}
    for p in points:
        for seed in seeds:
            config = studies.point_config("kdv", "smoke", p, seed)
            for m, v in zip(p.models, values[p.label], strict=True):
                _fake(p.root, seed, m, v + 0.01 * seed, 1.0 + seed, config)
    # Everything there with its config: nothing runs.
    monkeypatch.setattr(studies, "_run", lambda cmd: pytest.fail(f"ran {cmd}"))
    studies.run_study("noise", "kdv", "smoke", seeds, points)
    body = studies.section("noise", "kdv", "smoke", seeds, points)
    assert "    make study STUDY=noise EXP=kdv PROFILE=smoke SEEDS=0,1" in body
    assert "| model | 0 % | 5 % |" in body
    assert f"| pimrl | {0.105:.4g} ± {0.005:.4g} | {0.205:.4g} ± {0.005:.4g} |" in body
    assert "| percnn | 1.5 ± 0.5 | 1.5 ± 0.5 |" in body  # HCT table
    assert "earlier config" not in body
    assert os.path.exists("docs/figures/studies-noise-kdv-smoke.png")
    # A hand-written reading of the numbers follows the tables.
    os.makedirs("docs/results-notes")
    with open(studies.notes_path("noise", "kdv", "smoke"), "w") as f:
        f.write("PeRCNN suffers most from the noise.\n")
    noted = studies.section("noise", "kdv", "smoke", seeds, points)
    marked = "<!-- notes -->\nPeRCNN suffers most from the noise.\n<!-- /notes -->"
    assert noted == body + "\n\n" + marked

    # Seed 1's noisy percnn has another config: only it is rerun, with the point's overrides.
    stale = studies.point_config("kdv", "smoke", points[1], 1)
    stale.train.steps = 99
    _fake(points[1].root, 1, "percnn", 0.4, 1.0, stale)
    trained = pathlib.Path(points[1].root) / "seed1" / "percnn"
    flat = tuning.flatten(compare.model_config(stale, "percnn"))
    (trained / "config.json").write_text(json.dumps(flat))  # what the trainer stores
    # Until it is, the section names it as made with an earlier config.
    marked = studies.section("noise", "kdv", "smoke", seeds, points)
    assert "**Made with an earlier config**" in marked
    assert "redoes them): percnn seed 1 at 5 %." in marked
    ran = []
    monkeypatch.setattr(studies, "_run", lambda cmd: ran.append(cmd) or 0)
    studies.run_study("noise", "kdv", "smoke", seeds, points)
    assert [c[2] for c in ran] == ["solvers", "pimrl_jax.compare"]
    assert "--models=percnn" in ran[1] and "--config.seed=1" in ran[1]
    assert "--config.train.observation_noise=0.05" in ran[1]
    assert "--workdir=runs/studies/noise/kdv-smoke/noise5/seed1" in ran[1]
    # The earlier run was set aside (kept, not deleted), so the new one trains instead of
    # being refused for its stored config.
    assert not trained.exists()
    (kept,) = (pathlib.Path(points[1].root) / "stale").glob("seed1-percnn-*")
    assert json.loads((kept / "config.json").read_text())["train.steps"] == 99

    kn = studies.plan("kn", "kdv", "smoke", ks=(2, 4), Ns=(2, 3))
    for p in kn:
        config = studies.point_config("kdv", "smoke", p, 0)
        _fake(p.root, 0, "pimrl", 0.1 * p.key[0], 1.0, config)
        _fake(
            p.root,
            0,
            "percnn",
            0.2 * p.key[1],
            1.0,
            config,
            diverged_at=3 if p.key[0] == 2 else None,
        )
    body = studies.section("kn", "kdv", "smoke", (0,), kn)
    # k=2: T = 16 macro frames, bursts every N with k - 1 = 1 inner frame each.
    assert "| 2 | 3 | 0.1 | 16 | 23 | 0.2 ± 0 | diverged | 1 ± 0 | 1 ± 0 |" in body
    assert "| 4 | 2 (profile) | 0.2 | 8 | 21 | 0.4 ± 0 | 0.4 ± 0 |" in body
    assert os.path.exists("docs/figures/studies-kn-kdv-smoke.png")
    assert "earlier config" not in body
    # pimrl trained with another learning rate everywhere but the profile's own point (the
    # make results run), percnn at one point: named in one line, grouped where every seed is.
    for p in kn:
        if not p.shared:
            earlier = studies.point_config("kdv", "smoke", p, 0)
            earlier.train.lr = 0.5
            _fake(p.root, 0, "pimrl", 0.1, 1.0, earlier)
    _fake(kn[0].root, 0, "percnn", 0.1, 1.0, earlier)
    marked = studies.section("kn", "kdv", "smoke", (0,), kn)
    assert (
        "redoes them): pimrl, every seed, at every point but the profile's own; "
        f"percnn, every seed, at {kn[0].label}." in marked
    )

    # The document: this block written, the others "not run yet" with their command.
    studies.write({("kn", "kdv"): body}, "smoke", doc="docs/studies.md")
    doc = open("docs/studies.md").read()
    assert "<!-- study:kn:kdv -->\n### 1D KdV, smoke profile" in doc
    assert "Not run yet: `make study STUDY=noprior EXP=gs3d PROFILE=smoke`." in doc
    studies.write({}, "smoke", doc="docs/studies.md")  # kept when not regenerated
    assert "| 4 | 2 (profile) |" in open("docs/studies.md").read()


def test_a_documented_block_is_not_replaced_by_one_missing_its_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "experiments", tmp_path / "experiments")
    doc = "docs/studies.md"
    points = studies.plan("noise", "kdv", "smoke", models=("pimrl", "percnn"), levels=(0.05,))
    values = {"0 %": (0.1, 0.3), "5 %": (0.2, 0.4)}
    for p in points:
        config = studies.point_config("kdv", "smoke", p, 0)
        for m, v in zip(p.models, values[p.label], strict=True):
            _fake(p.root, 0, m, v, 1.0, config)
    notes = studies.notes_path("noise", "kdv", "smoke")
    os.makedirs(os.path.dirname(notes))
    pathlib.Path(notes).write_text("The first reading.\n")
    block = studies.fresh_section("noise", "kdv", "smoke", (0,), points, doc=doc)
    assert "| pimrl | 0.1 ± 0 | 0.2 ± 0 |" in block  # nothing documented yet: the runs' block
    studies.write({("noise", "kdv"): block}, "smoke", doc=doc)
    figure = pathlib.Path("docs/figures/studies-noise-kdv-smoke.png")
    drawn = figure.read_bytes()

    # On a machine without the 5 % runs their cells would read "not run" (and the figure lose
    # its points): the documented block and figure stay, and a line names what trains them.
    shutil.rmtree(points[1].root)
    capsys.readouterr()
    assert studies.fresh_section("noise", "kdv", "smoke", (0,), points, doc=doc) is None
    out = capsys.readouterr().out
    assert "kept the documented noise kdv block: runs/ here lacks 4 of its results" in out
    assert "(pimrl at 5 %, percnn at 5 %)" in out
    assert "`make study STUDY=noise EXP=kdv PROFILE=smoke SEEDS=0` trains them" in out
    assert figure.read_bytes() == drawn
    pathlib.Path(notes).write_text("A reading written on the machine without the runs.\n")
    studies.write({}, "smoke", doc=doc)
    kept = open(doc).read()
    assert "| pimrl | 0.1 ± 0 | 0.2 ± 0 |" in kept
    # ... and the kept block takes today's notes in place of those it was written with.
    assert "A reading written on the machine without the runs." in kept
    assert "The first reading." not in kept
    # (What it guards against: section() alone draws the figure from the runs here.)
    assert "| pimrl | 0.1 ± 0 | not run |" in studies.section("noise", "kdv", "smoke", (0,), points)
    assert figure.read_bytes() != drawn

    # A block that loses nothing replaces the documented one (here: a changed result).
    config = studies.point_config("kdv", "smoke", points[1], 0)
    for m, v in zip(points[1].models, (0.25, 0.4), strict=True):
        _fake(points[1].root, 0, m, v, 1.0, config)
    block = studies.fresh_section("noise", "kdv", "smoke", (0,), points, doc=doc)
    assert "| pimrl | 0.1 ± 0 | 0.25 ± 0 |" in block


def test_lost_results_name_a_row_by_as_many_cells_as_make_it_unique():
    table = "| k | N | pimrl RMSE |\n|---|---|---|\n| 2 | 2 | {} |\n| 2 | 4 | {} |\n"
    documented = "Intro.\n\n" + table.format("0.1 ± 0", "0.2 ± 0")
    lost = studies.lost_results(documented, "Intro.\n\n" + table.format("0.1 ± 0", "not run"))
    assert lost == ["k 2, N 4 at pimrl RMSE"]
    assert studies.lost_results(documented, documented) == []
    changed = table.format("not run", "0.3")  # a "not run" kept, a result changed: nothing lost
    assert studies.lost_results(table.format("not run", "0.2"), changed) == []
    assert studies.lost_results(None, documented) == []


def test_a_point_whose_training_stopped_says_so_and_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "experiments", tmp_path / "experiments")
    with_terms, without = studies.plan("noprior", "kdv", "smoke")
    for point in (with_terms, without):
        for seed in (0, 1):
            config = studies.point_config("kdv", "smoke", point, seed)
            _fake(point.root, seed, "pimrl", 0.1, 1.0, config)
            if point is with_terms:
                _fake(point.root, seed, "percnn", 0.2, 1.0, config)
                continue
            stopped = pathlib.Path(point.root) / f"seed{seed}" / "percnn"
            stopped.mkdir(parents=True)
            (stopped / "compare.log").write_text(
                f"error: non-finite loss or parameters in stage 2 (macro) at step {750 + seed} "
                "of 1000 (global step 2750, loss nan); training stopped, ...\n"
            )
    body = studies.section("noprior", "kdv", "smoke", (0, 1), [with_terms, without])
    assert (
        "| percnn | none (Π only) | training failed | training failed | training stopped (seed 0: "
        "non-finite loss or parameters in stage 2 (macro) at step 750 of 1000; seed 1: non-finite "
        "loss or parameters in stage 2 (macro) at step 751 of 1000) |" in body
    )
    assert "| percnn | dispersion | 0.2 ± 0 | 1 ± 0 | none |" in body


@pytest.fixture
def smoke_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "experiments", tmp_path / "experiments")
    os.makedirs("docs")
    monkeypatch.setenv("PIMRL_JAX_CACHE", str(ROOT / ".cache" / "jax"))
    return tmp_path


def test_forecast_study_end_to_end(smoke_dir, monkeypatch):
    """make study STUDY=forecast on kdv smoke with the two reference rows: data, compare runs
    (subprocesses), the forecast, the docs block; a rerun reuses everything."""
    args = ["--study", "forecast", "--exp", "kdv", "--profile", "smoke", "--seeds", "0"]
    args += ["--models", "persistence,oracle"]
    assert studies.main(args) == 0
    stored = json.loads(open("runs/kdv-smoke/forecast/forecast.json").read())
    persistence = stored["summary"]["persistence"]
    assert persistence["n"] == 1 and persistence["leads_to_next_burst"] == 1
    assert stored["summary"]["oracle"]["rmse"][0] < persistence["rmse"][0]
    doc = open("docs/studies.md").read()
    assert "    make study STUDY=forecast EXP=kdv PROFILE=smoke SEEDS=0" in doc
    assert "| persistence | 1/1 |" in doc and "studies-forecast-kdv-smoke.png" in doc
    assert os.path.exists("docs/figures/studies-forecast-kdv-smoke.png")
    assert "Wall time of this command so far: " in doc
    # Written from runs another command made (`make forecast`): no time, and it says so.
    os.remove(studies.time_path("forecast", "kdv", "smoke"))
    assert studies.main([*args, "--write_only"]) == 0
    assert "Wall time of this command: none recorded here" in open("docs/studies.md").read()
    real_run = subprocess.run
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: pytest.fail(f"reran {a}") or real_run(*a, **k)
    )
    assert studies.main(args) == 0
    shutil.rmtree("runs")


def test_make_study_and_forecast_errors_are_one_line():
    for args, expected in [
        (["study", "STUDY=bogus", "EXP=kdv"], "valid studies: forecast, noise, kn, noprior"),
        (["forecast", "EXP=kdv", "PROFILE=bogus"], "valid profiles: smoke, quick, paper"),
    ]:
        result = subprocess.run(
            ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and expected in errors[0], result.stderr
