"""Wall time of training runs side by side on this machine's cores, with and without pinning
each run to its own core and to one XLA thread.

    .venv/bin/python benchmarks/concurrent_jobs.py [--experiment kdv] [--model pimrl]
        [--jobs 2] [--rounds 2] [--settings default pinned one_thread pinned_one_thread]
        [-- --config.train.steps=300 ...]

`make results` trains one (model, seed) per process, `--jobs` of them at a time (one per core by
default). Each XLA:CPU process sizes its thread pool to the cores it may run on, so two processes
on two cores run up to four busy threads. This runs `--jobs` copies of `python -m
pimrl_jax.main` (seeds 0, 1, …; quick profile, its dataset under data/; the overrides after `--`,
by default a shortened training) at once under each setting, the settings interleaved round by
round, and prints each setting's wall time (from launch until the last run exits, median over
rounds) and the mean stage-2 steps/s of its runs (from their metrics.jsonl, the first, compiling
log interval left out):

* `default`: as `make results` runs them today;
* `pinned`: run i under `taskset -c i` (its thread pool then has one core);
* `one_thread`: XLA_FLAGS `--xla_cpu_multi_thread_eigen=false
  intra_op_parallelism_threads=1`;
* `pinned_one_thread`: both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SETTINGS = ("default", "pinned", "one_thread", "pinned_one_thread")
# A shortened training at one fixed window (no curriculum: every window length compiles anew).
DEFAULT_OVERRIDES = (
    "--config.train.micro_steps=100",
    "--config.train.steps=300",
    "--config.train.window=16",
    "--config.train.curriculum=()",
    "--config.train.checkpoint_every=100000",
    "--config.train.log_every=50",
)


def command(setting: str, index: int, args, workdir: str) -> tuple[list[str], dict]:
    cmd = [
        sys.executable,
        "-m",
        "pimrl_jax.main",
        f"--config=experiments/{args.experiment}.py:quick",
        f"--workdir={workdir}",
        f"--config.model.name={args.model}",
        f"--config.seed={index}",
        "--noprogress",
        *(args.overrides or DEFAULT_OVERRIDES),
    ]
    env = dict(os.environ)
    if "one_thread" in setting:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {ONE_THREAD}".strip()
    if setting.startswith("pinned"):
        cmd = ["taskset", "-c", str(index % os.cpu_count()), *cmd]
    return cmd, env


def stage2_steps_per_s(workdir: str) -> float:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    rates = [r["steps_per_s"] for r in rows if r.get("stage") == 2 and "steps_per_s" in r]
    return statistics.mean(rates[1:] or rates)


def run_setting(setting: str, args, scratch: str) -> tuple[float, float]:
    """Wall seconds of `--jobs` runs side by side, and their mean stage-2 steps/s."""
    workdirs = [tempfile.mkdtemp(dir=scratch) for _ in range(args.jobs)]
    procs, logs = [], []
    t0 = time.perf_counter()
    for i, workdir in enumerate(workdirs):
        cmd, env = command(setting, i, args, workdir)
        logs.append(open(os.path.join(workdir, "log"), "w"))
        procs.append(subprocess.Popen(cmd, env=env, cwd=_ROOT, stdout=logs[-1], stderr=logs[-1]))
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - t0
    for log in logs:
        log.close()
    if any(codes):
        raise RuntimeError(f"{setting}: exit codes {codes}; logs under {workdirs}")
    return seconds, statistics.mean(stage2_steps_per_s(w) for w in workdirs)


def main():
    argv = sys.argv[1:]
    overrides = argv[argv.index("--") + 1 :] if "--" in argv else None
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="kdv")
    parser.add_argument("--model", default="pimrl")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    args = parser.parse_args(argv)
    args.overrides = overrides
    print(
        f"{args.experiment} {args.model}, {args.jobs} runs side by side on {os.cpu_count()} "
        f"cores, overrides {' '.join(args.overrides or DEFAULT_OVERRIDES)}",
        flush=True,
    )
    results = {s: [] for s in args.settings}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            order = args.settings if r % 2 == 0 else args.settings[::-1]
            for setting in order:
                seconds, rate = run_setting(setting, args, scratch)
                results[setting].append((seconds, rate))
                line = f"  round {r}: {setting:18s} {seconds:7.1f} s  {rate:6.2f} steps/s"
                print(line, flush=True)
    base = statistics.median(s for s, _ in results[args.settings[0]])
    print(f"{'setting':18s} {'wall s (median)':>16s} {'stage-2 steps/s':>16s} {'vs first':>9s}")
    for setting, rows in results.items():
        wall = statistics.median(s for s, _ in rows)
        rate = statistics.median(r for _, r in rows)
        print(f"{setting:18s} {wall:16.1f} {rate:16.2f} {base / wall:8.2f}x")


if __name__ == "__main__":
    main()
