"""Train and evaluate every model of one experiment, then tabulate and plot them side by side.

    python -m pimrl_jax.compare --config experiments/gs2d.py:smoke --workdir runs/gs2d-smoke
    python -m pimrl_jax.compare --config experiments/kdv.py:quick --workdir runs/kdv-quick \\
        --models=pimrl,percnn --config.train.steps=200
        (or: make compare EXP=kdv PROFILE=quick)

Each model runs as its own process, `python -m pimrl_jax.main --config <config>
--workdir <workdir>/<model> --config.model.name=<model> [overrides]`, so a model that crashes or
diverges cannot take the others down, and an interrupted comparison resumes (the trainer resumes
from its checkpoints). A model whose `<workdir>/<model>/results.json` already holds the same config
is not run again. Its output goes to `<workdir>/<model>/compare.log`.

The reference rows `persistence` and `oracle` (no parameters, no training) are part of the
default model list. Writes `<workdir>/comparison.md` (model, RMSE, MAE, HCT, diverged-at,
parameters, train time, rollout time) and `<workdir>/comparison.png` (RMSE(t) and correlation(t)
of all models), and prints the table. `--config.eval.split=val` scores the validation split
instead, for tuning, into `comparison_val.{md,png}` and `<model>/results_val.json`;
`--noreport` prints the table without writing either (`make results` runs several comparisons
of one directory side by side and writes the report once they are all done). A diverged
model shows "diverged at step j" in place of RMSE/MAE; a model whose run failed shows "failed"
and where its log is. Config overrides must use the `--config.a.b=value`
form; they apply to every model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from absl import app, flags
from ml_collections import config_flags

from pimrl_jax import evaluate, plots, tuning
from pimrl_jax.models import registry
from pimrl_jax.models.registry import MODELS  # the learned models, then persistence and oracle

_FLAGS: dict = {}


def _define_flags() -> None:
    """Defined only when run as a program: absl flags are global, and `pimrl_jax.main` defines
    `--config`/`--workdir` too, so importing this module (tests) must not define them again."""
    _FLAGS["config"] = config_flags.DEFINE_config_file(
        "config", None, "experiment config, e.g. experiments/gs2d.py:smoke", lock_config=False
    )
    _FLAGS["workdir"] = flags.DEFINE_string("workdir", None, "comparison directory")
    _FLAGS["models"] = flags.DEFINE_list("models", list(MODELS), "models, in table order")
    _FLAGS["force"] = flags.DEFINE_bool("force", False, "rerun models whose results.json matches")
    _FLAGS["report"] = flags.DEFINE_bool("report", True, "write comparison.{md,png}")
    flags.mark_flags_as_required(["config", "workdir"])


def same_config(stored: dict | None, wanted: dict) -> bool:
    """Whether a stored run's config agrees with `wanted` on every field `wanted` sets (fields the
    trainer adds to its stored copy, fields that change neither training nor evaluation
    (`train.NO_EFFECT_FIELDS`), and the model-specific fields its model never reads, are
    ignored). Both are JSON-ready dicts."""
    if not isinstance(stored, dict):
        return False
    from pimrl_jax.train import ADDED_FIELDS, NO_EFFECT_FIELDS

    flat = {**ADDED_FIELDS, **tuning.flatten(stored)}
    name = wanted.get("model", {}).get("name")
    return all(
        flat.get(key, object()) == value
        for key, value in tuning.flatten(wanted).items()
        if not registry.field_in(key, NO_EFFECT_FIELDS)
        and not (flat.get("model.name") == name and registry.never_reads(name, key))
    )


def model_config(config, model: str, overridden: Sequence[str] = ()) -> dict:
    """The JSON-ready config a run of `model` is evaluated with: its tuned settings applied
    (`pimrl_jax.tuning`) except where the command line (`overridden` paths) set the value; the
    `tuned` record itself is left out."""
    cfg = config.copy_and_resolve_references()
    cfg.model.name = model
    wanted = evaluate.config_to_dict(tuning.apply_tuned(cfg, overridden))
    # `tuned` records every model's choice; a run depends only on the values applied to it.
    wanted.pop("tuned", None)
    return wanted


def read_results(workdir: str, model: str, split: str = "test") -> dict | None:
    path = os.path.join(workdir, model, evaluate.results_file(split))
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def collect(workdir: str, models: Sequence[str], split: str = "test") -> dict[str, dict | None]:
    """`{model: results.json contents or None}` in `models` order."""
    return {m: read_results(workdir, m, split) for m in models}


def run_model(config_arg: str, overrides: Sequence[str], workdir: str, model: str) -> dict:
    """Train and evaluate `model` in a subprocess (the trainer's CLI); its output is shown and
    logged to `<workdir>/<model>/compare.log`. Returns `{"returncode", "wall_s", "log"}`."""
    run_dir = os.path.join(workdir, model)
    os.makedirs(run_dir, exist_ok=True)
    log_path = os.path.join(run_dir, "compare.log")
    cmd = [
        sys.executable,
        "-m",
        "pimrl_jax.main",
        f"--config={config_arg}",
        f"--workdir={run_dir}",
        f"--config.model.name={model}",
        "--noprogress",
        *overrides,
    ]
    print(f"\n=== {model}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(cmd) + "\n")
        # Unbuffered, so the run's progress shows (and is logged) as it happens.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        for line in proc.stdout:
            sys.stdout.write(f"  [{model}] {line}")
            log.write(line)
        proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode:
        print(f"=== {model} failed (exit {proc.returncode}); log: {log_path}", flush=True)
    return {"returncode": proc.returncode, "wall_s": wall, "log": log_path}


def _num(x, fmt=".4g") -> str:
    return "n/a" if x is None else format(x, fmt)


def _seconds(x) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g} s" if x < 100 else f"{x / 60:.1f} min"


def _row(model: str, res: dict | None, failure: dict | None) -> list[str]:
    if res is None:
        if failure is not None:
            why = f"failed (exit {failure['returncode']}, log {failure['log']})"
        else:
            why = "missing (not run)"
        return [model, why] + [""] * 7
    div = res.get("divergence") or {}
    if res.get("diverged"):
        step = div.get("step")
        at = f"step {step} (t = {_num(div.get('time'))})"
        rmse = mae = f"diverged at step {step}"
    else:
        at, rmse, mae = "no", _num(res.get("rmse")), _num(res.get("mae"))
    train = _seconds(res.get("train_time_s"))
    if res.get("params_from", model) != model:
        train = f"= {res['params_from']}"
    timings = res.get("timings") or {}
    return [
        model,
        rmse,
        mae,
        _num(res.get("hct")),
        _num(res.get("hct_count")),
        at,
        f"{res['n_params']:,}" if res.get("n_params") is not None else "n/a",
        train,
        _seconds(timings.get("rollout_s_per_trajectory")),
    ]


def format_table(results: dict[str, dict | None], failures: dict | None = None) -> str:
    """Markdown table of the models' headline numbers, in `results` order."""
    header = [
        "model",
        "RMSE",
        "MAE",
        "HCT",
        "HCT (count)",
        "diverged at",
        "params",
        "train time",
        "rollout / traj.",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, res in results.items():
        lines.append("| " + " | ".join(_row(model, res, (failures or {}).get(model))) + " |")
    return "\n".join(lines)


def _reduction_line(results: dict[str, dict | None]) -> str:
    """PIMRL's RMSE reduction against PeRCNN, the comparison the paper headlines."""
    a, b = results.get("pimrl"), results.get("percnn")
    if not a or not b or a.get("rmse") is None or b.get("rmse") in (None, 0):
        return ""
    return f"RMSE reduction of pimrl against percnn: {100 * (1 - a['rmse'] / b['rmse']):.1f}%"


def write_report(
    workdir: str,
    results: dict[str, dict | None],
    title: str = "",
    failures: dict | None = None,
    stem: str = "comparison",
) -> str:
    """Write `<stem>.md` and `<stem>.png` into `workdir`; return the table."""
    table = format_table(results, failures)
    done = {m: r for m, r in results.items() if r is not None}
    any_res = next(iter(done.values()), {})
    horizon = any_res.get("horizon") or {}
    notes = [
        f"# Comparison: {title}" if title else "# Comparison",
        "",
        f"Test horizon: {horizon.get('n_steps', '?')} macro steps of Δt = "
        f"{_num(horizon.get('dt_macro'))} (time {_num(horizon.get('time'))}); "
        f"HCT threshold {any_res.get('hct_threshold', 0.8)}. RMSE/MAE over all test "
        "trajectories, predicted frames, channels and grid points (the initial condition is not "
        "scored); HCT = time before the per-field correlation (each field's Pearson over "
        "space, averaged over fields) first drops below the threshold, and the count-of-frames "
        "variant. A diverged model (NaN/Inf or max-abs above the sanity bound) "
        "shows the first diverged macro step instead of RMSE/MAE; see its results.json.",
        "",
    ]
    reduction = _reduction_line(results)
    text = "\n".join(notes) + ("\n" + reduction + "\n\n" if reduction else "") + table + "\n"
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, f"{stem}.md"), "w") as f:
        f.write(text)
    curves = {m: r["curves"] for m, r in done.items() if r.get("curves")}
    if curves:
        plots.plot_curves(
            [],
            curves,
            os.path.join(workdir, f"{stem}.png"),
            threshold=float(any_res.get("hct_threshold", 0.8)),
            title=title,
        )
    return table


def report_title(config, split: str = "test") -> str:
    return f"{config.get('experiment', '?')} ({config.get('profile', '?')}, {split} split)"


def report_stem(split: str = "test") -> str:
    return "comparison" if split == "test" else f"comparison_{split}"


def _overrides(argv: Sequence[str]) -> list[str]:
    """The `--config.a.b=value` overrides on the command line, to hand on to each run."""
    out = []
    for arg in argv[1:]:
        if arg.startswith("--config."):
            if "=" not in arg:
                raise app.UsageError(f"write config overrides as {arg}=VALUE (one argument)")
            out.append(arg)
    return out


def _config_arg(argv: Sequence[str]) -> str:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    raise app.UsageError("--config experiments/<exp>.py:<profile> is required")


def main(argv):
    config = _FLAGS["config"].value
    workdir = _FLAGS["workdir"].value
    models = _FLAGS["models"].value
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise app.UsageError(f"unknown model(s) {unknown}; valid models: {', '.join(MODELS)}")
    from solvers.systems import SYSTEMS

    if "oracle" in models and config.data.system not in SYSTEMS:
        models = [m for m in models if m != "oracle"]
        print(
            f"oracle left out: it needs the data's PDE, and this dataset's system is "
            f"{config.data.system!r} (imported without --system)",
            flush=True,
        )
    full_argv = sys.argv
    config_arg, overrides = _config_arg(full_argv), _overrides(full_argv)
    split = config.eval.get("split", "test")  # --config.eval.split=val: a tuning comparison
    overridden = config_flags.get_override_values(flags.FLAGS["config"])
    failures = {}
    for model in models:
        stored = read_results(workdir, model, split)
        if not _FLAGS["force"].value and same_config(
            stored and stored.get("config"), model_config(config, model, overridden)
        ):
            print(f"=== {model}: results.json with this config exists, skipped", flush=True)
            continue
        info = run_model(config_arg, overrides, workdir, model)
        fresh = read_results(workdir, model, split)
        if info["returncode"] or fresh is None or fresh == stored:
            failures[model] = info
    results = collect(workdir, models, split)
    # A stale results.json of a run that just failed must not be reported as current.
    for model in failures:
        results[model] = None
    report, stem = _FLAGS["report"].value, report_stem(split)
    if report:
        table = write_report(workdir, results, report_title(config, split), failures, stem)
    else:
        table = format_table(results, failures)
    print("\n" + table)
    reduction = _reduction_line(results)
    if reduction:
        print(reduction)
    if report:
        print(f"\nwrote {os.path.join(workdir, stem + '.md')} and {stem}.png")
    if failures:
        print(f"failed: {', '.join(failures)} (see their compare.log)", file=sys.stderr)
        return 1  # a diverged model is a result; a run that did not finish is not
    return 0


if __name__ == "__main__":
    from solvers import cli

    _define_flags()
    app.run(cli.guard(main), flags_parser=cli.parse_flags)
