"""Solver throughput: our ETDRK4 stepper beside exponax's, per experiment, profile and batch.

For every experiment in `experiments.common.EXPERIMENTS` and the `quick` and `paper` profiles,
read the solver grid, domain length and fine step (`data.dt / data.substeps`) from
`experiments/<exp>.py` at run time, then time, in float32:

* ours: `solvers.systems.make_stepper` (ETDRK4, physical space in and out), `vmap`ped over the
  batch, `lax.scan` over many steps per call;
* exponax 0.2.0: the same PDE, grid and step with `order=4` (the same scheme; exponax's default
  is order 2), same batching and scan; FitzHugh–Nagumo has no exponax stepper ("n/a");
* the floor: one bare `rfftn` + `irfftn` pair of the whole state `(B, C, *space)`.

Each timing is the median of several calls (7 quick, 5 paper) after a warm-up call, each call a
compiled loop of enough steps to take ~0.1 s, ended by `block_until_ready`.
Prints a markdown table; `--write-docs` also replaces the `## Solvers` section of
docs/performance.md (other sections are left as they are).

    .venv/bin/python benchmarks/solvers.py [--write-docs] [--only kdv,gs2d] [--batches 1,16]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pathlib
import platform
import statistics
import sys
import time

import exponax
import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and this file would shadow the
# `solvers` package; `experiments` is a repository folder, not an installed package.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
from experiments.common import EXPERIMENTS  # noqa: E402
from solvers.initial import sample_initial  # noqa: E402
from solvers.systems import get_system, make_stepper  # noqa: E402

NOTE = (
    "Reading it: a physical-space step costs 1 forward + 1 inverse FFT of the state plus four "
    "nonlinear evaluations; channel-FFTs per step, ours vs exponax: kdv 10 vs 14, burgers 2D 28 "
    "vs 36 (Lamb form), gray_scott 16 vs 20 (reaction terms linear in L, one forward FFT of u "
    "v^2), fn 12 (no exponax stepper). exponax runs with `order=4` here (its default is 2), and "
    "its KdV is only first-order accurate in time (it keeps the real part of complex ETDRK "
    "coefficients; see tests/test_solvers.py). Every config has the same solver grid in quick and "
    "paper, so the two rows of one experiment and batch time the same computation: their spread "
    "is the noise of the shared machine. `make_stepper(..., n_steps=m)` chains m steps in Fourier "
    "space and saves the state round trip (not used in this table)."
)
TARGET_CALL_S = 0.1  # steps per timed call are chosen so that one call takes about this long


def exponax_stepper(system, n: int, length: float, dt: float):
    """exponax's stepper for the same PDE (channels-first state), or None."""
    c, nd = system.coefficients, system.ndim
    if system.name == "kdv":
        return exponax.stepper.KortewegDeVries(
            nd, length, n, dt, convection_scale=c["convection"], dispersivity=c["dispersion"],
            hyper_diffusivity=0.0, order=4,
        )  # fmt: skip
    if system.name == "burgers":
        return exponax.stepper.Burgers(
            nd, length, n, dt, diffusivity=c["nu"], convection_scale=1.0, order=4
        )
    if system.name == "gray_scott":
        return exponax.stepper.reaction.GrayScott(
            nd, length, n, dt, diffusivity_1=c["d_u"], diffusivity_2=c["d_v"], feed_rate=c["f"],
            kill_rate=c["kappa"], order=4, dealiasing_fraction=0.5,
        )  # fmt: skip
    return None


def time_steps(cases: dict, repeats: int) -> dict[str, float]:
    """Median seconds per application of each `step` in `cases = {name: (step, u0)}`.

    Each case is one compiled loop whose trip count is an argument (probing and timing share a
    compile); a probe of 2 steps sizes its calls to about `TARGET_CALL_S`; after a warm-up call
    the cases are timed interleaved, `repeats` rounds, so that all of them see the same machine
    load (the CPUs may be shared), each call ended by `block_until_ready`.
    """
    runs, sizes, times = {}, {}, {name: [] for name in cases}
    for name, (step, u0) in cases.items():
        loop = jax.jit(lambda u, n, step=step: jax.lax.fori_loop(0, n, lambda _, v: step(v), u))
        runs[name] = functools.partial(loop, u0)
        jax.block_until_ready(runs[name](2))  # compile
        per_step = _seconds(runs[name], 2) / 2
        sizes[name] = int(np.clip(TARGET_CALL_S / max(per_step, 1e-7), 2, 5000))
        _seconds(runs[name], sizes[name])  # warm-up at the timed size
    for _ in range(repeats):
        for name in cases:
            times[name].append(_seconds(runs[name], sizes[name]) / sizes[name])
    return {name: statistics.median(t) for name, t in times.items()}


def _seconds(run, n_steps: int) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(run(n_steps))
    return time.perf_counter() - t0


def fft_pair(ndim: int, n: int):
    """One bare rfftn + irfftn of a channels-first state: the floor of a physical-space step."""
    axes = tuple(range(-ndim, 0))
    return lambda v: jnp.fft.irfftn(jnp.fft.rfftn(v, axes=axes), s=(n,) * ndim, axes=axes)


def bench(exp: str, profile: str, batch: int) -> dict:
    cfg = importlib.import_module(f"experiments.{exp}").get_config(profile).data
    system = get_system(cfg.system, cfg.ndim, **dict(cfg.coefficients))
    n, length, dt = int(cfg.solver_grid), float(cfg.length), float(cfg.dt) / int(cfg.substeps)
    repeats = 7 if profile == "quick" else 5
    keys = jax.random.split(jax.random.key(0), batch)
    u0 = jax.vmap(lambda k: sample_initial(system, k, n, length, dtype=jnp.float32))(keys)
    state_cf = jnp.moveaxis(u0, -1, 1)  # exponax and the FFT floor use channels-first
    cases = {
        "ours": (jax.vmap(make_stepper(system, n, length, dt)), u0),
        "floor": (fft_pair(system.ndim, n), state_cf),
    }
    theirs_stepper = exponax_stepper(system, n, length, dt)
    if theirs_stepper is not None:
        cases["theirs"] = (jax.vmap(theirs_stepper), state_cf)
    t = time_steps(cases, repeats)
    ours, floor, theirs = t["ours"], t["floor"], t.get("theirs")
    return dict(exp=exp, profile=profile, grid=f"{n}^{system.ndim}", dt=dt, batch=batch,
                ours=ours, theirs=theirs, floor=floor)  # fmt: skip


def table(rows: list[dict]) -> str:
    head = (
        "| exp | profile | solver grid | fine dt | batch | ours traj-steps/s | exponax traj-steps/s"
        " | ours / exponax (time) | ours ms/step | FFT pair ms | step / FFT pair |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        b = r["batch"]
        theirs = "n/a" if r["theirs"] is None else f"{b / r['theirs']:,.0f}"
        ratio = "n/a" if r["theirs"] is None else f"{r['ours'] / r['theirs']:.2f}"
        lines.append(
            f"| {r['exp']} | {r['profile']} | {r['grid']} | {r['dt']:g} | {b} "
            f"| {b / r['ours']:,.0f} | {theirs} | {ratio} | {1e3 * r['ours']:.3f} "
            f"| {1e3 * r['floor']:.3f} | {r['ours'] / r['floor']:.1f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = getattr(exponax, "__version__", "?")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"`nproc` = {os.cpu_count()}, CPU: {model}, {platform.machine()}, "
        f"jax {jax.__version__} ({jax.default_backend()}), exponax {version}; "
        f"load average (1, 5, 15 min) at the end: {load}"
    )


def write_docs(section: str) -> None:
    """Replace (or append) the `## Solvers` section of docs/performance.md."""
    path = ROOT / "docs" / "performance.md"
    text = path.read_text() if path.exists() else "# Performance\n"
    lines = text.splitlines()
    start = next((i for i, s in enumerate(lines) if s.strip() == "## Solvers"), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), None)
        tail = "\n".join(lines[end:]) + "\n" if end is not None else ""
        head = "\n".join(lines[:start]) + "\n"
        new = head + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated experiments")
    parser.add_argument("--profiles", default="quick,paper")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    unknown = sorted(set(args.only.split(",")) - set(EXPERIMENTS))
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; valid: {', '.join(EXPERIMENTS)}")
    t0 = time.perf_counter()
    rows = []
    for exp in args.only.split(","):
        for profile in args.profiles.split(","):
            for batch in map(int, args.batches.split(",")):
                rows.append(bench(exp, profile, batch))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    elapsed = time.perf_counter() - t0
    command = "python benchmarks/solvers.py " + " ".join(
        a for a in sys.argv[1:] if a != "--write-docs"
    )
    out = table(rows)
    print("\n" + out)
    print(f"\n{machine()}; total {elapsed:.0f} s")
    if args.write_docs:
        write_docs(
            "## Solvers\n\n"
            f"Command: `{command.strip()}` (float32, fine step `data.dt / data.substeps` of each "
            "config; a trajectory-step is one ETDRK4 step of one trajectory).\n\n"
            f"Machine: {machine()}. Rows are timed interleaved (ours, exponax, FFT floor in "
            "turn), so a load spike from other jobs on the shared CPUs hits all three; the "
            "ratio column is the robust one; absolute numbers vary by +-30 % under load.\n\n"
            + out
            + "\n\n"
            + NOTE
            + "\n"
        )


if __name__ == "__main__":
    main()
