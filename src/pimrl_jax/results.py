"""Regenerate the comparison of every system: ``make results [EXP=<system>] [PROFILE=quick]``.

    python -m pimrl_jax.results                      # all five systems, quick profile
    python -m pimrl_jax.results --exp kdv --seeds 0,1,2
    python -m pimrl_jax.results --exp gs2d --tune      # the tuning runs (validation split)

For each system: make its dataset if missing (`python -m solvers`), then for every model and
training seed run `python -m pimrl_jax.compare` in `runs/<exp>-<profile>/seed<s>` with
`--config.seed=<s>` (pimrl with pimrl_nomp, which evaluates its parameters; percnn, convlstm, fno,
crop; the reference rows persistence and oracle together), one run per CPU core at a time
(`--jobs`; each run's output then goes to `runs/<exp>-<profile>/seed<s>/<model>.log`), and write
each seed's `comparison.{md,png}` once they are done.
Everything is resumable: compare skips a (model, seed) whose `results.json` holds the same
config, and an interrupted training resumes from its checkpoint, so the whole thing can run in
pieces across sessions (in the background, with a log). A trained run whose settings no longer
match (a tuned choice recorded after it ran) is moved to `runs/<exp>-<profile>/stale/` and
trained again. The wall time spent on a system is recorded per invocation in
`runs/<exp>-<profile>/results_time.json` and summed over the time they covered (invocations
that overlapped count once); where runs were adopted from tuning runs (`adopted.json` in the
run), that time is evaluation only, and the section says so instead of judging the budget on it.

Then it rewrites `docs/results.md` from what `runs/` holds — every model over every seed,
whatever `--models`/`--seeds` chose to train: per system, mean ± std over the seeds (population
std) of RMSE, MAE and HCT (per field, the headline; pooled and worst field
beside it), diverged runs marked with their seed and step, the stability diagnostics, PIMRL's
reduction against our PeRCNN next to the paper's, the closure report of the dataset and the
comparison figure of seed 0. A system with no runs here keeps its section from the current file
(between its `<!-- results:<exp> -->` markers), so one system can be regenerated alone. The
README's headline table (between `<!-- headline -->` markers) is rewritten the same way.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from pimrl_jax.models.registry import LEARNED, PARAMS_FROM, REFERENCES
from pimrl_jax.tuning import (
    CANDIDATES,
    MODIFIERS,
    applies,
    candidate_flags,
    chosen,
    equivalent,
    flatten,
    modified,
    names,
    with_modifier,
)

SYSTEMS = ("kdv", "burgers", "fn", "gs2d", "gs3d")
SEEDS = (0, 1, 2)
TUNING_SEED = 0  # the tuning runs (validation split) train seed 0 and double as its result run
# The seed check of the tuning protocol: a candidate is chosen only if its runs on these seeds
# stay finite on the validation split too (one training seed cannot see a seed-dependent
# divergence: docs/results-notes/burgers-quick.md).
CHECK_SEEDS = tuple(s for s in SEEDS if s != TUNING_SEED)
IN_USE = "in_use"  # `--tune --candidates in_use`: each model's candidate in use (`tuning_plan`)
# The paper's RMSE of PIMRL and PeRCNN on the authors' own data (method.md §6).
PAPER = {
    "kdv": (0.0457, 0.0942),
    "burgers": (0.0068, 0.0075),
    "fn": (0.1349, 0.1591),
    "gs2d": (0.0133, 0.0455),
    "gs3d": (0.0116, 0.0532),
}
TITLES = {
    "kdv": "1D KdV",
    "burgers": "2D Burgers",
    "fn": "2D FitzHugh–Nagumo",
    "gs2d": "2D Gray–Scott",
    "gs3d": "3D Gray–Scott",
}
# The wall-time budget of `make results EXP=<system>` on the 2-core CPU machine, every model and
# seed included (issue 13), in minutes.
BUDGET_MIN = {"kdv": 45, "burgers": 45, "fn": 45, "gs2d": 45, "gs3d": 120}
BUDGET_JOBS = 2  # runs side by side there: one per core, `default_jobs`
ADOPTED = "adopted.json"  # in a results run copied from a tuning run: which one
DOC = "docs/results.md"
README = "README.md"


# ----------------------------------------------------------------------------- running


def default_jobs(n_runs: int) -> int:
    """Runs at a time when none is asked for: one per CPU core, at most `n_runs`. Each training
    process of the quick profiles keeps about one core busy (small convolutions), so on a CPU
    machine they run side by side; on one accelerator ask for --jobs 1."""
    return max(1, min(n_runs, os.cpu_count() or 1))


def run_commands(commands, jobs: int = 1) -> list[int]:
    """Run `commands`, a list of (label, argv, log path), `jobs` at a time; return their exit
    codes.

    One at a time, a command's output streams here; side by side, each command's output goes to
    its log (appended) and a line says where, and when the command ends. Side by side the
    children do not preallocate accelerator memory (XLA_PYTHON_CLIENT_PREALLOCATE=false), so
    they can share one. Each command is a process group of its own: stopped (Ctrl-C, SIGTERM
    via `stop_on_sigterm`), this stops every process a command started (compare's trainer too),
    and each resumes from its last checkpoint next time.
    """
    if jobs <= 1:
        codes = []
        for label, cmd, _ in commands:
            print(f"\n##### {label}: {' '.join(cmd[2:])}", flush=True)
            process = subprocess.Popen(cmd, start_new_session=True)
            try:
                codes.append(process.wait())
            finally:
                _stop(process)
        return codes
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    codes: list[int | None] = [None] * len(commands)
    running: dict[int, tuple[subprocess.Popen, object]] = {}
    waiting = list(range(len(commands)))
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index = waiting.pop(0)
                label, cmd, log = commands[index]
                os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
                out = open(log, "a")  # closed when the process ends
                print(f"\n##### {label}: {' '.join(cmd[2:])}\n##### log: {log}", flush=True)
                running[index] = (
                    subprocess.Popen(
                        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
                    ),
                    out,
                )
            time.sleep(0.5)
            for index, (process, out) in list(running.items()):
                if process.poll() is not None:
                    out.close()
                    codes[index] = process.returncode
                    del running[index]
                    print(f"##### {commands[index][0]}: exit {process.returncode}", flush=True)
    finally:  # interrupted (Ctrl-C, SIGTERM): stop the runs too
        for process, out in running.values():
            _stop(process)
            out.close()
    return codes


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group of `process` (a command and whatever it started), unless
    the command has ended; then wait for it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    process.wait()


def stop_on_sigterm() -> None:
    """SIGTERM (`kill`) ends this process like Ctrl-C does: through its `finally` blocks, which
    stop the runs it started and record the time spent."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def run_groups(models) -> list[list[str]]:
    """`models` as the comparisons `make results` starts separately, one trained model each, so
    that runs side by side keep every core busy until the end: a model that evaluates another's
    parameters (`PARAMS_FROM`) goes with that model, after it; the reference rows (nothing to
    train) go together."""
    groups: dict[str, list[str]] = {}
    for model in models:
        source = PARAMS_FROM.get(model)
        key = source if source in models else ("references" if model in REFERENCES else model)
        groups.setdefault(key, []).append(model)
    return [sorted(group, key=lambda m: m in PARAMS_FROM) for group in groups.values()]


def run_order(groups: list[list[str]], seeds, jobs: int) -> list[tuple[list[str], int]]:
    """(group, seed) in the order `run_commands` starts them, `jobs` at a time: the groups (the
    longest trainings first) in chunks of `jobs`, each chunk seed by seed. So the runs side by
    side are different models' and a model's next seed starts after its previous one has
    compiled its steps: the persistent compilation cache (`main`, `.cache/jax`) then serves
    them — same shapes, other values — instead of two seeds compiling the same programs at once
    (fn: 26-28 s of compile in PIMRL's first stage-2 call, 7 s from the cache)."""
    return [
        (group, seed)
        for start in range(0, len(groups), jobs)
        for seed in seeds
        for group in groups[start : start + jobs]
    ]


def make_dataset(exp: str, profile: str) -> None:
    """Make the system's dataset where it is missing or stale (`python -m solvers` keeps a
    current one); raise if that fails."""
    cmd = [sys.executable, "-m", "solvers", f"--config=experiments/{exp}.py:{profile}"]
    if subprocess.run(cmd, check=False).returncode:
        raise RuntimeError(f"making the {exp} {profile} dataset failed (its error is above)")


def run_system(exp: str, profile: str, seeds, models, overrides=(), jobs: int | None = None):
    """Make the data, train and evaluate every (model, seed) — `jobs` comparisons at a time,
    by default one per CPU core — then write each seed's comparison report; return this
    invocation's wall seconds."""
    from pimrl_jax import compare

    t0 = time.perf_counter()
    make_dataset(exp, profile)
    if not overrides:
        set_aside_stale_runs(exp, profile, seeds, models)
        for seed in seeds:
            for model, candidate in adopt_tuning_runs(exp, profile, models, seed).items():
                print(f"##### {exp} {model}: seed {seed} is the {candidate!r} tuning run")
    groups = run_groups(models)
    jobs = jobs or default_jobs(len(groups) * len(seeds))
    runs = run_order(groups, seeds, jobs)
    commands = []
    for group, seed in runs:
        workdir = f"{run_root(exp, profile)}/seed{seed}"
        cmd = [
            sys.executable,
            "-m",
            "pimrl_jax.compare",
            f"--config=experiments/{exp}.py:{profile}",
            f"--workdir={workdir}",
            f"--models={','.join(group)}",
            f"--config.seed={seed}",
            "--noreport",
            *overrides,
        ]
        label = f"{exp} {profile} seed {seed} {'+'.join(group)}"
        commands.append((label, cmd, f"{workdir}/{group[0]}.log"))
    try:
        codes = run_commands(commands, jobs)
    finally:  # an interrupted invocation's time was spent too
        add_time(
            os.path.join(run_root(exp, profile), "results_time.json"), time.perf_counter() - t0
        )
    config = _config(exp, profile)
    for seed in seeds:
        with config.unlocked():
            config.seed = seed

        # Results of a run's own settings; a results.json left from other settings is not its
        # result. With command line overrides, which this check does not apply, none is.
        def current(model, found):
            wanted = compare.model_config(config, model)
            return not overrides and compare.same_config((found or {}).get("config"), wanted)

        failed = [(g, code) for (g, s), code in zip(runs, codes, strict=True) if code and s == seed]
        workdir = f"{run_root(exp, profile)}/seed{seed}"
        _write_report(workdir, models, failed, compare.report_title(config), "test", current)
        print(f"##### wrote {workdir}/comparison.md and comparison.png", flush=True)
    return time.perf_counter() - t0


def _write_report(workdir: str, models, failed, title: str, split: str, current) -> None:
    """`workdir`'s comparison report of `models`, once all their runs are done: a model of a
    failed run (`failed`: [(its models, exit code)]) shows as failed unless
    `current(model, its results)` says the results it has are its own."""
    from pimrl_jax import compare

    found = compare.collect(workdir, models, split)
    failures = {
        model: {"returncode": code, "log": os.path.join(workdir, model, "compare.log")}
        for group, code in failed
        for model in group
        if not current(model, found[model])
    }
    found.update({model: None for model in failures})
    compare.write_report(workdir, found, title, failures, compare.report_stem(split))


def run_root(exp: str, profile: str) -> str:
    return f"runs/{exp}-{profile}"


def set_aside_stale_runs(exp: str, profile: str, seeds, models) -> list[str]:
    """Move every trained run whose stored config no longer matches the experiment's (e.g. a
    model's tuned choice was recorded after it ran) to `<run root>/stale/`, so it is trained
    again instead of refused; nothing is deleted. Returns the new paths."""
    from pimrl_jax import compare

    config, moved = _config(exp, profile), []
    for seed in seeds:
        with config.unlocked():
            config.seed = seed
        for model in models:
            run = os.path.join(run_root(exp, profile), f"seed{seed}", model)
            target = set_aside_if_stale(run, flatten(compare.model_config(config, model)))
            moved += [target] if target else []
    return moved


def set_aside_if_stale(run: str, wanted: dict) -> str | None:
    """If `run` (`<root>/seed<s>/<model>`) holds a training run of a learned model whose stored
    config differs from `wanted` (flat) in a field that changes training, move it to
    `<root>/stale/seed<s>-<model>-<time>` and return that path: it is trained again instead of
    refused, and nothing is deleted. An interrupted run with the same config stays (it resumes)."""
    from pimrl_jax import train as train_lib

    model, seed_dir = os.path.basename(run), os.path.dirname(run)
    stored = read_json(os.path.join(run, "config.json"))
    if model not in LEARNED or PARAMS_FROM.get(model, model) != model or not stored:
        return None
    changed = train_lib.config_differences(stored, wanted)
    if not changed:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{os.path.basename(seed_dir)}-{model}-{stamp}"
    target = os.path.join(os.path.dirname(seed_dir), "stale", name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(run, target)
    print(
        f"##### {run}: trained with other settings ({', '.join(changed[:4])}"
        f"{', …' if len(changed) > 4 else ''}); moved to {target}, training it again",
        flush=True,
    )
    return target


# ----------------------------------------------------------------------------- tuning


def tune_root(exp: str, profile: str, candidate: str, seed: int = TUNING_SEED) -> str:
    return f"runs/tune/{exp}-{profile}/{candidate}/seed{seed}"


def tune_system(
    exp: str, profile: str, models, candidates=CANDIDATES, jobs: int | None = None
) -> float:
    """Make the dataset if missing, train every model with every candidate of `pimrl_jax.tuning`
    (or those of `candidates`) on seed 0 and score it on the validation split — one comparison
    per (candidate, model) as in `run_system`, `jobs` at a time (default one per CPU core) —
    then write each candidate's `comparison_val` report; return the wall seconds. A candidate
    "+<modifier>" is each model's candidate in use with that modifier on top (`tuning_plan`)."""
    from pimrl_jax import compare

    t0 = time.perf_counter()
    make_dataset(exp, profile)
    config = _config(exp, profile)
    runs = [
        (candidate, group)
        for candidate, trained in tuning_plan(config, models, candidates).items()
        for group in run_groups(trained)
    ]
    commands = [
        _validation_command(exp, profile, c, group, TUNING_SEED, config, "tuning", report=False)
        for c, group in runs
    ]
    try:
        codes = run_commands(commands, jobs or default_jobs(len(commands)))
    finally:  # an interrupted invocation's time was spent too
        add_time(f"runs/tune/{exp}-{profile}/tune_time.json", time.perf_counter() - t0)
    for candidate in dict.fromkeys(c for c, _ in runs):
        trained = [m for c, group in runs if c == candidate for m in group]
        failed = [
            (g, code) for (c, g), code in zip(runs, codes, strict=True) if code and c == candidate
        ]
        title = compare.report_title(config, "val") + f", {candidate}"
        _write_report(  # a failed run's model without validation results failed
            tune_root(exp, profile, candidate), trained, failed, title, "val",
            lambda model, found: found is not None,
        )  # fmt: skip
    return time.perf_counter() - t0


def tuning_plan(config, models, candidates) -> dict[str, list[str]]:
    """{candidate: the models a tuning round of `candidates` trains with it}: a learned model
    where the candidate is a run of its own for it (`tuning.applies`), the reference rows beside
    every candidate that trains one. "+<modifier>" stands for each learned model's candidate in
    use with the modifier on top, IN_USE for its candidate in use itself (a model evaluating
    another's parameters follows that one's): on a machine without the tuning runs, IN_USE then
    "+<modifier>" is one modifier round without training every candidate again."""
    plan: dict[str, list[str]] = {}
    for candidate in candidates:
        for model in models:
            if model not in LEARNED:
                continue
            name = candidate
            if candidate == IN_USE:
                name = chosen(config, model)
            elif candidate.startswith("+"):
                name = with_modifier(chosen(config, model), candidate[1:])
            if applies(model, name, config):
                plan.setdefault(name, []).append(model)
    refs = [m for m in models if m not in LEARNED]
    return {c: trained + refs for c, trained in plan.items()}


def check_seeds(exp: str, profile: str, models, seeds=CHECK_SEEDS, jobs: int = 1) -> dict[str, str]:
    """The seed check: per learned model, its candidates in order of seed-0 validation RMSE, each
    also trained on `seeds` and scored on the validation split until one stays finite there on
    every seed; then the candidates that one modifies (`modified`: the one in use before its
    modifier round) are trained on `seeds` too where they are finite on seed 0, so that
    `protocol_choice` can rank them by their mean over every seed. A results run with the same
    settings (`runs/<exp>-<profile>/seed<s>/<model>`) is copied in and only evaluated; the runs
    made here are the results runs of a candidate that becomes the choice (`adopt_tuning_runs`).
    The seeds of one candidate run `jobs` at a time. Returns {model: the protocol's choice}."""

    def check(model: str, candidate: str) -> bool:
        commands = [_seed_command(exp, profile, model, candidate, seed) for seed in seeds]
        run_commands([c for c in commands if c is not None], jobs)
        scores = [_val_score(_seed_result(exp, profile, model, candidate, s)) for s in seeds]
        return all(np.isfinite(scores))

    for row in tuning_rows(exp, profile, models):
        model = row["model"]
        if model in PARAMS_FROM:  # evaluates another model's parameters: not its own choice
            continue
        for candidate in _ranked(row):
            if not np.isfinite(_val_score(row["results"][candidate])):
                break
            if check(model, candidate):
                for base in modified(candidate):
                    own = row["same"].get(base, base)
                    if own in row["results"] and np.isfinite(_val_score(row["results"][own])):
                        check(model, own)
                break
    return {
        row["model"]: protocol_choice(row)[1]
        for row in tuning_rows(exp, profile, models)
        if row["model"] not in PARAMS_FROM
    }


def _seed_result(exp: str, profile: str, model: str, candidate: str, seed: int):
    return read_json(
        os.path.join(tune_root(exp, profile, candidate, seed), model, "results_val.json")
    )


def _seed_command(exp: str, profile: str, model: str, candidate: str, seed: int):
    """The command (and its log) that trains model `model` with `candidate`'s settings on
    training seed `seed` and scores it on the validation split (in the candidate's tuning
    directory); None when that is there already. A results run with the same settings is
    copied in first, so the command only evaluates it."""
    from pimrl_jax import compare

    if _seed_result(exp, profile, model, candidate, seed):
        return None
    target = os.path.join(tune_root(exp, profile, candidate, seed), model)
    tuned = _seed_result(exp, profile, model, candidate, TUNING_SEED)
    # The seed-0 run's settings on `seed`; `tuned` records the choices made when a run was made.
    wanted = {k: v for k, v in tuned["config"].items() if k not in ("eval", "tuned")}
    wanted["seed"] = seed
    source = os.path.join(run_root(exp, profile), f"seed{seed}", model)
    stored = read_json(os.path.join(source, "results.json"))
    if (
        not os.path.exists(target)
        and stored
        and compare.same_config(_without_eval(stored.get("config") or {}), wanted)
    ):
        ignore = shutil.ignore_patterns("results*.json", "figures*", "compare.log")
        shutil.copytree(source, target, ignore=ignore)
        print(f"##### {exp} {model}: seed {seed} of {candidate!r} is the results run", flush=True)
    config = _config(exp, profile)
    return _validation_command(exp, profile, candidate, [model], seed, config, "seed check")


def _validation_command(
    exp, profile, candidate: str, models, seed: int, config, what: str, report: bool = True
):
    """(label, argv, log) for `run_commands`: `compare` of `models` with `candidate`'s settings
    pinned, on training seed `seed`, scored on the validation split, in the candidate's tuning
    directory of that seed (its output in `<that directory>/<first model>.log` when run side by
    side); `report=False`: it writes no comparison report (`compare --noreport`)."""
    workdir = tune_root(exp, profile, candidate, seed)
    cmd = [
        sys.executable,
        "-m",
        "pimrl_jax.compare",
        f"--config=experiments/{exp}.py:{profile}",
        f"--workdir={workdir}",
        f"--models={','.join(models)}",
        f"--config.seed={seed}",
        "--config.eval.split=val",
        *candidate_flags(config, candidate),
        *([] if report else ["--noreport"]),
    ]
    label = f"{what} {exp} {profile}, {candidate}, seed {seed}, {'+'.join(models)}"
    return label, cmd, f"{workdir}/{models[0]}.log"


def add_time(path: str, seconds: float, end: float | None = None) -> None:
    """Record one invocation's wall time, the interval [end − seconds, end] (epoch seconds, `end`
    now by default), in `path`. Its `seconds` is the length of the union of the recorded
    intervals, so invocations that ran at the same time (one per seed, say) are not counted
    twice, plus `earlier_seconds`, what a record written before intervals were kept held."""
    end = time.time() if end is None else end
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent invocations: one update at a time
        spent = read_json(path) or {}
        earlier = spent["earlier_seconds"] if "intervals" in spent else spent.get("seconds", 0.0)
        intervals = spent.get("intervals", []) + [[end - seconds, end]]
        record = {
            "seconds": earlier + union_length(intervals),
            "invocations": spent.get("invocations", 0) + 1,
            "earlier_seconds": earlier,
            "intervals": intervals,
        }
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)


def union_length(intervals) -> float:
    """The total length covered by [start, end] intervals, overlaps counted once."""
    total, reach = 0.0, -np.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _without_eval(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "eval"}


def adopt_tuning_runs(exp: str, profile: str, models, seed: int = TUNING_SEED) -> dict[str, str]:
    """A learned model's run on `seed` is the tuning run (seed 0) or seed-check run (`check_seeds`)
    whose settings it now uses, where there is one: copy that run (checkpoints, config, logs; not
    its validation results) into the results directory when the latter has nothing yet, so only
    the test evaluation remains. Returns {model: candidate}."""
    from pimrl_jax import compare

    config, adopted = _config(exp, profile), {}
    with config.unlocked():
        config.seed = seed
    for model in models:
        target = os.path.join(run_root(exp, profile), f"seed{seed}", model)
        if model not in LEARNED or os.path.exists(os.path.join(target, "config.json")):
            continue
        wanted = _without_eval(compare.model_config(config, model))
        for candidate in names():
            source = os.path.join(tune_root(exp, profile, candidate, seed), model)
            stored = read_json(os.path.join(source, "results_val.json"))
            if stored and compare.same_config(_without_eval(stored.get("config") or {}), wanted):
                ignore = shutil.ignore_patterns("results_val.json", "figures_val", "compare.log")
                shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
                with open(os.path.join(target, ADOPTED), "w") as f:
                    json.dump({"candidate": candidate, "source": source}, f)
                adopted[model] = candidate
                break
    return adopted


def adopted_runs(exp: str, profile: str, seeds, models) -> int:
    """How many of the trained results runs here were adopted from tuning runs (`ADOPTED` in
    their directory): trained by `--tune`, so `make results` only evaluated them. A model that
    evaluates another's parameters (`PARAMS_FROM`) trains nothing and is not counted."""
    root = run_root(exp, profile)
    return sum(
        os.path.exists(os.path.join(root, f"seed{s}", m, ADOPTED))
        for s in seeds
        for m in models
        if m not in PARAMS_FROM
    )


def tuning_columns(exp: str, profile: str) -> tuple[str, ...]:
    """The candidates a system's tuning table shows: every candidate, and each candidate with a
    modifier where a tuning run of it is there (`runs/tune/<exp>-<profile>/<name>/seed0`)."""
    return CANDIDATES + tuple(
        c
        for c in names()
        if c not in CANDIDATES and os.path.isdir(tune_root(exp, profile, c, TUNING_SEED))
    )


def tuning_rows(exp: str, profile: str, models) -> list[dict]:
    """Per learned model: each candidate's validation result and the candidate in use."""
    config = _config(exp, profile)
    columns = tuning_columns(exp, profile)
    rows = []
    for model in models:
        if model not in LEARNED:
            continue
        # A candidate that sets what the model reads as an earlier one does is that one's run.
        own = {c: equivalent(model, c, config) for c in columns}

        def outcome(candidate: str, seed: int, model=model, own=own):
            """(validation results, training failure) of one run of `candidate`."""
            run = os.path.join(tune_root(exp, profile, own[candidate], seed), model)
            return _seed_result(exp, profile, model, own[candidate], seed), training_failure(run)

        first = {c: outcome(c, TUNING_SEED) for c in columns}
        checked = {c: [outcome(c, s) for s in CHECK_SEEDS] for c in columns}
        rows.append(
            {
                "model": model,
                "columns": columns,
                "results": {c: found for c, (found, _) in first.items()},
                "failures": {c: failure for c, (_, failure) in first.items()},
                "used": chosen(config, model),
                "same": {c: own[c] for c in columns if own[c] != c},
                "checks": {c: [found for found, _ in runs] for c, runs in checked.items()},
                "check_failures": {c: [f for _, f in runs] for c, runs in checked.items()},
            }
        )
    return rows


def _val_score(result) -> float:
    """What the protocol ranks by: validation RMSE, a diverged or missing run last."""
    if not result or result.get("diverged") or result.get("rmse") is None:
        return float("inf")
    return float(result["rmse"])


def tuning_table(rows: list[dict]) -> str | None:
    if not any(r for row in rows for r in row["results"].values()):
        return None
    seeds = ", ".join(map(str, CHECK_SEEDS))
    columns = rows[0]["columns"]
    head = [
        "model",
        *(f"{c}: val RMSE / HCT" for c in columns),
        f"seed check (val, seeds {seeds})",
        "choice",
        "in use",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = []
        for c in columns:
            r = row["results"][c]
            if c in row.get("same", {}):
                cells.append(f"= {row['same'][c]}")
            elif r is None:
                failure = row["failures"][c]
                cells.append(f"training failed: {failure}" if failure else "not run")
            elif r.get("diverged"):
                cells.append(f"diverged at step {r['divergence']['step']}")
            else:
                cells.append(f"{r['rmse']:.4g} / {r['hct']:.4g}")
        check, best = protocol_choice(row)
        used = row["used"]
        if row["model"] in PARAMS_FROM:  # evaluates another model's parameters: not its choice
            check, best = "–", "–"
            used += f" ({PARAMS_FROM[row['model']]}'s)"
        lines.append("| " + " | ".join([row["model"], *cells, check, best, used]) + " |")
    return "\n".join(lines)


def _ranked(row: dict) -> list[str]:
    """A tuning row's own candidates (not another's run) in order of seed-0 validation RMSE; ties
    and runs not made keep the columns' order (a diverged or missing run ranks last)."""
    own = [c for c in row.get("columns", CANDIDATES) if c not in row.get("same", {})]
    return sorted(own, key=lambda c: _val_score(row["results"][c]))


def protocol_choice(row: dict) -> tuple[str, str]:
    """(the seed-check cell, the protocol's choice) of one tuning row: the candidates in order of
    seed-0 validation RMSE, the first that stays finite on validation for every checked seed; a
    candidate whose seeds were not all run yet is named "(unchecked)"; a seed whose training
    failed (non-finite) fails the check. Where every candidate finite on seed 0 fails the check,
    the lowest seed-0 RMSE stays the choice ("none passes"). Where one passes, every candidate
    that has passed the check (the one in use before a modifier round has) is ranked by its mean
    validation RMSE over all the seeds, and the lowest mean is the choice (`_seed_means`)."""
    ranked = _ranked(row)
    notes, choice = [], "–"
    for c in ranked:
        if not np.isfinite(_val_score(row["results"][c])):
            break
        choice = f"{ranked[0]} (none passes)"
        checks = _checked(row, c)
        failures = _checked(row, c, "check_failures")
        if any(r is None and not f for r, f in zip(checks, failures, strict=True)):
            choice = f"{c} (unchecked)"
            break
        bad = [
            f"seed {s} training failed ({f})"
            if r is None
            else f"seed {s} diverged at step {r['divergence']['step']}"
            for s, r, f in zip(CHECK_SEEDS, checks, failures, strict=True)
            if r is None or not np.isfinite(_val_score(r))
        ]
        notes.append(f"{c}: " + (", ".join(bad) if bad else _seed_rmses(checks)))
        if not bad:
            choice = c
            means = _seed_means(row)
            best = min(means, key=means.get)
            if best != c:
                notes.append(
                    f"mean over seeds {', '.join(map(str, SEEDS))}: "
                    f"{best} {means[best]:.4g} < {c} {means[c]:.4g}"
                )
                choice = best
            break
    return ("; ".join(notes) or "not run"), choice


def _seed_means(row: dict) -> dict[str, float]:
    """{candidate: mean validation RMSE over every seed} of a tuning row's own candidates that are
    finite on validation for seed 0 and every checked seed. Ranking by seed 0 alone let a 0.1 %
    margin on one seed choose a candidate whose other two seeds were much worse (gs3d's PIMRL,
    twenty-fourth session: +pushforward 0.1514 against 0.1516 on seed 0, 0.899 against 0.518 on
    seed 1); once two candidates have passed the check, both have every seed to compare."""
    means = {}
    for c in _ranked(row):
        scores = [_val_score(r) for r in (row["results"][c], *_checked(row, c))]
        if all(np.isfinite(scores)):
            means[c] = float(np.mean(scores))
    return means


def _checked(row: dict, candidate: str, key: str = "checks") -> list:
    """A tuning row's `key` ("checks": validation results, "check_failures": training failures)
    of `candidate` on each CHECK_SEEDS seed, None where there is none."""
    return row.get(key, {}).get(candidate) or [None] * len(CHECK_SEEDS)


def _seed_rmses(results) -> str:
    return "finite (" + ", ".join(f"{r['rmse']:.4g}" for r in results) + ")"


def _config(exp: str, profile: str):
    return importlib.import_module(f"experiments.{exp}").get_config(profile)


def training_failure(run_dir: str) -> str | None:
    """Why a run left no results: the trainer's `error:` line in its compare.log, shortened
    (e.g. "non-finite loss or parameters in stage 2 (macro) at step 6 of 1000"), or None."""
    try:
        with open(os.path.join(run_dir, "compare.log")) as f:
            errors = [line[len("error: ") :] for line in f if line.startswith("error: ")]
    except OSError:
        return None
    if not errors:
        return None
    return errors[-1].split("; training stopped")[0].split(" (global step")[0].strip()


def read_json(path: str):
    """A JSON file's contents, or None when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- aggregating


def collect(exp: str, profile: str, seeds, models) -> dict[str, list]:
    """`{model: [results.json of each seed, or None]}` from `runs/`."""
    root = run_root(exp, profile)
    return {
        m: [read_json(os.path.join(root, f"seed{s}", m, "results.json")) for s in seeds]
        for m in models
    }


def divergence_bound_line(runs: dict[str, list]) -> str:
    """What "diverged" meant for these runs: the `eval.divergence_factor` their evaluations used
    (several where runs were evaluated under different settings)."""
    factors = sorted(
        {
            float(((r.get("config") or {}).get("eval") or {}).get("divergence_factor", 1e6))
            for rs in runs.values()
            for r in rs
            if r
        }
    )
    if not factors:
        return ""
    said = " or ".join(f"{f:g}" for f in factors)
    return f"Diverged: a frame with NaN/Inf or max-abs above {said} × the test data's."


def trained_on_line(runs: dict[str, list]) -> str:
    """Where these runs were trained (`train.machine()` of each invocation that trained steps):
    training is reproducible bitwise on one machine, not across CPUs."""
    done = [r for rs in runs.values() for r in rs if r and r.get("train_time_s") is not None]
    machines = sorted({m for r in done for m in r.get("trained_on") or []})
    unrecorded = sum(not r.get("trained_on") for r in done)
    if not done:
        return ""
    said = "; ".join(machines)
    if unrecorded:
        said += ("; " if said else "") + f"not recorded for {unrecorded} run(s) made before"
    return f"Trained on: {said}."


def budget_line(exp: str, runs: dict[str, list], spent: dict | None) -> str:
    """The system's wall-time budget against the wall time recorded so far, the runs' training
    times summed (a model evaluating another's parameters adds none): what `BUDGET_JOBS` runs at
    a time, the 2-core machine's default, need before any evaluation; and the models whose runs
    were shortened to the compute allowance (`train.step_scale` of their stored configs)."""
    trained = {m: [r for r in rs if r] for m, rs in runs.items() if m not in PARAMS_FROM}
    seconds = sum(r["train_time_s"] for rs in trained.values() for r in rs if r.get("train_time_s"))
    budget = BUDGET_MIN[exp]
    said = f"Budget: {budget} min"
    if spent:
        over = spent["seconds"] / 60 - budget
        said += f", exceeded by {over:.0f} min" if over >= 0.5 else ", met"
    if seconds:
        said += (
            f"; the runs' training times sum to {seconds:,.0f} s, "
            f"{seconds / 60 / BUDGET_JOBS:.1f} min with {BUDGET_JOBS} runs at a time before any "
            "evaluation"
        )
    scales = {
        model: sorted({r.get("config", {}).get("train", {}).get("step_scale", 1.0) for r in rs})
        for model, rs in trained.items()
        if rs
    }
    shortened = {m: v for m, v in scales.items() if v != [1.0]}
    if shortened:
        said += (
            ". Recipes shortened to the compute allowance (docs/profiles.md, train.step_scale): "
            + ", ".join(f"{m} × {'/'.join(f'{x:g}' for x in v)}" for m, v in shortened.items())
        )
    return said + "."


def mean_std(values) -> tuple[float, float] | None:
    """Mean and population std of the finite values, or None if there are none."""
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return None
    return float(np.mean(vals)), float(np.std(vals))


def _pm(stat, fmt=".4g") -> str:
    if stat is None:
        return "n/a"
    mean, std = stat
    return f"{mean:{fmt}} ± {std:{fmt}}"


def first_step_above(curve, reference) -> int | None:
    """The first macro step (1-based, as "left data range") at which the RMSE curve `curve`
    exceeds `reference` (NaN counts as above), or None if it never does."""
    n = min(len(curve), len(reference))
    with np.errstate(invalid="ignore"):
        above = ~(np.asarray(curve[:n], float) <= np.asarray(reference[:n], float))
    return int(np.argmax(above)) + 1 if above.any() else None


def summarize(runs: list, seeds, reference: list | None = None) -> dict:
    """Headline numbers of one model over its seeds (diverged seeds left out of RMSE/MAE).
    `reference`: the persistence row's results per seed, for the step where each seed's RMSE(t)
    first exceeds persistence's ("–" where either curve is missing)."""
    done = [(s, r) for s, r in zip(seeds, runs, strict=True) if r is not None]
    by_seed = dict(zip(seeds, reference or [None] * len(seeds), strict=True))
    finite = [r for _, r in done if not r.get("diverged")]
    diverged = [(s, r["divergence"]["step"]) for s, r in done if r.get("diverged")]

    def radius(r, which):
        jac = (r.get("diagnostics") or {}).get("jacobian_radius") or {}
        return (jac.get(which) or {}).get("max")

    def left(r):
        return ((r.get("diagnostics") or {}).get("left_data_range") or {}).get("step")

    def above(seed, r):
        ref = by_seed[seed]
        curves = [((x or {}).get("curves") or {}).get("rmse") for x in (r, ref)]
        return "–" if None in curves else first_step_above(*curves)

    return {
        "n": len(done),
        "n_seeds": len(seeds),
        "rmse": mean_std([r["rmse"] for r in finite]),
        "mae": mean_std([r["mae"] for r in finite]),
        "hct": mean_std([r["hct"] for _, r in done]),
        "hct_pooled": mean_std([r.get("hct_pooled") for _, r in done]),
        "hct_worst": mean_std([r.get("hct_worst_channel") for _, r in done]),
        "diverged": diverged,
        "radius_macro": mean_std([radius(r, "macro") for _, r in done]),
        "radius_micro": mean_std([radius(r, "micro") for _, r in done]),
        "left": [left(r) for _, r in done],
        "above_persistence": [above(s, r) for s, r in done],
        "train_s": mean_std([r.get("train_time_s") for _, r in done]),
        "n_finite": len(finite),
        "horizon": (done[0][1].get("horizon") if done else None),
    }


def failures(exp: str, profile: str, seeds, models) -> dict[str, list]:
    """`{model: [(seed, why)]}` for the seeds whose training failed (no results.json)."""
    root, out = run_root(exp, profile), {}
    for model in models:
        for seed in seeds:
            run_dir = os.path.join(root, f"seed{seed}", model)
            if not os.path.exists(os.path.join(run_dir, "results.json")):
                why = training_failure(run_dir)
                if why:
                    out.setdefault(model, []).append((seed, why))
    return out


def _per_seed_steps(steps: list) -> str:
    """One cell of per-seed macro steps: "never" for None, a single "–" where no seed has one."""
    if all(v == "–" for v in steps):
        return "–"
    return ", ".join("never" if v is None else str(v) for v in steps)


def table(summaries: dict[str, dict], n_seeds: int, failed: dict | None = None) -> str:
    head = [
        "model",
        "seeds",
        "RMSE",
        "MAE",
        "HCT (per field)",
        "HCT pooled",
        "HCT worst field",
        "diverged (seed: step)",
        "left data range at step",
        "RMSE above persistence from step",
        "ρ(J) macro / micro",
        "train time (s)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    failed = failed or {}
    for model, s in summaries.items():
        stopped = "; ".join(
            f"seed {seed}: training failed: {why}" for seed, why in failed.get(model, [])
        )
        if s["n"] == 0:
            what = stopped or "not run"
            lines.append(f"| {model} | 0/{n_seeds} | {what} |" + " |" * (len(head) - 3))
            continue
        rmse, mae = _pm(s["rmse"]), _pm(s["mae"])
        if s["diverged"] and s["n_finite"]:
            rmse += f" ({s['n_finite']} finite)"
            mae += f" ({s['n_finite']} finite)"
        elif s["diverged"]:
            rmse = mae = "diverged"
        div = ", ".join(f"{seed}: {step}" for seed, step in s["diverged"]) or "none"
        if stopped:
            div = stopped if div == "none" else f"{div}; {stopped}"
        left, above = _per_seed_steps(s["left"]), _per_seed_steps(s["above_persistence"])
        radius = f"{_pm(s['radius_macro'], '.3f')} / " + (
            _pm(s["radius_micro"], ".4f") if s["radius_micro"] else "–"
        )
        train = _pm(s["train_s"], ".0f") if s["train_s"] else "–"
        row = [model, f"{s['n']}/{n_seeds}", rmse, mae, _pm(s["hct"]), _pm(s["hct_pooled"])]
        row += [_pm(s["hct_worst"]), div, left, above, radius, train]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def reduction(summaries: dict[str, dict]) -> float | None:
    """PIMRL's mean RMSE reduction against PeRCNN's, in %."""
    a, b = summaries.get("pimrl", {}).get("rmse"), summaries.get("percnn", {}).get("rmse")
    if not a or not b or b[0] == 0:
        return None
    return 100.0 * (1.0 - a[0] / b[0])


def reduction_cell(summaries: dict[str, dict]) -> str:
    """The reduction as the tables print it: a mean over finite seeds only says so."""
    red = reduction(summaries)
    if red is None:
        return "n/a"
    partial = [m for m in ("pimrl", "percnn") if summaries.get(m, {}).get("diverged")]
    return f"{red:.1f} %" + (
        f" (finite seeds only; {' and '.join(partial)} diverged on some)" if partial else ""
    )


# ----------------------------------------------------------------------------- writing


def closure_line(exp: str, profile: str) -> str:
    from solvers import closure, dataset

    config = _config(exp, profile)
    try:
        stored = dataset.load(config.data.path, config.data, exp=exp, profile=profile)["closure"]
    except dataset.DatasetError as error:
        return f"Closure report: unavailable ({str(error).split(';')[0]})."
    if stored is None:
        return "Closure report: none stored in the dataset."
    return f"Closure report of the dataset ({stored['split']} split): {closure.one_line(stored)}."


def _reference(runs: dict[str, list], model: str) -> list | None:
    """The persistence row's runs, the yardstick of every other row's RMSE(t)."""
    return None if model == "persistence" else runs.get("persistence")


def section(exp: str, profile: str, seeds, models, old: str | None = None) -> str | None:
    """The markdown section of one system, or None if `runs/` holds nothing for it. `old` is the
    section as the doc held it: where `runs/tune/` lacks runs its tuning table was computed from
    (a fresh machine, say), that paragraph and table are kept from there, saying so, after the
    table of the runs here (if any)."""
    runs = collect(exp, profile, seeds, models)
    if not any(r for rs in runs.values() for r in rs):
        return None
    summaries = {m: summarize(rs, seeds, _reference(runs, m)) for m, rs in runs.items()}
    horizon = next((s["horizon"] for s in summaries.values() if s["horizon"]), None) or {}
    spent = read_json(os.path.join(run_root(exp, profile), "results_time.json"))
    adopted = adopted_runs(exp, profile, seeds, models)
    paper_pimrl, paper_percnn = PAPER[exp]
    paper_red = 100.0 * (1.0 - paper_pimrl / paper_percnn)
    lines = [
        f"## {TITLES[exp]}, {profile} profile",
        "",
        f"    make results EXP={exp} PROFILE={profile}",
        "",
        f"Test horizon: {horizon.get('n_steps', '?')} macro steps of Δt = "
        f"{horizon.get('dt_macro', '?')} (time {horizon.get('time', '?')}); seeds "
        f"{', '.join(map(str, seeds))}; mean ± std over the seeds that ran. "
        + (
            f"Wall time of `make results EXP={exp}` so far: {spent['seconds'] / 60:.0f} min "
            f"over {spent['invocations']} invocation(s) on the 2-core CPU machine"
            + (
                f", which trained none of the {adopted} run(s) it adopted from the tuning runs "
                "(their training time is the tuning paragraph's): not a measure of a clean "
                "clone's `make results`, so the budget is not judged on it. "
                if adopted
                else ". "
            )
            if spent
            else ""
        )
        + budget_line(exp, runs, None if adopted else spent)
        + " "
        + divergence_bound_line(runs)
        + " "
        + trained_on_line(runs),
        "",
        closure_line(exp, profile),
        "",
        table(summaries, len(seeds), failures(exp, profile, seeds, models)),
        "",
        "PIMRL's RMSE reduction against our PeRCNN: "
        + reduction_cell(summaries)
        + f"; the paper's, on its own data: {paper_red:.1f} % "
        f"(PIMRL {paper_pimrl}, PeRCNN {paper_percnn}).",
    ]
    tuning = tuning_table(tuning_rows(exp, profile, models))
    if tuning:
        tuned = read_json(f"runs/tune/{exp}-{profile}/tune_time.json")
        lines += [
            "",
            f"Tuning (validation split, seed {TUNING_SEED}; `make results EXP={exp} TUNE=1`): "
            "every learned model trained once per candidate of `pimrl_jax.tuning`; the seed check "
            "trains the candidates in order of that RMSE on seeds "
            f"{', '.join(map(str, CHECK_SEEDS))} too until one stays finite on validation for "
            "every seed, and the candidates a passing modifier modifies; of those finite on "
            "every seed, the lowest mean RMSE over the seeds is the choice; the one in use is "
            f"recorded in `experiments/{exp}.py` (`tuned`)"
            + (f"; {tuned['seconds'] / 60:.0f} min of wall time." if tuned else "."),
            "",
            tuning,
        ]
    # Earlier tables whose runs runs/tune/ here lacks; one the table made here holds every
    # result of is dropped.
    kept = [b for b in _tuning_blocks(old or "") if not (tuning and not _lost_cells(b, tuning))]
    for block in kept:
        lines += ["", block]
    if gap := unequal_tuning([t for t in (tuning, *kept) if t]):
        lines += ["", gap]
    if notes := notes_block(notes_path(exp, profile)):  # the hand-written reading, beside them
        lines += ["", notes]
    figure = os.path.join(run_root(exp, profile), f"seed{seeds[0]}", "comparison.png")
    if os.path.exists(figure):
        target = f"docs/figures/{exp}-{profile}-comparison.png"
        shutil.copyfile(figure, target)
        lines += [
            "",
            f"Curves of seed {seeds[0]} alone (RMSE and correlation against time):",
            "",
            f"![{exp} {profile} comparison](figures/{exp}-{profile}-comparison.png)",
        ]
    return "\n".join(lines)


KEPT_TUNING = (
    "*Kept from an earlier `make results`: `runs/tune/` here lacks tuning runs of this system that "
    "this paragraph and table were computed from, so they are the last ones computed from them.*"
)
_TUNING_BLOCK = r"Tuning \(validation split.*?\n\n(?:\|[^\n]*\|(?:\n|$))+"


def _tuning_blocks(body: str) -> list[str]:
    """Every tuning paragraph and table of a section as written (the one made from runs/tune/
    then, and those kept already), in order, each with the kept-from note."""
    blocks = [m.group(0).rstrip("\n") for m in re.finditer(_TUNING_BLOCK, body, re.S)]
    return [f"{KEPT_TUNING}\n\n{b}" for b in dict.fromkeys(blocks)]


def _table_cells(text: str) -> dict[tuple[str, str], str]:
    """{(row label, column header): cell} of the first markdown table in `text`. A row's label
    is its first cell, or as many leading cells as make the labels unique, named by their
    headers ("k 2, N 4" in the studies' k/N table)."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    if not rows:
        return {}
    head, *body = rows
    width = next(
        (w for w in range(1, len(head)) if len({tuple(r[:w]) for r in body}) == len(body)), 1
    )

    def label(row: list[str]) -> str:
        if width == 1:
            return row[0]
        return ", ".join(f"{h} {c}" for h, c in zip(head, row[:width], strict=False))

    return {
        (label(row), h): cell
        for row in body
        for h, cell in zip(head[width:], row[width:], strict=False)
    }


def _lost_cells(earlier: str, table: str) -> list[tuple[str, str]]:
    """The (model, candidate column) cells holding a result in the `earlier` tuning table that
    are "not run" in `table`, the one computed from runs/tune/ here."""
    now = _table_cells(table)
    return [
        key
        for key, cell in _table_cells(earlier).items()
        if key[1].endswith("val RMSE / HCT") and cell != "not run" and now.get(key) == "not run"
    ]


def unequal_tuning(tables: list[str]) -> str | None:
    """The protocol's equal budget, checked on a system's tuning tables (the one computed here
    first, any kept earlier one after it): a line naming each candidate in use that another
    learned model has not run in any of them (a `= X` cell is model X's run; a failed or diverged
    run was run), or None when every model in use stands on a candidate all the others ran."""
    merged: dict[tuple[str, str], list[str]] = {}
    for table in tables:
        for key, cell in _table_cells(table).items():
            merged.setdefault(key, []).append(cell)
    models = [m for m, h in merged if h == "in use" and m not in PARAMS_FROM]

    def cells(model: str, candidate: str) -> list[str]:
        return merged.get((model, f"{candidate}: val RMSE / HCT"), [])

    def ran(model: str, candidate: str) -> bool:
        # `= X` names a candidate that is a run of its own (`tuning.equivalent`): one step.
        found = cells(model, candidate)
        found += [c for same in found if same.startswith("= ") for c in cells(model, same[2:])]
        return any(c != "not run" and not c.startswith("= ") for c in found)

    def ran_modifier(model: str, modifier: str) -> bool:
        # A modifier's round gives each model its own candidate with it: any such run counts.
        return any(ran(model, c) for c in names() if modifier in c.split("+")[1:])

    gaps = []
    for model in models:
        candidate = merged[(model, "in use")][0]
        base, *modifiers = candidate.split("+")
        missing = [
            m
            for m in models
            if m != model
            and not (
                all(ran_modifier(m, mod) for mod in modifiers) if modifiers else ran(m, candidate)
            )
        ]
        if base in CANDIDATES and missing and modifiers:
            flags = " and ".join(f"`--candidates +{mod}`" for mod in modifiers)
            gaps.append(
                f"{model} uses `{candidate}`, and {', '.join(missing)} did not run their own"
                f" candidate with each of its modifiers ({flags})"
            )
        elif base in CANDIDATES and missing:
            gaps.append(f"{model} uses `{candidate}`, which {', '.join(missing)} did not run")
    if not gaps:
        return None
    return (
        "**Unequal tuning budget:** "
        + "; ".join(gaps)
        + " (the tuning protocol records a choice only once every learned model has run its"
        " candidate: run it for them, `--tune --candidates <candidate> --models <them>`)."
    )


def notes_path(exp: str, profile: str) -> str:
    """A system's hand-written notes (what the numbers show, what was tried), included in its
    section as they are; the only part of docs/results.md not computed from runs/."""
    return f"docs/results-notes/{exp}-{profile}.md"


NOTES_START, NOTES_END = "<!-- notes -->", "<!-- /notes -->"


def notes_block(path: str) -> str | None:
    """The hand-written notes at `path` between markers, so that a section kept as the doc had it
    (its runs are not on this machine) still takes today's notes (`with_current_notes`)."""
    if not os.path.exists(path):
        return None
    return f"{NOTES_START}\n{open(path).read().strip()}\n{NOTES_END}"


def with_current_notes(body: str, path: str) -> str:
    """`body`, a section kept from the doc, with its marked notes replaced by those now at `path`
    (removed if there are none); a body without marked notes is returned as it is."""
    pattern = re.escape(NOTES_START) + r".*?" + re.escape(NOTES_END)
    return re.sub(pattern, lambda _: notes_block(path) or "", body, count=1, flags=re.S)


def _marked(name: str, body: str) -> str:
    return f"<!-- results:{name} -->\n{body}\n<!-- /results:{name} -->"


def _existing(text: str, name: str) -> str | None:
    match = re.search(rf"<!-- results:{name} -->\n(.*?)\n<!-- /results:{name} -->", text, re.S)
    return match.group(1) if match else None


HEADER = """# Results

Written by `make results` (`python -m pimrl_jax.results`); do not edit by hand (a system's notes
come from `docs/results-notes/<system>-<profile>.md`, the rest from `runs/`). Every number
comes from the runs in `runs/` that the command written above each table made, on the project's
2-core CPU machine (no GPU). Our data come from our own solvers, so absolute values are not
comparable with the paper's; the relative reduction against our own PeRCNN on the same data is.
The profiles, their closure reports (quick and paper) and the reference rows are described in
[profiles.md](profiles.md).

Training is bitwise reproducible on one machine (`tests/test_resume.py`), not across CPUs: XLA
compiles other machine code there, and the round-off grows over thousands of training steps of
chaotic rollouts. Each section names the machine its runs were trained on. The same command on a
second machine (tenth session) gave kdv seed 0 PIMRL 0.174 and PeRCNN 0.022 where the first had
given 0.145 and 0.053: one seed is one draw, and the mean ± std over three seeds is the number
to compare. A third machine of the second's CPU model (nineteenth session, gs3d) gave the second's
runs back to the last digit where the recipe had not changed (PeRCNN and CROP).

HCT is per field (each field's Pearson correlation over space, averaged over the fields; method.md
§6); the pooled (channels × space) and worst-field variants are beside it. ρ(J) is the spectral
radius of the one-step Jacobian (macro step Δt / micro step δt) at test states
(`pimrl_jax.diagnostics`); "left data range" is the first macro step at which a rollout leaves the
test data's per-field range ± 10 %, per seed; "RMSE above persistence from step" the first macro
step at which a seed's RMSE(t) over the test trajectories exceeds the persistence row's (never: it
improves on persistence over the whole horizon). A run is "diverged" where a frame holds NaN/Inf
or its max-abs exceeds `eval.divergence_factor` × the test data's; each section names the factor
its runs were evaluated with: 10 since the tenth session (the first machine's runs used 10⁶, a
sanity bound only, under which a rollout that blew up less kept its large RMSE in the mean: gs2d
FNO seed 1 at RMSE 1086, gs3d FNO seed 2 at 78). A diverged seed is left out of the RMSE mean and
named with its step. Tuning (docs/profiles.md, "Tuning protocol"):
every learned model is trained once per candidate of `pimrl_jax.tuning` (the experiment's defaults,
the long-rollout recipe, and its long micro pretraining alone, which is the default run for the
models without a micro module) on seed 0 and keeps the one with the lower validation RMSE that also
stays finite on validation when trained with seeds 1 and 2 (the seed check; the lowest seed-0 RMSE
stays where none does), never a look at the test split. Where more than one candidate has passed
the check (the one in use and a modifier's, say), the lowest mean validation RMSE over the three
seeds is the choice (since the twenty-fifth session). A fourth candidate, `micro_rollout` (the
long pretraining, then PIMRL's micro module trained alone over macro windows as PeRCNN is, then the
joint stage with it frozen), is PIMRL's alone: for PeRCNN it is the long-pretraining run, for the
others their default, so PIMRL has one candidate more than PeRCNN and two more than ConvLSTM, FNO
and CROP. A fifth, `long_unroll` (`long_rollout` unrolled twice as far), is read by every model;
where it has not run the tuning table says "not run", and a choice from it is recorded only once
every model of the system has run it. A modifier goes on top of a candidate: `+noisy` (noise
injection on each rollout window's initial state, 2 % of each field's std) and `+pushforward`
(each rollout window trained from the model's own one-step prediction, without its gradient)
are each run by every learned model on its candidate in use (modifiers stack:
`long_unroll+noisy+pushforward`), ranked and seed-checked with the rest; the table has a column
per `<candidate>+<modifiers>` that ran."""


def _best_other(summaries: dict[str, dict], key: str, lower: bool) -> tuple[str, tuple] | None:
    """The best learned baseline on `key` (mean over seeds): (name, stat). Neither PIMRL nor
    its ablation `pimrl_nomp`, which evaluates PIMRL's own parameters, is a baseline. A model
    that diverged on some seed ranks behind every model finite on all of its seeds (its RMSE
    mean is over the finite seeds only, so one lucky seed must not make it the best)."""
    scored = [
        (m, s[key], bool(s.get("diverged")))
        for m, s in summaries.items()
        if m in LEARNED and m != "pimrl" and m not in PARAMS_FROM and s.get(key) is not None
    ]
    if not scored:
        return None
    sign = 1.0 if lower else -1.0
    name, stat, _ = min(scored, key=lambda item: (item[2], sign * item[1][0]))
    return name, stat


def _rmse_cell(summary: dict | None) -> str:
    """A model's mean RMSE over its finite seeds, saying which seeds diverged and where."""
    if not summary or not summary.get("n"):
        return "n/a"
    diverged = ", ".join(f"seed {seed} at step {step}" for seed, step in summary["diverged"])
    if diverged and not summary["n_finite"]:
        return f"diverged ({diverged})"
    cell = _pm(summary.get("rmse"))
    return f"{cell} ({summary['n_finite']} finite; diverged: {diverged})" if diverged else cell


def headline(sections_runs: dict[str, dict], profile: str, kept: dict | None = None) -> str:
    """The README's table; a system without runs here keeps its row from `kept` ({exp: row} of
    the table as the README held it), else says "not run"."""
    kept = kept or {}
    lines = [
        f"| system ({profile}) | PIMRL RMSE | best learned baseline RMSE | PIMRL HCT | "
        "best learned baseline HCT | PeRCNN RMSE | reduction vs PeRCNN | paper's reduction |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for exp in SYSTEMS:
        s = sections_runs.get(exp)
        paper = 100.0 * (1.0 - PAPER[exp][0] / PAPER[exp][1])
        if s is None and exp in kept:
            lines.append(kept[exp])
            continue
        if s is None:
            lines.append(f"| {TITLES[exp]} |" + " not run |" * 6 + f" {paper:.1f} % |")
            continue
        pim, per = s.get("pimrl", {}), s.get("percnn", {})
        other_rmse = _best_other(s, "rmse", lower=True)
        other_hct = _best_other(s, "hct", lower=False)
        ran = max((m.get("n", 0) for m in s.values()), default=0)
        partial = f" ({ran} of {pim['n_seeds']} seeds)" if pim and ran < pim["n_seeds"] else ""
        lines.append(
            f"| {TITLES[exp]}{partial} | {_rmse_cell(pim)} | "
            + (f"{_rmse_cell(s[other_rmse[0]])} ({other_rmse[0]})" if other_rmse else "n/a")
            + f" | {_pm(pim.get('hct'))} | "
            + (f"{_pm(other_hct[1])} ({other_hct[0]})" if other_hct else "n/a")
            + f" | {_rmse_cell(per)} | "
            + reduction_cell(s)
            + f" | {paper:.1f} % |"
        )
    return "\n".join(lines)


def _headline_rows(readme_text: str, profile: str) -> dict[str, str]:
    """{exp: its row} of the README's headline table, where that table is of `profile`."""
    match = re.search(r"<!-- headline -->\n(.*?)\n<!-- /headline -->", readme_text, re.S)
    if not match or not match.group(1).startswith(f"| system ({profile}) |"):
        return {}
    rows = {}
    for line in match.group(1).splitlines():
        for exp in SYSTEMS:
            if re.match(rf"\| {re.escape(TITLES[exp])}( \(\d+ of \d+ seeds\))? \|", line):
                rows[exp] = line
    return rows


def write(profile: str, seeds, models, doc: str = DOC, readme: str = README) -> None:
    old = open(doc).read() if os.path.exists(doc) else ""
    parts, summaries = [HEADER], {}
    for exp in SYSTEMS:
        written = _existing(old, exp)
        body = section(exp, profile, seeds, models, written)
        if body is not None:
            runs = collect(exp, profile, seeds, models)
            summaries[exp] = {m: summarize(rs, seeds) for m, rs in runs.items()}
        elif written:  # no runs here: kept as the doc had it, with today's notes
            body = with_current_notes(written, notes_path(exp, profile))
        else:
            body = (
                f"## {TITLES[exp]}, {profile} profile\n\nNot run yet: "
                f"`make results EXP={exp} PROFILE={profile}`."
            )
        parts.append(_marked(exp, body))
    with open(doc, "w") as f:
        f.write("\n\n".join(parts) + "\n")
    if os.path.exists(readme):
        text = open(readme).read()
        pattern = r"<!-- headline -->.*?<!-- /headline -->"
        if re.search(pattern, text, re.S):
            kept = {e: r for e, r in _headline_rows(text, profile).items() if e not in summaries}
            new = f"<!-- headline -->\n{headline(summaries, profile, kept)}\n<!-- /headline -->"
            with open(readme, "w") as f:
                f.write(re.sub(pattern, lambda _: new, text, flags=re.S))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pimrl_jax.results", description=__doc__)
    parser.add_argument("--exp", default="all", help=f"one of {', '.join(SYSTEMS)} or all")
    parser.add_argument("--profile", default="quick")
    parser.add_argument(
        "--seeds",
        default=",".join(map(str, SEEDS)),
        help="the seeds to train (the document always reports all of them)",
    )
    parser.add_argument(
        "--models",
        default=",".join(LEARNED + REFERENCES),
        help="the models to train (the document always reports all of them)",
    )
    parser.add_argument("--write_only", action="store_true", help="only rewrite the docs")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="training runs side by side (each one model on one seed or candidate): default "
        "one per CPU core; 1 on a single accelerator",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="train every candidate of pimrl_jax.tuning on seed 0, score on validation, then "
        "the seed check (check_seeds)",
    )
    parser.add_argument(
        "--candidates",
        default=",".join(CANDIDATES),
        help="with --tune: only these candidates (e.g. one added to pimrl_jax.tuning); "
        f"+MODIFIER ({', '.join('+' + m for m in MODIFIERS)}): each model's candidate in use "
        f"with that modifier; {IN_USE}: each model's candidate in use",
    )
    args, overrides = parser.parse_known_args(argv)
    from experiments.common import PROFILES

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 1

    systems = SYSTEMS if args.exp == "all" else (args.exp,)
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        return fail(f"unknown system {unknown[0]!r}; valid: {', '.join(SYSTEMS)}, all")
    if args.profile not in PROFILES:
        return fail(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    bad = [o for o in overrides if not o.startswith("--config.")]
    if bad:
        return fail(f"unknown argument {bad[0]!r}; config overrides take --config.a.b=value")
    models = tuple(args.models.split(","))
    valid = LEARNED + REFERENCES
    if any(m not in valid for m in models):
        wrong = next(m for m in models if m not in valid)
        return fail(f"unknown model {wrong!r}; valid models: {', '.join(valid)}")
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        return fail(f"--seeds takes integers separated by commas, got {args.seeds!r}")
    if args.jobs is not None and args.jobs < 1:
        return fail(f"--jobs takes a positive number, got {args.jobs}")
    if args.tune:
        if overrides:
            return fail("--tune takes no config overrides (the candidates set the fields)")
        candidates = tuple(args.candidates.split(","))
        valid = (*names(), IN_USE, *(f"+{m}" for m in MODIFIERS))
        wrong = [c for c in candidates if c not in valid]
        if wrong:
            return fail(f"unknown candidate {wrong[0]!r}; valid: {', '.join(valid)}")
        for exp in systems:
            t0 = time.perf_counter()
            tune_system(exp, args.profile, models, candidates, args.jobs)
            t1 = time.perf_counter()
            jobs = args.jobs or default_jobs(len(CHECK_SEEDS))
            try:
                for model, candidate in check_seeds(exp, args.profile, models, jobs=jobs).items():
                    print(f"##### seed check {exp} {model}: the choice is {candidate}")
            finally:
                add_time(f"runs/tune/{exp}-{args.profile}/tune_time.json", time.perf_counter() - t1)
            minutes = (time.perf_counter() - t0) / 60
            print(f"##### tuning {exp} {args.profile}: {minutes:.1f} min", flush=True)
    elif not args.write_only:
        for exp in systems:
            try:
                minutes = run_system(exp, args.profile, seeds, models, overrides, args.jobs) / 60
            except RuntimeError as error:
                return fail(str(error))
            print(f"##### {exp} {args.profile}: {minutes:.1f} min", flush=True)
    # `--models` and `--seeds` choose what to train; the document is always the whole comparison
    # (a report of the chosen subset would drop every other model's rows and seeds).
    write(args.profile, SEEDS, LEARNED + REFERENCES)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    stop_on_sigterm()
    sys.exit(main())
