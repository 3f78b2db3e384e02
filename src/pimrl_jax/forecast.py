"""Forecasting from a stream of bursts: skill against lead time since the last burst.

    make forecast EXP=kdv [PROFILE=quick]         # the trained runs of runs/kdv-quick/seed*/
    python -m pimrl_jax.forecast --exp kdv --profile quick --seeds 0,1,2 --lead 12

In use the sensor keeps delivering bursts: every N macro steps, k+1 fine frames spaced δt that
cover one macro interval [t_j, t_{j+1}] (j = 0, N, 2N, …; method.md §1). A free rollout from u_0
(`evaluate.py`) uses one of them; a forecast uses the newest. From the burst at macro index j_b
every model forecasts the macro frames after the burst's last frame t_{j_b+1}: lead ℓ = 1, 2, …
is the frame at macro index j_b + 1 + ℓ, time ℓ·Δt after the burst. Leads ℓ ≤ N − 1 reach up to
the start of the next burst (its first frame, j_b + N, is forecast before it arrives); larger
leads go on as if the next bursts were lost.

How each model restarts at a burst (*decisions*, the issue names the principle):

* **pimrl** carries its ConvLSTM state (h, c) across bursts and restarts its cycle from the
  burst, so its cycles stay aligned with the bursts (both start at multiples of N). Cycle b:
  step 1 from the observed û_{j_b} = burst[0] (its output is superseded by the observation, only
  its carry is kept); step 2, the correction, takes the message
  `restart="observed"` (default): the burst's last frame u(t_{j_b+1}), the measurement of what
  the micro module estimates, so pimrl starts from the same frame as the baselines, or
  `restart="micro"`: M^k(burst[0]), the micro module's k steps from the observed burst start
  (reported as `pimrl_micro_restart`);
  steps 3…N are autonomous. The carry after step N goes on to the next burst; leads beyond N − 1
  continue with free PIMRL cycles (micro messages from the model's own states). The very first
  burst starts from the zero carry, so with `restart="micro"` burst 0's forecast is the free
  rollout's frames 2… exactly.
* **pimrl_nomp**: the same with message passing off after the first cycle.
* every other model (**percnn, convlstm, fno, crop, persistence, oracle**) restarts from the
  latest observed frame, the burst's last one, as its own free rollout starts from u_0 (the
  ConvLSTM from the zero carry, PeRCNN with k micro steps per Δt, persistence repeating it).

Skill: RMSE(ℓ) over test trajectories, bursts, grid points and channels, and the per-field
Pearson correlation(ℓ) (each field's own, averaged over fields; method.md §6) averaged over
trajectories and bursts — all bursts whose lead-ℓ frame lies within the horizon. A forecast that
leaves the sanity bound (NaN/Inf or max-abs above `eval.divergence_factor` × the data's max-abs)
counts as diverged from there on: it is excluded, counted, and a lead with any diverged forecast
has no RMSE (null), as the free-rollout evaluation does. The headline is the RMSE over the
leads before the next burst (ℓ ≤ N − 1).

Pure functions at the top (`pimrl_forecast`, `restart_forecast`, `lead_targets`, `lead_skill`);
`forecast_model` scores one model; the CLI reads checkpoints through `train.restore_params` and
writes `<root>/forecast/{forecast.json, forecast.md, forecast.png}`, mean ± std over seeds next
to each run's free-rollout RMSE and HCT.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from pimrl_jax import cycle, evaluate, metrics
from pimrl_jax.results import read_json

RESTARTS = ("observed", "micro")
# The forecast rows: every model of the comparison, plus PIMRL restarted through its micro module.
MICRO_RESTART = "pimrl_micro_restart"
OUT_DIR = "forecast"


# ----------------------------------------------------------------------------------------------
# Pure forecasts
# ----------------------------------------------------------------------------------------------


def _check_bursts(bursts, k: int, N: int, lead: int) -> None:
    if bursts.ndim < 4:
        raise ValueError(f"bursts must be (B, n_bursts, k+1, *space, C), got {bursts.shape}")
    if bursts.shape[2] != k + 1:
        raise ValueError(f"bursts hold {bursts.shape[2]} frames; k={k} needs k+1 = {k + 1}")
    if N < 2 or lead < 1:
        raise ValueError(f"need N >= 2 and lead >= 1, got N={N}, lead={lead}")


def pimrl_forecast(
    micro_apply: cycle.MicroApply,
    macro_apply: cycle.MacroApply,
    params: Any,
    bursts: jnp.ndarray,
    lead: int,
    k: int,
    N: int,
    restart: str = "observed",
    message_passing: bool = True,
    remat: bool = False,
) -> jnp.ndarray:
    """PIMRL forecasts from every burst of a regular stream (schedule in the module docstring).

    Args:
      bursts: `(B, n_bursts, k+1, *space, C)`, burst b covering macro interval [bN, bN + 1].
      lead: forecast frames per burst (static); `restart`, `message_passing`, `remat` static.
    Returns:
      `(B, n_bursts, lead, *space, C)`: frame ℓ−1 of burst b forecasts macro index bN + 1 + ℓ.
    """
    _check_bursts(bursts, k, N, lead)
    if restart not in RESTARTS:
        raise ValueError(f"unknown restart {restart!r}; valid: {', '.join(RESTARTS)}")
    macro_step = cycle._maybe_remat(lambda s, c: macro_apply(params["macro"], s, c), remat)
    carry0 = cycle.zero_carry(macro_apply, params["macro"], bursts[:, 0, 0])
    n_free = max(0, lead - (N - 1))  # leads after the restarted cycle
    n_cycles = math.ceil(n_free / N)

    def per_burst(carry, burst):  # burst: (B, k+1, *space, C)
        first = burst[:, 0]
        u1, carry = macro_step(first, carry)
        if restart == "observed":
            message = burst[:, k]
        elif message_passing:
            message = cycle.micro_states(micro_apply, params["micro"], first, k, remat)
        else:  # no message passing: the model's own step-1 output is the next input
            message = u1

        def autonomous(state, _):
            u, c = macro_step(*state)
            return (u, c), u

        (u_end, carry_end), frames = lax.scan(autonomous, (message, carry), None, length=N - 1)
        frames = jnp.moveaxis(frames, 0, 1)  # (B, N-1, ...): leads 1 … N-1
        if n_cycles:
            more = cycle.pimrl_rollout(
                micro_apply,
                macro_apply,
                params,
                u_end,
                n_cycles,
                k,
                N,
                message_passing,
                remat,
                carry0=carry_end,
            )
            frames = jnp.concatenate([frames, more], axis=1)
        return carry_end, frames[:, :lead]

    _, frames = lax.scan(per_burst, carry0, jnp.moveaxis(bursts, 1, 0))
    return jnp.moveaxis(frames, 0, 1)


def restart_forecast(rollout, params: Any, frames: jnp.ndarray, lead: int) -> jnp.ndarray:
    """`rollout(params, u0, lead)` restarted from each observed frame, all in one batch.

    `frames: (B, n_bursts, *space, C)` (the bursts' last frames); returns `(B, n_bursts, lead,
    *space, C)` with the rollout's frames u_1 … u_lead after each.
    """
    b, s = frames.shape[:2]
    out = rollout(params, frames.reshape((b * s, *frames.shape[2:])), lead)
    return out.reshape((b, s, *out.shape[1:]))


def lead_targets(macro: np.ndarray, starts: np.ndarray, lead: int) -> tuple[np.ndarray, np.ndarray]:
    """The true frames of every forecast and which exist.

    Args:
      macro: `(B, T+1, *space, C)`; starts: `(n_bursts,)` macro index j_b of each burst.
    Returns:
      truth `(B, n_bursts, lead, *space, C)`, truth[:, b, ℓ−1] = macro[:, j_b + 1 + ℓ] (zeros past
      the horizon), and valid `(n_bursts, lead)`: whether j_b + 1 + ℓ ≤ T.
    """
    n_frames = macro.shape[1]
    index = np.asarray(starts)[:, None] + 1 + np.arange(1, lead + 1)[None, :]
    valid = index < n_frames
    truth = macro[:, np.where(valid, index, 0)]
    truth = np.where(valid.reshape(valid.shape + (1,) * (macro.ndim - 2)), truth, 0)
    return truth.astype(macro.dtype), valid


def lead_skill(pred: jnp.ndarray, truth: jnp.ndarray, bound: float) -> dict[str, jnp.ndarray]:
    """Per-forecast statistics `(B, n_bursts, lead)`: mse, mae, per-field correlation and ok
    (finite and within `bound` at this lead and every earlier one)."""
    shape = pred.shape[:3]
    flat = (shape[0] * shape[1], shape[2], *pred.shape[3:])
    p, t = pred.reshape(flat), truth.reshape(flat).astype(pred.dtype)
    good = metrics.frame_finite(p) & (metrics.frame_max_abs(p) <= bound)
    ok = jnp.cumprod(good.astype(jnp.int32), axis=1).astype(bool)
    stats = {
        "mse": metrics.frame_mse(p, t),
        "mae": metrics.frame_mae(p, t),
        "corr": jnp.mean(metrics.pearson(p, t, per_channel=True), axis=-1),
        "ok": ok,
    }
    return {name: v.reshape(shape) for name, v in stats.items()}


def summarize(stats: dict[str, np.ndarray], valid: np.ndarray, N: int, dt_macro: float) -> dict:
    """Skill against lead from `lead_skill`'s statistics (NumPy): per-lead RMSE, MAE and mean
    correlation over (trajectories, bursts) with the frame in the horizon; diverged forecasts are
    left out and a lead holding any of them has RMSE/MAE/correlation null."""
    lead = valid.shape[1]
    ok = np.asarray(stats["ok"], bool)
    where = np.broadcast_to(valid[None], ok.shape)
    rmse, mae, corr, count, diverged = [], [], [], [], []
    for j in range(lead):
        w = where[:, :, j]
        bad = int(np.sum(w & ~ok[:, :, j]))
        use = w & ok[:, :, j]
        count.append(int(np.sum(w)))
        diverged.append(bad)
        if bad or not use.any():
            rmse.append(None), mae.append(None), corr.append(None)
            continue
        rmse.append(float(np.sqrt(np.mean(np.asarray(stats["mse"], np.float64)[:, :, j][use]))))
        mae.append(float(np.mean(np.asarray(stats["mae"], np.float64)[:, :, j][use])))
        corr.append(float(np.mean(np.asarray(stats["corr"], np.float64)[:, :, j][use])))
    before = min(N - 1, lead)
    w = where[:, :, :before]
    mse_before = np.asarray(stats["mse"], np.float64)[:, :, :before][w]
    corr_before = np.asarray(stats["corr"], np.float64)[:, :, :before][w]
    any_bad = bool(np.any(w & ~ok[:, :, :before]))
    return {
        "lead": list(range(1, lead + 1)),
        "lead_time": [dt_macro * j for j in range(1, lead + 1)],
        "rmse": rmse,
        "mae": mae,
        "correlation": corr,
        "n_forecasts": count,
        "n_diverged": diverged,
        # Headline: every forecast up to the next burst (ℓ ≤ N − 1), pooled.
        "rmse_to_next_burst": None if any_bad else float(np.sqrt(np.mean(mse_before))),
        "correlation_to_next_burst": None if any_bad else float(np.mean(corr_before)),
        "leads_to_next_burst": before,
    }


# ----------------------------------------------------------------------------------------------
# One model on one dataset split
# ----------------------------------------------------------------------------------------------


def forecast_fn(config, model, restart: str = "observed"):
    """`fn(params, bursts (B, S, k+1, *space, C), lead) -> (B, S, lead, *space, C)` for a model
    of the registry (`lead` static): the PIMRL cycle restart for pimrl/pimrl_nomp, a restart of
    `model.rollout` from each burst's last frame for every other model."""
    from pimrl_jax.models import registry

    k, N = int(config.data.k), int(config.data.N)
    if model.name in ("pimrl", "pimrl_nomp"):
        micro, macro = registry.micro_module(config), registry.macro_module(config)
        message_passing = model.name == "pimrl" and bool(config.model.get("message_passing", True))
        remat = bool(config.model.get("remat", False))

        def fn(params, bursts, lead):
            return pimrl_forecast(
                lambda p, u: micro.apply({"params": p}, u),
                lambda p, s, c: macro.apply({"params": p}, s, c),
                params,
                jnp.asarray(bursts, jnp.float32),
                lead,
                k,
                N,
                restart,
                message_passing,
                remat,
            )

        return fn

    def fn(params, bursts, lead):
        return restart_forecast(model.rollout, params, jnp.asarray(bursts[:, :, k]), lead)

    return fn


def check_schedule(split: dict, N: int) -> np.ndarray:
    """The burst starts of `split`; a clear error unless they are 0, N, 2N, … (the cycle of a
    PIMRL forecast must start where a burst does)."""
    starts = np.asarray(split["burst_start"])
    if not np.array_equal(starts, N * np.arange(starts.size)):
        raise ValueError(
            f"forecasting needs a burst every N={N} macro steps starting at 0; this dataset's "
            f"bursts start at {starts.tolist()[:6]}…"
        )
    return starts


def forecast_model(
    config, model, params, split: dict, lead: int, restart: str = "observed", batch_size=None
) -> dict:
    """Forecast skill of `model` with `params` on one dataset split (`macro`, `bursts`,
    `burst_start`, `macro_times`): `summarize`'s dict plus `restart`."""
    N = int(config.data.N)
    starts = check_schedule(split, N)
    macro = np.asarray(split["macro"], np.float32)
    bursts = np.asarray(split["bursts"], np.float32)
    times = np.asarray(split.get("macro_times", np.arange(macro.shape[1])), np.float64)
    dt_macro = (
        float(times[1] - times[0]) if times.size > 1 else float(config.data.dt) * int(config.data.k)
    )
    truth, valid = lead_targets(macro, starts, lead)
    factor = float(config.eval.get("divergence_factor", evaluate.DEFAULT_DIVERGENCE_FACTOR))
    scale = float(np.max(np.abs(macro)))
    bound = factor * (scale if scale > 0 else 1.0)
    fn = forecast_fn(config, model, restart)
    score = jax.jit(lambda p, b, t: lead_skill(fn(p, b, lead), t, bound))
    size = max(1, min(int(batch_size or config.eval.batch_size), macro.shape[0]))
    chunks = []
    for i in range(0, macro.shape[0], size):
        chunks.append(jax.device_get(score(params, bursts[i : i + size], truth[i : i + size])))
    stats = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
    return {**summarize(stats, valid, N, dt_macro), "restart": restart}


# ----------------------------------------------------------------------------------------------
# Runs on disk: restore, forecast, aggregate over seeds, write
# ----------------------------------------------------------------------------------------------


def run_config(run_dir: str):
    """The `ConfigDict` a run was evaluated with (its results.json), or None."""
    import ml_collections

    res = read_json(os.path.join(run_dir, "results.json"))
    if not res or "config" not in res:
        return None
    return ml_collections.ConfigDict(res["config"])


def restore(config, run_dir: str, dataset: dict):
    """(model, params) of the run in `run_dir`; pimrl_nomp's params come from the sibling pimrl
    run (as `pimrl_jax.main` evaluates it), the reference rows have none."""
    from pimrl_jax import train as train_lib
    from pimrl_jax.models.registry import REFERENCES, build_model

    model = build_model(config)
    if model.name in REFERENCES:
        return model, {}
    source, source_dir = config, run_dir
    if model.params_from != model.name:
        source = config.copy_and_resolve_references()
        source.model.name = model.params_from
        source_dir = os.path.join(os.path.dirname(os.path.abspath(run_dir)), model.params_from)
    params, _ = train_lib.restore_params(source, build_model(source), dataset, source_dir)
    return model, params


def default_lead(config) -> int:
    """Three burst periods (3N), at most T − 1 (so the first burst has a frame to score)."""
    return max(1, min(3 * int(config.data.N), int(config.data.n_macro) - 1))


def forecast_seed(seed_dir: str, models: Sequence[str], lead: int | None, split: str = "test"):
    """Forecast every run of `models` under `seed_dir` (a `make compare` directory): `{row:
    result or None}` with the free rollout's RMSE/HCT beside each; a row whose run is missing
    or fails to restore holds `{"missing": why}`."""
    from solvers import dataset as dataset_lib

    out, datasets = {}, {}
    rows = [m for m in models if m != MICRO_RESTART]
    for model_name in rows:
        run_dir = os.path.join(seed_dir, model_name)
        config = run_config(run_dir)
        if config is None:
            out[model_name] = {"missing": f"no results.json in {run_dir}"}
            continue
        path = str(config.data.path)
        if path not in datasets:
            datasets[path] = dataset_lib.load(
                path, config.data, exp=config.get("experiment"), profile=config.get("profile")
            )
        dataset = datasets[path]
        n = lead or default_lead(config)
        try:
            model, params = restore(config, run_dir, dataset)
        except (FileNotFoundError, RuntimeError) as error:
            out[model_name] = {"missing": str(error).splitlines()[0]}
            continue
        free = read_json(os.path.join(run_dir, "results.json")) or {}
        restarts = ["observed"] + (["micro"] if model_name == "pimrl" else [])
        for restart in restarts:
            row = model_name if restart == "observed" else MICRO_RESTART
            if row not in models and row != model_name:
                continue
            res = forecast_model(config, model, params, dataset[split], n, restart)
            res["free_rmse"], res["free_hct"] = free.get("rmse"), free.get("hct")
            res["free_diverged"] = bool(free.get("diverged"))
            res["N"], res["k"] = int(config.data.N), int(config.data.k)
            out[row] = res
            print(
                f"  {row:<20} RMSE to next burst {_fmt(res['rmse_to_next_burst'])}  "
                f"(free rollout {_fmt(res['free_rmse'])})",
                flush=True,
            )
    return out


def _fmt(x, spec=".4g") -> str:
    return "n/a" if x is None else format(x, spec)


def _mean_std(values) -> tuple[float, float] | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return (float(np.mean(vals)), float(np.std(vals))) if vals else None


def _pm(stat, spec=".4g") -> str:
    return "n/a" if stat is None else f"{stat[0]:{spec}} ± {stat[1]:{spec}}"


def aggregate(per_seed: dict[str, dict]) -> dict[str, dict]:
    """Mean ± std over seeds of every row: headline numbers and per-lead curves (a lead's mean
    is null when any seed's value there is null)."""
    rows: dict[str, list] = {}
    for seed_result in per_seed.values():
        for row, res in seed_result.items():
            rows.setdefault(row, []).append(res)
    out = {}
    for row, results in rows.items():
        done = [r for r in results if "missing" not in r]
        if not done:
            out[row] = {"n": 0, "missing": results[0]["missing"]}
            continue

        def curve(name, done=done):
            length = min(len(r[name]) for r in done)
            values = []
            for j in range(length):
                column = [r[name][j] for r in done]
                values.append(None if any(v is None for v in column) else float(np.mean(column)))
            return values

        out[row] = {
            "n": len(done),
            "rmse_to_next_burst": _mean_std([r["rmse_to_next_burst"] for r in done]),
            "correlation_to_next_burst": _mean_std([r["correlation_to_next_burst"] for r in done]),
            "free_rmse": _mean_std([r["free_rmse"] for r in done]),
            "free_hct": _mean_std([r["free_hct"] for r in done]),
            "free_diverged": sum(bool(r["free_diverged"]) for r in done),
            "n_diverged": sum(sum(r["n_diverged"]) for r in done),
            "leads_to_next_burst": done[0]["leads_to_next_burst"],
            "lead_time": done[0]["lead_time"][: len(curve("rmse"))],
            "rmse": curve("rmse"),
            "correlation": curve("correlation"),
            "rmse_at_lead": {
                str(j): _mean_std([r["rmse"][j - 1] for r in done])
                for j in sorted({1, done[0]["leads_to_next_burst"], len(curve("rmse"))})
            },
        }
    return out


def table(summary: dict[str, dict], n_seeds: int) -> str:
    """Markdown table of the rows of `aggregate`."""
    any_row = next((s for s in summary.values() if s.get("n")), None)
    leads = list(any_row["rmse_at_lead"]) if any_row else []
    head = ["model", "seeds", "RMSE to next burst", "corr. to next burst"]
    head += [f"RMSE at lead {j}" for j in leads]
    head += ["diverged forecasts", "free-rollout RMSE", "free-rollout HCT"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, s in summary.items():
        if not s.get("n"):
            lines.append(f"| {row} | 0/{n_seeds} | not run |" + " |" * (len(head) - 3))
            continue
        free = (
            _pm(s["free_rmse"]) if s["free_diverged"] == 0 else f"diverged ({s['free_diverged']})"
        )
        cells = [row, f"{s['n']}/{n_seeds}", _pm(s["rmse_to_next_burst"])]
        cells.append(_pm(s["correlation_to_next_burst"], ".4f"))
        cells += [_pm(s["rmse_at_lead"].get(j)) for j in leads]
        cells += [str(s["n_diverged"]), free, _pm(s["free_hct"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict[str, dict], path: str, title: str = "") -> str:
    """RMSE and correlation against lead time (mean over seeds) of every row."""
    from pimrl_jax import plots

    curves = {
        row: {"time": s["lead_time"], "rmse": s["rmse"], "correlation": s["correlation"]}
        for row, s in summary.items()
        if s.get("n")
    }
    return plots.plot_curves([], curves, path, title=title, xlabel="lead time since the burst")


def rows() -> list[str]:
    """Forecast rows in table order: the registry's models, pimrl's micro restart after pimrl."""
    from pimrl_jax.models.registry import MODELS

    out = []
    for m in MODELS:
        out += [m, MICRO_RESTART] if m == "pimrl" else [m]
    return out


def run(root: str, seeds: Sequence[int], models: Sequence[str], lead: int | None = None) -> dict:
    """Forecast every seed's runs under `root` (`<root>/seed<s>/<model>`), write
    `<root>/forecast/forecast.{json,md,png}`; return the written JSON."""
    per_seed = {}
    for seed in seeds:
        seed_dir = os.path.join(root, f"seed{seed}")
        print(f"forecast: {seed_dir}", flush=True)
        per_seed[str(seed)] = forecast_seed(seed_dir, models, lead)
    summary = aggregate(per_seed)
    out_dir = os.path.join(root, OUT_DIR)
    os.makedirs(out_dir, exist_ok=True)
    from pimrl_jax.evaluate import write_json

    result = {"root": root, "seeds": list(seeds), "lead": lead, "summary": summary}
    result["per_seed"] = per_seed
    write_json(os.path.join(out_dir, "forecast.json"), result)
    text = table(summary, len(seeds))
    title = os.path.basename(os.path.normpath(root))
    with open(os.path.join(out_dir, "forecast.md"), "w") as f:
        f.write(f"# Forecast from a stream of bursts: {title}\n\n{text}\n")
    if any(s.get("n") for s in summary.values()):
        plot(summary, os.path.join(out_dir, "forecast.png"), title=f"{title}: forecast skill")
    print("\n" + text, flush=True)
    print(f"\nwrote {out_dir}/forecast.json, forecast.md, forecast.png", flush=True)
    return result


def main(argv=None) -> int:
    from experiments.common import EXPERIMENTS, PROFILES

    parser = argparse.ArgumentParser(prog="python -m pimrl_jax.forecast", description=__doc__)
    parser.add_argument("--exp", required=True, help=f"one of {', '.join(EXPERIMENTS)}")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--lead", type=int, default=None, help="default 3N (at most T - 1)")
    parser.add_argument("--root", default=None, help="default runs/<exp>-<profile>")
    args = parser.parse_args(argv)

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 1

    if args.exp not in EXPERIMENTS:
        return fail(f"unknown system {args.exp!r}; valid: {', '.join(EXPERIMENTS)}")
    if args.profile not in PROFILES:
        return fail(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        return fail(f"--seeds takes integers separated by commas, got {args.seeds!r}")
    if args.lead is not None and args.lead < 1:
        return fail(f"--lead must be >= 1, got {args.lead}")
    root = args.root or f"runs/{args.exp}-{args.profile}"
    if not any(os.path.isdir(os.path.join(root, f"seed{s}")) for s in seeds):
        return fail(
            f"no trained runs in {root}/seed{{{args.seeds}}}; train them first: make results "
            f"EXP={args.exp} PROFILE={args.profile} (or make study STUDY=forecast EXP={args.exp})"
        )
    try:
        run(root, seeds, rows(), args.lead)
    except ValueError as error:
        return fail(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
