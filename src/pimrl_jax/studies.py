"""Studies beyond the paper, one command each; they rewrite their sections of docs/studies.md.

    make study STUDY=forecast|noise|kn|noprior [EXP=<system>] [PROFILE=quick] [SEEDS=0,1,2]
    python -m pimrl_jax.studies --study noise --exp kdv --profile quick --seeds 0,1,2

* **forecast** — forecasting from a stream of bursts (`pimrl_jax.forecast`): every model of the
  comparison, restarted at every burst of the test trajectories, skill against lead time since
  the burst. Uses the runs of `make results` (`runs/<exp>-<profile>/seed<s>/`), training what is
  missing. Default systems: all five.
* **noise** — training on observed frames with 1 %, 5 % and 10 % Gaussian noise
  (`train.observation_noise`, std per field scaled to the field's std, drawn once), evaluated on
  the clean test trajectories; 0 % is the `make results` run. Every learned model. Default
  systems: kdv, gs2d.
* **kn** — sensitivity to k (micro steps per macro step) and N (macro steps per cycle and
  between bursts): a 3 × 3 grid around the profile's (k, N) for pimrl and percnn. The same data
  budget per point: the same trajectories (initial conditions, seeds, counts), the same physical
  horizon T·k·δt, the same δt and solver, the same training steps, batch and macro window; what
  the sensor stores changes with (k, N) (the table lists the frames per trajectory). The profile's
  own (k, N) is the `make results` run. Default system: kdv.
* **noprior** — a micro module with no known terms (`model.micro.known_terms=()`: the Π-block
  alone learns the whole right-hand side) for pimrl and percnn, beside the `make results` runs
  with the known terms. Default systems: all five.

Every run goes through `python -m pimrl_jax.compare` (one process per model) under
`runs/studies/<study>/<exp>-<profile>/<point>/seed<s>/` (the points that are `make results` runs
use `runs/<exp>-<profile>/seed<s>/`), so everything resumes: a run whose `results.json` holds
the same config is reused, an interrupted training resumes from its checkpoint. Nothing is chosen
on the test split; the studies make no choices (every point uses the profile's defaults).
Results are mean ± std over the seeds (population std); the wall time per study and system is
summed across invocations in `runs/studies/<study>/<exp>-<profile>/time.json` (invocations that
overlapped, e.g. one per seed, count once).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

from pimrl_jax import results
from pimrl_jax.models.registry import LEARNED, MODELS, REFERENCES

STUDIES = ("forecast", "noise", "kn", "noprior")
SYSTEMS = results.SYSTEMS
DEFAULT_SYSTEMS = {
    "forecast": SYSTEMS,
    "noise": ("kdv", "gs2d"),
    "kn": ("kdv",),
    "noprior": SYSTEMS,
}
DEFAULT_MODELS = {
    "forecast": LEARNED + REFERENCES,
    "noise": LEARNED,
    "kn": ("pimrl", "percnn"),
    "noprior": ("pimrl", "percnn"),
}
NOISE_LEVELS = (0.01, 0.05, 0.1)
SEEDS = (0, 1, 2)
DOC = "docs/studies.md"
FIGURES = "docs/figures"
TITLES = {
    "forecast": "1. Forecasting from a stream of bursts",
    "noise": "2. Noise robustness",
    "kn": "3. Sensitivity to k and N",
    "noprior": "4. No known physics",
}
DESCRIPTIONS = {
    "forecast": """In use the bursts keep arriving: every N macro steps the sensor delivers k+1
fine frames covering one macro interval [t_j, t_{j+1}]. From every burst of the test trajectories
each model forecasts the macro frames after the burst's last frame; lead ℓ is the frame ℓΔt after
it. Leads up to N − 1 reach the next burst (the headline "to next burst" pools them); longer
leads go on as if the next bursts were lost. PIMRL carries its ConvLSTM state across the bursts
and restarts its cycle at each: the observed first frame as the cycle's state, the observed last
frame as the message (`pimrl`), or the micro module's k steps from the observed first frame
(`pimrl_micro_restart`). Every other model restarts its own rollout from the burst's last frame
(ConvLSTM from the zero state, PeRCNN with k micro steps per Δt, persistence repeating it). RMSE
over trajectories, bursts, grid and fields; correlation = per-field Pearson, averaged over fields,
trajectories and bursts; a lead with a diverged forecast has no RMSE. The table gives the RMSE
at lead 1, at lead N − 1 (the last before the next burst) and at the last lead. Beside them,
each run's free-rollout RMSE and HCT (from u_0 over the whole horizon, as in results.md). Cost:
no training of its own (it trains only what `make results` has not), a few seconds of
forecasting per model and seed (kdv quick, 9 rows, one seed: 35 s).""",
    "noise": """The observed training frames (macro frames and bursts) carry Gaussian noise of
p % of each field's standard deviation, drawn once (`--config.train.observation_noise=0.05` for
5 %; a burst's first and last frames share the noise of the macro frames they are); validation
and test trajectories are clean. Every learned model with its default recipe; 0 % is the
`make results` run. RMSE and HCT (per field) on the clean test trajectories. Cost: 3 levels × 5
trained models (pimrl_nomp evaluates pimrl's) × seeds trainings per system.""",
    "kn": """A grid of (k, N) around the profile's own for pimrl and percnn. Same data budget at
every point: the same trajectories (initial conditions, seeds and counts), the same physical
horizon T·k·δt for training and test, the same δt and solver, the same optimiser steps, batch and
macro window (in macro steps); the number of stored frames per trajectory follows from (k, N)
and is listed (T + 1 macro frames and ceil(T/N) bursts of k − 1 inner frames). The profile's own
(k, N) is the `make results` run; every other point has its own dataset
(data/studies/<exp>-<profile>-k<k>-N<N>.h5). RMSE over the test horizon, HCT in time units.
Cost: 8 datasets and 8 points × 2 models × seeds trainings; percnn's cost grows with k.""",
    "noprior": """The micro module without its known terms (`--config.model.micro.known_terms=()`:
no fixed Laplacian or dispersion stencil, the Π-block alone learns the whole right-hand side), for
pimrl and percnn, beside the `make results` runs with the known terms; everything else as in the
profile (each model's tuned settings included). Cost: 2 models × seeds trainings per system.""",
}


# ----------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class Point:
    """One setting of a study: runs `<root>/seed<s>/<model>` with config `overrides`."""

    label: str
    root: str
    models: tuple[str, ...]
    overrides: tuple[tuple[str, object], ...] = ()
    shared: bool = False  # the `make results` runs (runs/<exp>-<profile>)
    key: object = None  # what the section tabulates by (noise level, (k, N), known terms)


def base_config(exp: str, profile: str):
    return importlib.import_module(f"experiments.{exp}").get_config(profile)


def _divisor_near(total: int, target: int) -> int:
    """The divisor of `total` nearest to `target` (the smaller on a tie)."""
    divisors = [d for d in range(1, total + 1) if total % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


def kn_grid(config) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Default k and N values: half, once and twice the profile's, k kept a divisor of the
    horizon's micro steps (T·k must stay the same) and N ≥ 2; three distinct values each."""
    k0, N0, T0 = int(config.data.k), int(config.data.N), int(config.data.n_macro)
    total = k0 * T0
    ks = sorted({_divisor_near(total, max(1, round(k0 / 2))), k0, _divisor_near(total, 2 * k0)})
    for d in range(1, total + 1):  # too few distinct divisors nearby: take the next ones
        if len(ks) >= 3:
            break
        if total % d == 0 and d not in ks:
            ks = sorted({*ks, d})
    Ns = {max(2, N0 // 2), N0, 2 * N0}
    extra = 3
    while len(Ns) < 3:
        Ns.add(extra)
        extra += 1
    return tuple(ks), tuple(sorted(Ns))


def _window_caps(config, models, T: int) -> list[tuple[str, object]]:
    """Overrides that cut the training windows to a point's horizon T where some model's
    (tuned) window or curriculum is longer; none where all fit (then the recipe is untouched)."""
    from pimrl_jax import tuning

    longest = 0
    for m in models:
        cfg = config.copy_and_resolve_references()
        cfg.model.name = m
        cfg = tuning.apply_tuned(cfg)
        longest = max([longest, int(cfg.train.window), *(cfg.train.get("curriculum") or ())])
    if longest <= T:
        return []
    curriculum = tuple(sorted({min(int(w), T) for w in (config.train.get("curriculum") or ())}))
    return [("train.window", min(int(config.train.window), T)), ("train.curriculum", curriculum)]


def results_root(exp: str, profile: str) -> str:
    return results.run_root(exp, profile)


def study_root(study: str, exp: str, profile: str) -> str:
    return f"runs/studies/{study}/{exp}-{profile}"


def plan(
    study: str,
    exp: str,
    profile: str,
    models: Sequence[str] | None = None,
    levels: Sequence[float] = NOISE_LEVELS,
    ks: Sequence[int] | None = None,
    Ns: Sequence[int] | None = None,
) -> list[Point]:
    """The points of `study` on `exp`."""
    models = tuple(models or DEFAULT_MODELS[study])
    shared = results_root(exp, profile)
    root = study_root(study, exp, profile)
    if study == "forecast":
        return [Point("", shared, models, shared=True)]
    if study == "noise":
        points = [Point("0 %", shared, models, shared=True, key=0.0)]
        for p in levels:
            over = (("train.observation_noise", float(p)),)
            points.append(Point(f"{100 * p:g} %", f"{root}/noise{100 * p:g}", models, over, key=p))
        return points
    if study == "noprior":
        known = tuple(base_config(exp, profile).model.micro.known_terms)
        none = (("model.micro.known_terms", ()),)
        return [
            Point(", ".join(known) or "none", shared, models, shared=True, key=known),
            Point("none (Π only)", root, models, none, key=()),
        ]
    if study == "kn":
        config = base_config(exp, profile)
        k0, N0, T0 = int(config.data.k), int(config.data.N), int(config.data.n_macro)
        default_ks, default_Ns = kn_grid(config)
        points = []
        for k in ks or default_ks:
            for N in Ns or default_Ns:
                if (T0 * k0) % k:
                    raise ValueError(
                        f"k={k} does not divide the horizon's {T0 * k0} micro steps; choose k "
                        f"among the divisors of {T0 * k0}"
                    )
                if (k, N) == (k0, N0):
                    points.append(Point(f"k={k}, N={N}", shared, models, shared=True, key=(k, N)))
                    continue
                T = T0 * k0 // k
                over = [
                    ("data.k", int(k)),
                    ("data.N", int(N)),
                    ("data.n_macro", int(T)),
                    ("data.path", f"data/studies/{exp}-{profile}-k{k}-N{N}.h5"),
                ]
                over += _window_caps(config, models, T)
                label = f"k={k}, N={N}"
                points.append(Point(label, f"{root}/k{k}-N{N}", models, tuple(over), key=(k, N)))
        return points
    raise ValueError(f"unknown study {study!r}; valid: {', '.join(STUDIES)}")


# ----------------------------------------------------------------------------- running


def _cli_value(value) -> str:
    if isinstance(value, tuple | list):
        return "(" + "".join(f"{v!r}," for v in value) + ")"
    return str(value)


def cli_overrides(overrides) -> list[str]:
    return [f"--config.{key}={_cli_value(value)}" for key, value in overrides]


def point_config(exp: str, profile: str, point: Point, seed: int, extra=()):
    """The config the runs of `point` with training seed `seed` are made with."""
    config = base_config(exp, profile)
    config.seed = int(seed)
    for key, value in (*point.overrides, *extra):
        *path, name = key.split(".")
        node = config
        for part in path:
            node = node[part]
        node[name] = value
    return config


def wanted_configs(exp: str, profile: str, point: Point, seed: int, extra=()) -> dict[str, dict]:
    """Per model of `point`, the JSON-ready config its run for `seed` is made with."""
    from pimrl_jax import compare

    config = point_config(exp, profile, point, seed, extra)
    # What the command line sets wins over a model's tuned settings (`pimrl_jax.tuning`).
    overridden = ["seed", *(key for key, _ in (*point.overrides, *extra))]
    return {m: compare.model_config(config, m, overridden) for m in point.models}


def missing_models(exp: str, profile: str, point: Point, seed: int, extra=()) -> list[str]:
    """The models of `point` whose `results.json` for `seed` is absent or holds another config."""
    seed_dir = os.path.join(point.root, f"seed{seed}")
    return _missing(seed_dir, wanted_configs(exp, profile, point, seed, extra))


def _missing(seed_dir: str, wanted: dict[str, dict]) -> list[str]:
    from pimrl_jax import compare

    return [
        m
        for m, config in wanted.items()
        if not compare.same_config((compare.read_results(seed_dir, m) or {}).get("config"), config)
    ]


def _run(cmd: list[str]) -> int:
    print(f"\n##### {' '.join(cmd[2:])}", flush=True)
    return subprocess.run(cmd, check=False).returncode


def run_point(exp, profile, point: Point, seeds, extra_cli=(), extra=(), made=None) -> None:
    """Make the point's data (unless in `made`, a set of data made by this invocation) and
    train/evaluate its missing runs (through compare)."""
    data_over = [o for o in cli_overrides(point.overrides) if o.startswith("--config.data.")]
    data_over += [o for o in extra_cli if o.startswith("--config.data.")]
    config_arg = f"--config=experiments/{exp}.py:{profile}"
    made = set() if made is None else made
    for seed in seeds:
        seed_dir = os.path.join(point.root, f"seed{seed}")
        wanted = wanted_configs(exp, profile, point, seed, extra)
        todo = _missing(seed_dir, wanted)
        if not todo:
            print(f"##### {point.root}/seed{seed}: {', '.join(point.models)} done", flush=True)
            continue
        for m in todo:  # a run made with an earlier config is set aside, not refused
            results.set_aside_if_stale(os.path.join(seed_dir, m), results.flatten(wanted[m]))
        data_key = (config_arg, *data_over)
        if data_key not in made:
            if _run([sys.executable, "-m", "solvers", config_arg, *data_over]):
                raise RuntimeError(f"making the data of {point.label or exp} failed (see above)")
            made.add(data_key)
        cmd = [sys.executable, "-m", "pimrl_jax.compare", config_arg, f"--workdir={seed_dir}"]
        cmd += [f"--models={','.join(todo)}", f"--config.seed={seed}"]
        _run(cmd + cli_overrides(point.overrides) + list(extra_cli))  # failures show as missing
        _rewrite_report(exp, profile, point, seed_dir)


def _rewrite_report(exp: str, profile: str, point: Point, seed_dir: str) -> None:
    """compare wrote a table of the models it ran; rewrite it for every model of the directory
    (all of MODELS in a `make results` directory)."""
    from pimrl_jax import compare

    models = MODELS if point.shared else point.models
    title = f"{exp} ({profile}, test split)" + (f", {point.label}" if point.label else "")
    compare.write_report(seed_dir, compare.collect(seed_dir, models), title=title)


def time_path(study: str, exp: str, profile: str) -> str:
    return os.path.join(study_root(study, exp, profile), "time.json")


def run_study(study, exp, profile, seeds, points, extra_cli=(), extra=(), lead=None) -> float:
    """Run every point of `study` on `exp` (and the forecasts); return the wall seconds."""
    t0 = time.perf_counter()
    made = set()
    for point in points:
        run_point(exp, profile, point, seeds, extra_cli, extra, made)
    if study == "forecast":
        from pimrl_jax import forecast

        point = points[0]
        rows = [r for r in forecast.rows() if r in point.models]
        if "pimrl" in point.models:
            rows.insert(rows.index("pimrl") + 1, forecast.MICRO_RESTART)
        forecast.run(point.root, seeds, rows, lead)
    seconds = time.perf_counter() - t0
    results.add_time(time_path(study, exp, profile), seconds)
    return seconds


# ----------------------------------------------------------------------------- sections


def _summaries(point: Point, seeds) -> dict[str, dict]:
    """Per model, `results.summarize` over the seeds, plus `failed`: [(seed, why)] of the seeds
    whose training stopped without results."""
    out = {}
    for m in point.models:
        dirs = [os.path.join(point.root, f"seed{s}", m) for s in seeds]
        runs = [results.read_json(os.path.join(d, "results.json")) for d in dirs]
        out[m] = results.summarize(runs, seeds)
        stopped = [
            (s, results.training_failure(d))
            for s, d, r in zip(seeds, dirs, runs, strict=True)
            if r is None
        ]
        out[m]["failed"] = [(s, why) for s, why in stopped if why]
    return out


def _cell(summary: dict, name: str = "rmse") -> str:
    if summary["n"] == 0:
        return "training failed" if summary.get("failed") else "not run"
    if name == "hct":
        return results._pm(summary["hct"])
    if summary["diverged"] and not summary["n_finite"]:
        return "diverged"
    text = results._pm(summary[name])
    if summary["diverged"]:
        text += f" ({summary['n_finite']} finite)"
    return text


def _command(study: str, exp: str, profile: str, seeds) -> str:
    cmd = f"make study STUDY={study} EXP={exp} PROFILE={profile}"
    if tuple(seeds) != SEEDS:
        cmd += f" SEEDS={','.join(map(str, seeds))}"
    return cmd


def _copy_figure(src: str, name: str) -> str | None:
    if not os.path.exists(src):
        return None
    os.makedirs(FIGURES, exist_ok=True)
    shutil.copyfile(src, os.path.join(FIGURES, name))
    return f"figures/{name}"


def _time_line(study: str, exp: str, profile: str) -> str:
    spent = results.read_json(time_path(study, exp, profile))
    if not spent:
        return (
            "Wall time of this command: none recorded here (written from runs of other commands)."
        )
    return (
        f"Wall time of this command so far: {spent['seconds'] / 60:.0f} min over "
        f"{spent['invocations']} invocation(s) on the 2-core CPU machine (with any `make "
        "results` run it had to train; runs it reused cost nothing)."
    )


def _head(study, exp, profile, seeds) -> list[str]:
    return [
        f"### {results.TITLES[exp]}, {profile} profile",
        "",
        f"    {_command(study, exp, profile, seeds)}",
        "",
        f"Seeds {', '.join(map(str, seeds))}; mean ± std over the seeds that ran. "
        + _time_line(study, exp, profile),
        "",
    ]


def notes_path(study: str, exp: str, profile: str) -> str:
    """A study's hand-written reading of one system's numbers, appended to its section as it is
    (beside the systems' own notes, `results.notes_path`)."""
    return f"docs/results-notes/{study}-{exp}-{profile}.md"


def stale_runs(exp: str, profile: str, points, seeds) -> list[tuple[Point, int, str]]:
    """(point, seed, model) of the runs the section would show that were made with another
    config than the study's command makes today (e.g. before a model's tuned recipe changed)."""
    return [
        (point, seed, m)
        for point in points
        for seed in seeds
        for m in missing_models(exp, profile, point, seed)
        if os.path.exists(os.path.join(point.root, f"seed{seed}", m, "results.json"))
    ]


def _stale_line(exp, profile, seeds, points) -> str | None:
    stale = stale_runs(exp, profile, points, seeds)
    if not stale:
        return None
    own = [p for p in points if not p.shared]
    groups: dict[tuple, list[str]] = {}  # the points where every seed is stale -> models
    partial = []
    for m in dict.fromkeys(m for _, _, m in stale):
        every = tuple(p for p in points if all((p, s, m) in stale for s in seeds))
        if every:
            groups.setdefault(every, []).append(m)
        partial += [f"{m} seed {s} at {p.label}" for p, s, n in stale if n == m and p not in every]
    parts = []
    for where, models in groups.items():
        if len(where) == len(points):
            at = "every point"
        elif list(where) == own and len(own) > 1:
            at = "every point but the profile's own"
        else:
            at = " · ".join(p.label or "the profile" for p in where)
        parts.append(f"{', '.join(models)}, every seed, at {at}")
    return (
        "**Made with an earlier config** (a tuned recipe or another setting changed since they "
        "ran, so their numbers are not the current models'; rerunning the command above redoes "
        "them): " + "; ".join(parts + partial) + "."
    )


def section(study, exp, profile, seeds, points) -> str | None:
    """The markdown block of `study` on `exp` from what `runs/` holds (and its notes), or None
    if nothing; runs made with another config than today's are named (`stale_runs`)."""
    block = _tables(study, exp, profile, seeds, points)
    stale = _stale_line(exp, profile, seeds, points) if block is not None else None
    if stale:
        block += "\n\n" + stale
    notes = results.notes_block(notes_path(study, exp, profile))
    if block is not None and notes:
        block += "\n\n" + notes
    return block


def _tables(study, exp, profile, seeds, points) -> str | None:
    if study == "forecast":
        return _forecast_section(exp, profile, seeds, points[0])
    summaries = {p: _summaries(p, seeds) for p in points}
    if not any(s["n"] for per in summaries.values() for s in per.values()):
        return None
    lines = _head(study, exp, profile, seeds)
    if study == "noise":
        lines += _noise_tables(exp, profile, points, summaries)
    elif study == "kn":
        lines += _kn_tables(exp, profile, points, summaries)
    else:
        lines += _noprior_table(points, summaries)
    return "\n".join(lines)


def _forecast_section(exp, profile, seeds, point: Point) -> str | None:
    from pimrl_jax import forecast

    path = os.path.join(point.root, forecast.OUT_DIR, "forecast.json")
    stored = results.read_json(path)
    if not stored:
        return None
    summary = stored["summary"]
    any_row = next((s for s in summary.values() if s.get("n")), {})
    n_seeds = len(stored.get("seeds", seeds))
    lines = _head("forecast", exp, profile, stored.get("seeds", seeds))
    lead_times = any_row.get("lead_time") or []
    if lead_times:
        lines += [
            f"Leads 1…{len(lead_times)} (Δt = {lead_times[0]:.4g}); leads up to "
            f"{any_row.get('leads_to_next_burst')} reach the next burst.",
            "",
        ]
    lines.append(forecast.table(summary, n_seeds))
    figure = _copy_figure(
        os.path.join(point.root, forecast.OUT_DIR, "forecast.png"),
        f"studies-forecast-{exp}-{profile}.png",
    )
    if figure:
        lines += ["", f"![forecast skill, {exp} {profile}]({figure})"]
    return "\n".join(lines)


def _noise_tables(exp, profile, points, summaries) -> list[str]:
    models = points[0].models
    head = "| model | " + " | ".join(p.label for p in points) + " |"
    sep = "|" + "---|" * (len(points) + 1)
    lines = ["RMSE on the clean test trajectories:", "", head, sep]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(_cell(summaries[p][m]) for p in points) + " |")
    lines += ["", "HCT (per field):", "", head, sep]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(_cell(summaries[p][m], "hct") for p in points) + " |")
    title = f"{exp} {profile}: RMSE against training noise"
    plot = lambda path: _noise_plot(points, summaries, path, title)  # noqa: E731
    return lines + _figure("noise", exp, profile, plot, "noise robustness")


def _figure(study: str, exp: str, profile: str, plot, alt: str) -> list[str]:
    """Draw a study's figure with `plot(path)` under its runs and copy it to docs/figures; the
    markdown lines that show it (none when it could not be drawn)."""
    path = os.path.join(study_root(study, exp, profile), f"{study}.png")
    plot(path)
    figure = _copy_figure(path, f"studies-{study}-{exp}-{profile}.png")
    return ["", f"![{alt}, {exp} {profile}]({figure})"] if figure else []


def _noise_plot(points, summaries, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for m in points[0].models:
        xs, ys, es = [], [], []
        for p in points:
            stat = summaries[p][m]["rmse"]
            if stat is not None:
                xs.append(100 * float(p.key))
                ys.append(stat[0])
                es.append(stat[1])
        if xs:
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m)
    ax.set_yscale("log")
    ax.set_xlabel("training noise (% of each field's std)")
    ax.set_ylabel("test RMSE (clean)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _kn_tables(exp, profile, points, summaries) -> list[str]:
    config = base_config(exp, profile)
    dt, horizon = float(config.data.dt), int(config.data.n_macro) * int(config.data.k)
    models = points[0].models
    head = ["k", "N", "Δt", "T", "frames / trajectory"]
    head += [f"{m} RMSE" for m in models] + [f"{m} HCT" for m in models]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        k, N = p.key
        T = horizon // k
        frames = (T + 1) + -(-T // N) * (k - 1)
        own = " (profile)" if p.shared else ""
        row = [str(k), str(N) + own, f"{k * dt:g}", str(T), str(frames)]
        row += [_cell(summaries[p][m]) for m in models]
        row += [_cell(summaries[p][m], "hct") for m in models]
        lines.append("| " + " | ".join(row) + " |")
    title = f"{exp} {profile}: (k, N) sensitivity"
    plot = lambda path: _kn_plot(points, summaries, path, title)  # noqa: E731
    return lines + _figure("kn", exp, profile, plot, "k/N sensitivity")


def _kn_plot(points, summaries, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted({p.key[0] for p in points})
    Ns = sorted({p.key[1] for p in points})
    models = points[0].models
    fig, axes = plt.subplots(
        len(models), 2, figsize=(9, 3.4 * len(models)), constrained_layout=True, squeeze=False
    )
    for r, m in enumerate(models):
        for c, (name, label) in enumerate((("rmse", "test RMSE"), ("hct", "HCT (time)"))):
            grid = np.full((len(ks), len(Ns)), np.nan)
            for p in points:
                stat = summaries[p][m][name]
                if stat is not None:
                    grid[ks.index(p.key[0]), Ns.index(p.key[1])] = stat[0]
            ax = axes[r, c]
            im = ax.imshow(grid, origin="lower", cmap="viridis_r" if name == "rmse" else "viridis")
            for i in range(len(ks)):
                for j in range(len(Ns)):
                    text = "–" if np.isnan(grid[i, j]) else f"{grid[i, j]:.3g}"
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize="small",
                        bbox=dict(boxstyle="round", facecolor="white", alpha=0.7, linewidth=0),
                    )
            ax.set_xticks(range(len(Ns)), [str(n) for n in Ns])
            ax.set_yticks(range(len(ks)), [str(k) for k in ks])
            ax.set_xlabel("N (macro steps per cycle)")
            ax.set_ylabel("k (micro steps per Δt)")
            ax.set_title(f"{m}: {label}")
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _noprior_table(points, summaries) -> list[str]:
    head = ["model", "known terms", "RMSE", "HCT (per field)", "diverged (seed: step)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in points[0].models:
        for p in points:
            s = summaries[p][m]
            div = ", ".join(f"{seed}: {step}" for seed, step in s["diverged"]) or "none"
            div = div if s["n"] else "–"
            if s["failed"]:
                stopped = "; ".join(f"seed {seed}: {why}" for seed, why in s["failed"])
                div = f"training stopped ({stopped})" + ("" if div == "–" else f"; {div}")
            lines.append(f"| {m} | {p.label} | {_cell(s)} | {_cell(s, 'hct')} | {div} |")
    reductions = []
    for p in points:
        red = results.reduction(summaries[p])
        if red is not None:
            reductions.append(f"{p.label}: {red:.1f} %")
    if reductions:
        lines += ["", "PIMRL's RMSE reduction against PeRCNN — " + "; ".join(reductions) + "."]
    return lines


# ----------------------------------------------------------------------------- the document


HEADER = """# Studies beyond the paper

Written by `make study STUDY=<study> EXP=<system>` (`python -m pimrl_jax.studies`); do not edit
by hand. The paper names its own limits — noise, the need to tune k and N, the need for known PDE
terms — and evaluates only free rollouts from one initial state; these studies measure them on
our quick profiles (docs/profiles.md), on the project's 2-core CPU machine. Every run resumes and
is reused when its config matches (runs under `runs/studies/`, and the `make results` runs in
`runs/<exp>-<profile>/` where a study point is the profile itself). Each block says the command
that regenerates it; mean ± std over training seeds (population std). A block is never replaced
by one that reads "not run" where it holds a result (runs made on another machine, say): the
documented block and its figure stay, and the command says what would train the missing runs.
"""


def _marker(study: str, exp: str) -> tuple[str, str]:
    return f"<!-- study:{study}:{exp} -->", f"<!-- /study:{study}:{exp} -->"


def _existing(text: str, study: str, exp: str) -> str | None:
    start, end = _marker(study, exp)
    match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    return match.group(1) if match else None


def _systems_in(text: str, study: str) -> set[str]:
    return set(re.findall(rf"<!-- study:{study}:(\w+) -->", text))


def not_run(study: str, exp: str, profile: str) -> str:
    return (
        f"### {results.TITLES[exp]}, {profile} profile\n\n"
        f"Not run yet: `{_command(study, exp, profile, SEEDS)}`."
    )


def lost_results(documented: str | None, block: str) -> list[str]:
    """The cells ("row at column") of the `documented` block's tables that hold a result and
    read "not run" in `block`, the one made from `runs/` here: runs this machine lacks (the
    document was written elsewhere, or they were moved away)."""
    if not documented:
        return []

    def tables(text: str) -> list[dict[tuple[str, str], str]]:
        chunks = re.split(r"\n\s*\n", text)
        return [results._table_cells(c) for c in chunks if c.lstrip().startswith("|")]

    return [
        f"{row} at {column}"
        for before, now in zip(tables(documented), tables(block), strict=False)
        for (row, column), cell in before.items()
        if cell != "not run" and now.get((row, column)) == "not run"
    ]


def fresh_section(study, exp, profile, seeds, points, doc: str = DOC) -> str | None:
    """`section` from the runs here, unless it would turn a result documented in `doc` into
    "not run" (`lost_results`): then None (the document keeps its block and its figure, as
    `write` keeps every block it is not given), and a line says what would train the runs."""
    figure = os.path.join(FIGURES, f"studies-{study}-{exp}-{profile}.png")
    drawn = open(figure, "rb").read() if os.path.exists(figure) else None
    block = section(study, exp, profile, seeds, points)
    old = open(doc).read() if os.path.exists(doc) else ""
    lost = lost_results(_existing(old, study, exp), block) if block else []
    if not lost:
        return block
    if drawn is not None:  # section() drew the figure from these runs: put the documented back
        with open(figure, "wb") as f:
            f.write(drawn)
    names = list(dict.fromkeys(lost))  # the RMSE and HCT tables name the same cells
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    print(
        f"kept the documented {study} {exp} block: runs/ here lacks {len(lost)} of its results "
        f"({shown}); `{_command(study, exp, profile, seeds)}` trains them",
        flush=True,
    )
    return None


def write(blocks: dict[tuple[str, str], str], profile: str, doc: str = DOC) -> None:
    """Rewrite `doc`: every study's title and description, then its systems' blocks — the new
    ones from `blocks` {(study, exp): markdown}, the others as the file had them, else "not run
    yet" with the command."""
    old = open(doc).read() if os.path.exists(doc) else ""
    parts = [HEADER]
    for study in STUDIES:
        exps = set(DEFAULT_SYSTEMS[study]) | _systems_in(old, study)
        exps |= {e for s, e in blocks if s == study}
        lines = [f"## {TITLES[study]}", "", DESCRIPTIONS[study]]
        for exp in [e for e in SYSTEMS if e in exps]:
            body = blocks.get((study, exp))
            if body is None:  # no runs here: the block as the doc had it, with today's notes
                kept = _existing(old, study, exp)
                notes = notes_path(study, exp, profile)
                body = results.with_current_notes(kept, notes) if kept else None
            body = body or not_run(study, exp, profile)
            start, end = _marker(study, exp)
            lines += ["", start, body, end]
        parts.append("\n".join(lines))
    os.makedirs(os.path.dirname(doc) or ".", exist_ok=True)
    with open(doc, "w") as f:
        f.write("\n\n".join(parts) + "\n")


# ----------------------------------------------------------------------------- the CLI


def _ints(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as error:
        raise ValueError(f"--{name} takes integers separated by commas, got {text!r}") from error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pimrl_jax.studies", description=__doc__)
    parser.add_argument("--study", required=True, help=f"one of {', '.join(STUDIES)}")
    parser.add_argument("--exp", default=None, help="a system, several (a,b), or all")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--models", default=None, help="default: the study's own")
    parser.add_argument("--levels", default=",".join(map(str, NOISE_LEVELS)), help="noise")
    parser.add_argument("--k", default=None, help="kn: k values (default around the profile's)")
    parser.add_argument("--N", default=None, help="kn: N values (default around the profile's)")
    parser.add_argument("--lead", type=int, default=None, help="forecast: frames per burst")
    parser.add_argument("--write_only", action="store_true", help="only rewrite the docs")
    args, overrides = parser.parse_known_args(argv)
    from experiments.common import PROFILES

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 1

    if args.study not in STUDIES:
        return fail(f"unknown study {args.study!r}; valid studies: {', '.join(STUDIES)}")
    if args.exp in (None, ""):
        systems = DEFAULT_SYSTEMS[args.study]
    elif args.exp == "all":
        systems = SYSTEMS
    else:
        systems = tuple(args.exp.split(","))
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        return fail(f"unknown system {unknown[0]!r}; valid: {', '.join(SYSTEMS)}, all")
    if args.profile not in PROFILES:
        return fail(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    bad = [o for o in overrides if not (o.startswith("--config.") and "=" in o)]
    if bad:
        return fail(f"unknown argument {bad[0]!r}; config overrides take --config.a.b=value")
    models = tuple(args.models.split(",")) if args.models else None
    wrong = [m for m in models or () if m not in MODELS]
    if wrong:
        return fail(f"unknown model {wrong[0]!r}; valid models: {', '.join(MODELS)}")
    try:
        seeds = _ints(args.seeds, "seeds")
        ks, Ns = _ints(args.k, "k"), _ints(args.N, "N")
        levels = tuple(float(v) for v in args.levels.split(","))
    except ValueError as error:
        return fail(str(error).split(": could not")[0])
    if any(p <= 0 for p in levels):
        return fail(f"--levels are noise fractions > 0 (0.05 is 5 %), got {args.levels!r}")
    if args.lead is not None and args.lead < 1:
        return fail(f"--lead must be >= 1, got {args.lead}")
    extra = []
    for o in overrides:
        key, value = o[len("--config.") :].split("=", 1)
        extra.append((key, value))
    blocks = {}
    for exp in systems:
        try:
            points = plan(args.study, exp, args.profile, models, levels, ks, Ns)
            if not args.write_only:
                parsed = _parsed_extra(exp, args.profile, extra)
                minutes = (
                    run_study(
                        args.study, exp, args.profile, seeds, points, overrides, parsed, args.lead
                    )
                    / 60
                )
                print(f"##### {args.study} {exp} {args.profile}: {minutes:.1f} min", flush=True)
        except (RuntimeError, ValueError) as error:
            return fail(str(error))
        body = fresh_section(args.study, exp, args.profile, seeds, points)
        if body is not None:
            blocks[(args.study, exp)] = body
    write(blocks, args.profile)
    print(f"wrote {DOC}")
    return 0


def _parsed_extra(exp: str, profile: str, extra) -> tuple[tuple[str, object], ...]:
    """`--config.a.b=value` overrides of the command line as typed values (the type of the
    field in the base config), for comparing stored runs' configs in-process."""
    import ast

    config = base_config(exp, profile)
    out = []
    for key, text in extra:
        node = config
        *path, name = key.split(".")
        try:
            for part in path:
                node = node[part]
            current = node[name]
        except (KeyError, AttributeError) as error:
            raise ValueError(f"--config.{key}: no such config field") from error
        if isinstance(current, str):
            value = text
        else:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
            if isinstance(current, float) and isinstance(value, int):
                value = float(value)
        out.append((key, value))
    return tuple(out)


if __name__ == "__main__":
    sys.exit(main())
