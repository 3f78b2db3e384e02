"""One PeRCNN training iteration, PyTorch against the project's micro module, side by side.

    .venv/bin/pip install -e '.[bench]'        # torch (CPU), for this benchmark only
    .venv/bin/python benchmarks/percnn_torch.py [--dims 2 3] [--rounds 2] [--iters 3]

The iteration is the PeRCNN authors' own Gray–Scott setup without their upscaler: batch 1, one
Π-block per field of three parallel 1×1 convolutions (all fields in, `hidden` channels out,
multiplied elementwise, a 1×1 convolution to the field), the learned bounded diffusion
c_up · sigmoid(C) · Lap(u) with the 4th-order Laplacian, forward Euler, a rollout of `steps`
Euler steps, the MSE on every `every`-th state, backward, one Adam step:

    2D: 100², 401 Euler steps, hidden 8, MSE on every 20th state
    3D: 48³,  301 Euler steps, hidden 2, MSE on every 15th state

PyTorch runs a channels-first `nn.Module` of that math (`TorchCell`; Laplacian as a sum of
`torch.roll`s like the project's stencils, or `--torch_laplacian conv`: the fixed-kernel
convolution of a circularly padded field that the PeRCNN code uses), on the CPU (`torch`,
`torch-1thread`) or on a CUDA device (`torch-cuda`, and `torch-cuda-compile` under
`torch.compile`; the default there). JAX runs `MicroStep` in
`pimrl_jax.cycle.micro_rollout` under `jax.jit(value_and_grad)` + optax Adam, in the variants
given by `--variants` (`jax-autodiff`: MicroStep(vjp="autodiff"); `+remat`: jax.checkpoint per
step; `jax-custom`: the hand-written VJP, the default). Both start from the same parameters
(drawn with NumPy), so the first loss printed for every variant must agree.

Each measurement is a fresh subprocess (one variant, one configuration): a warm-up iteration
(compiles JAX), then `--iters` timed iterations; the parent interleaves the variants round by
round (torch, jax…, torch, jax…), so a load spike from other jobs hits all of them. Reported:
the median wall time per iteration (and the process CPU time), the ratio to PyTorch per round,
and the peak memory of the iterations: the rise of the process's resident-set high-water mark
over its level after the setup, before the first iteration (Linux `/proc/self/clear_refs`;
JAX compiles ahead of time, in the setup), plus XLA's planned temporaries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# benchmarks/solvers.py would shadow the `solvers` package that pimrl_jax imports.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

CONFIGS = {
    2: dict(grid=100, steps=401, every=20, hidden=8, dx=0.01, c_up=2e-5),
    3: dict(grid=48, steps=301, every=15, hidden=2, dx=1.0 / 48, c_up=5e-5),
}
DT, N_CONV, FIELDS, LR = 0.5, 3, 2, 1e-3
JAX_VARIANTS = ("jax-autodiff", "jax-autodiff+remat", "jax-custom")
# "torch": PyTorch's default intra-op threads (one per core); "torch-1thread": one thread, which
# on the shared 2-core machine was the faster of the two (OpenMP threads spin under load);
# "torch-cuda": the same module on the first CUDA device (the default where one is present);
# "torch-cuda-compile": that module under torch.compile (the warm-up iteration compiles it).
TORCH_VARIANTS = ("torch", "torch-1thread", "torch-cuda", "torch-cuda-compile")
CPU_TORCH_VARIANTS = TORCH_VARIANTS[:2]
INSTALL = "pip install -e '.[bench]'  (or: pip install torch==2.13.0)"


def problem(dim: int):
    """Initial state, target states and parameters (MicroStep's tree), all NumPy float32."""
    c = CONFIGS[dim]
    rng = np.random.default_rng(0)
    shape = (1,) + (c["grid"],) * dim + (FIELDS,)
    u0 = (0.5 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    n_frames = len(range(c["every"] - 1, c["steps"], c["every"]))
    target = u0[:, None] + 0.01 * rng.standard_normal((1, n_frames) + shape[1:])
    width = FIELDS * N_CONV * c["hidden"]
    limit = 0.02 * np.sqrt(6.0 / (FIELDS + c["hidden"]))
    params = {
        "C": rng.uniform(-1, 1, FIELDS),
        "pi_convs": {
            "kernel": rng.uniform(-limit, limit, (1,) * dim + (FIELDS, width)),
            "bias": np.zeros(width),
        },
        "pi_out_kernel": rng.uniform(-limit, limit, (FIELDS, c["hidden"])),
        "pi_out_bias": np.zeros(FIELDS),
    }
    params = {k: _f32(v) for k, v in params.items()}
    return u0, target.astype(np.float32), params


def _f32(tree):
    if isinstance(tree, dict):
        return {k: _f32(v) for k, v in tree.items()}
    return np.asarray(tree, np.float32)


# ---------------------------------------------------------------------------------------------
# Memory: the resident-set high-water mark, reset after the warm-up


def _status(field: str) -> float:
    """A /proc/self/status field in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# PyTorch


def torch_iteration(
    dim: int,
    laplacian: str,
    threads: int | None = None,
    device: str = "cpu",
    compile_: bool = False,
):
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    # XLA:CPU flushes denormals to zero; without this, PyTorch's backward through the small
    # Π-block products (PeRCNN's 0.02-scaled init) hits denormal arithmetic, 5-10x slower.
    torch.set_flush_denormal(True)
    c = CONFIGS[dim]
    u0, target, params = problem(dim)
    conv = {2: nn.Conv2d, 3: nn.Conv3d}[dim]
    functional_conv = {2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[dim]
    hidden = c["hidden"]

    class TorchCell(nn.Module):
        def __init__(self):
            super().__init__()
            kernel = params["pi_convs"]["kernel"].reshape(FIELDS, FIELDS, N_CONV, hidden)
            self.convs = nn.ModuleList()
            for field in range(FIELDS):
                row = nn.ModuleList()
                for i in range(N_CONV):
                    layer = conv(FIELDS, hidden, 1)
                    w = kernel[:, field, i, :].T.reshape((hidden, FIELDS) + (1,) * dim)
                    layer.weight.data = torch.tensor(np.ascontiguousarray(w))
                    layer.bias.data.zero_()
                    row.append(layer)
                self.convs.append(row)
            self.outs = nn.ModuleList()
            for field in range(FIELDS):
                layer = conv(hidden, 1, 1)
                w = params["pi_out_kernel"][field].reshape((1, hidden) + (1,) * dim)
                layer.weight.data = torch.tensor(np.ascontiguousarray(w))
                layer.bias.data.zero_()
                self.outs.append(layer)
            self.C = nn.Parameter(torch.tensor(params["C"]))
            taps = {-2: -1.0 / 12, -1: 4.0 / 3, 0: -5.0 / 2, 1: 4.0 / 3, 2: -1.0 / 12}
            self.taps = taps
            stencil = np.zeros((5,) * dim, np.float32)
            for axis in range(dim):
                for offset, weight in taps.items():
                    index = [2] * dim
                    index[axis] = 2 + offset
                    stencil[tuple(index)] += weight / c["dx"] ** 2
            self.register_buffer("stencil", torch.tensor(stencil).reshape((1, 1) + stencil.shape))

        def laplacian(self, u):
            if laplacian == "conv":  # PeRCNN's: circular pad, fixed 5^d kernel, per field
                b = u.shape[0]
                padded = nn.functional.pad(
                    u.reshape((b * FIELDS, 1) + u.shape[2:]), (2, 2) * dim, mode="circular"
                )
                return functional_conv(padded, self.stencil).reshape(u.shape)
            out = torch.zeros_like(u)
            for axis in range(2, 2 + dim):
                for offset, weight in self.taps.items():
                    out = out + (weight / c["dx"] ** 2) * torch.roll(u, -offset, dims=axis)
            return out

        def forward(self, u):
            pis = []
            for field in range(FIELDS):
                product = self.convs[field][0](u)
                for i in range(1, N_CONV):
                    product = product * self.convs[field][i](u)
                pis.append(self.outs[field](product))
            shape = (1, FIELDS) + (1,) * dim
            diffusion = (c["c_up"] * torch.sigmoid(self.C)).reshape(shape)
            return u + DT * (torch.cat(pis, dim=1) + diffusion * self.laplacian(u))

    cell = TorchCell().to(device)
    optimizer = torch.optim.Adam(cell.parameters(), lr=LR)
    step = torch.compile(cell) if compile_ else cell
    channels_first = (0, dim + 1) + tuple(range(1, dim + 1))
    u_init = torch.tensor(np.ascontiguousarray(u0.transpose(channels_first)), device=device)
    truth = torch.tensor(
        np.ascontiguousarray(target.transpose((0, 1, dim + 2) + tuple(range(2, dim + 2)))),
        device=device,
    )

    def iteration():
        optimizer.zero_grad()
        u, kept = u_init, []
        for t in range(c["steps"]):
            u = step(u)
            if (t + 1) % c["every"] == 0:
                kept.append(u)
        loss = torch.mean((torch.stack(kept, dim=1) - truth) ** 2)
        loss.backward()
        optimizer.step()
        return float(loss.detach())  # waits for the device

    info = {"threads": torch.get_num_threads(), "version": torch.__version__, "device": device}
    return iteration, info


# ---------------------------------------------------------------------------------------------
# JAX


def jax_iteration(dim: int, variant: str):
    import jax
    import jax.numpy as jnp
    import optax

    from pimrl_jax import cycle
    from pimrl_jax.models.micro import MicroStep

    c = CONFIGS[dim]
    u0, target, params = problem(dim)
    vjp = "custom" if variant.startswith("jax-custom") else "autodiff"
    remat = variant.endswith("+remat")
    micro = MicroStep(
        dx=c["dx"], dt=DT, c_up=c["c_up"], n_conv=N_CONV, kernel=1, hidden=c["hidden"], vjp=vjp
    )
    tx = optax.adam(LR)
    every = c["every"]

    def loss_fn(p, u, target):
        frames = cycle.micro_rollout(
            lambda q, v: micro.apply({"params": q}, v), p, u, c["steps"], remat
        )
        return jnp.mean((frames[:, every - 1 :: every] - target) ** 2)

    @jax.jit
    def step(p, opt_state, u, target):
        loss, grads = jax.value_and_grad(loss_fn)(p, u, target)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    p = jax.tree.map(jnp.asarray, params)
    state = {"p": p, "opt": tx.init(p)}
    u_dev, target_dev = jnp.asarray(u0), jnp.asarray(target)
    compiled = step.lower(state["p"], state["opt"], u_dev, target_dev).compile()
    memory = compiled.memory_analysis()

    def iteration():
        state["p"], state["opt"], loss = compiled(state["p"], state["opt"], u_dev, target_dev)
        return float(loss)

    info = {
        "version": jax.__version__,
        "backend": jax.default_backend(),
        "xla_temp_mib": memory.temp_size_in_bytes / 2**20 if memory else None,
    }
    return iteration, info


# ---------------------------------------------------------------------------------------------
# Worker and driver


def _device_peak_mib(variant: str) -> float | None:
    """The accelerator allocator's peak so far (MiB) in this worker's process; None on a CPU."""
    if variant.startswith("torch-cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    if variant.startswith("jax"):
        import jax

        if jax.default_backend() != "cpu":
            stats = jax.devices()[0].memory_stats() or {}
            return stats.get("peak_bytes_in_use", 0) / 2**20
    return None


def worker(args) -> dict:
    if args.worker.startswith("torch"):
        threads = 1 if args.worker == "torch-1thread" else None
        device = "cuda" if args.worker.startswith("torch-cuda") else "cpu"
        compile_ = args.worker.endswith("-compile")
        iteration, info = torch_iteration(args.dim, args.torch_laplacian, threads, device, compile_)
    else:
        iteration, info = jax_iteration(args.dim, args.worker)
    # Memory baseline after the setup (model, data, optimiser; JAX compiled ahead of time),
    # before the first iteration: PyTorch's allocator keeps its activations resident afterwards.
    base = _status("VmRSS")
    peak_ok = _reset_peak()
    t0 = time.perf_counter()
    first_loss = iteration()
    warmup = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(args.iters):
        t0, c0 = time.perf_counter(), time.process_time()
        iteration()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = _status("VmHWM") - base if peak_ok else float("nan")
    device_peak = _device_peak_mib(args.worker)  # on an accelerator: not host memory
    if device_peak is not None:
        info["device_peak_mib"] = device_peak
    return dict(info, first_loss=first_loss, warmup_s=warmup, wall=wall, cpu=cpu, peak_mib=peak)


def run_worker(variant: str, dim: int, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant, "--dim", str(dim)]
    cmd += ["--iters", str(args.iters), "--torch_laplacian", args.torch_laplacian]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} {dim}D failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument(
        "--variants",
        nargs="+",
        help="default: torch-cuda(-compile) and the JAX variants where CUDA is present, else "
        "torch, torch-1thread and the JAX variants",
    )
    parser.add_argument("--torch_laplacian", choices=["roll", "conv"], default="roll")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dim", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    try:
        import torch
    except ImportError:
        print(f"benchmarks/percnn_torch.py needs PyTorch (benchmark only): {INSTALL}")
        return
    if not args.variants:
        cuda = torch.cuda.is_available()
        args.variants = ["torch-cuda", "torch-cuda-compile"] if cuda else list(CPU_TORCH_VARIANTS)
        args.variants += JAX_VARIANTS
    unknown = set(args.variants) - {*TORCH_VARIANTS, *JAX_VARIANTS}
    if unknown:
        valid = " ".join((*TORCH_VARIANTS, *JAX_VARIANTS))
        parser.error(f"unknown variants {sorted(unknown)}; valid: {valid}")
    print(
        f"machine: nproc={os.cpu_count()}, {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"load average {os.getloadavg()}",
        flush=True,
    )
    rows = []
    for dim in args.dims:
        results = {v: [] for v in args.variants}
        for r in range(args.rounds):
            for variant in args.variants:
                res = run_worker(variant, dim, args)
                results[variant].append(res)
                print(
                    f"{dim}D round {r + 1} {variant:20s} wall {_fmt(res['wall'])} s, "
                    f"cpu {_fmt(res['cpu'])} s, peak +{res['peak_mib']:.0f} MiB, "
                    f"first loss {res['first_loss']:.7g}",
                    flush=True,
                )
        rows += _rows(dim, results, args)
    print(f"\nload average at the end: {os.getloadavg()}")
    print(
        "\n| config | variant | wall s per iteration (median per round) | median | cpu s | "
        "speed-up vs the faster torch (per round) | peak MiB | XLA temp MiB |"
    )
    print("|---|---|---|---:|---:|---|---:|---:|")
    for row in rows:
        print(row)


def _fmt(xs):
    return "/".join(f"{x:.3f}" for x in xs)


def _rows(dim, results, args):
    c = CONFIGS[dim]
    name = f"{dim}D {c['grid']}^{dim}, {c['steps']} steps, hidden {c['hidden']}"
    # The reference is the faster PyTorch variant of each round.
    torch_runs = [results[v] for v in TORCH_VARIANTS if v in results]
    torch_rounds = [
        min(statistics.median(runs[r]["wall"]) for runs in torch_runs)
        for r in range(len(torch_runs[0]) if torch_runs else 0)
    ]
    rows = []
    for variant, runs in results.items():
        per_round = [statistics.median(r["wall"]) for r in runs]
        med = statistics.median([w for r in runs for w in r["wall"]])
        cpu = statistics.median([w for r in runs for w in r["cpu"]])
        if torch_rounds:
            pairs = zip(torch_rounds, per_round, strict=True)
            ratio = " / ".join(f"{t / w:.1f}x" for t, w in pairs)
        else:
            ratio = "-"
        peak = statistics.median([r["peak_mib"] for r in runs])
        temp = runs[0].get("xla_temp_mib")
        temp = f"{temp:.0f}" if temp is not None else "-"
        rounds = " / ".join(f"{w:.3f}" for w in per_round)
        rows.append(
            f"| {name} | {variant} | {rounds} | {med:.3f} | {cpu:.3f} | {ratio} | {peak:.0f} "
            f"| {temp} |"
        )
    return rows


if __name__ == "__main__":
    main()
