"""Run `pimrl_jax.main` as several JAX processes on this machine, over loopback:

    python -m pimrl_jax.launch --processes 2 --devices-per-process 4 -- \\
        --config experiments/gs2d.py:smoke --workdir runs/gs2d-smoke/pimrl

Everything after `--` goes to `python -m pimrl_jax.main` unchanged. Each process gets the
variables a cluster launch sets on every host — JAX_COORDINATOR_ADDRESS (127.0.0.1 and a free
port), JAX_NUM_PROCESSES, JAX_PROCESS_ID — and `main` joins them with `jax.distributed`, exactly
as on a cluster; with `--devices-per-process D` each process runs on D host CPU devices
(JAX_PLATFORMS=cpu, JAX_NUM_CPU_DEVICES=D) and the cross-process collectives go over gloo. This
is how the multi-host path is tested without a cluster (tests/test_multiprocess.py).

Exit status: 0 when every process exits 0, otherwise the status of the first process that failed
(128 + n for a process killed by signal n). When one process fails the others are stopped
(SIGTERM, then SIGKILL after `--grace` seconds), since they would wait for it at their next
collective. SIGINT and SIGTERM sent to the launcher are passed on to every process.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(
    index: int, processes: int, port: int, devices: int | None, base: dict | None = None
) -> dict:
    """The environment of process `index` of `processes` (`--processes 1` runs `main` plainly,
    as a single process, which is what several processes are compared with)."""
    env = dict(os.environ if base is None else base)
    if processes > 1:  # one process is a plain run: no coordinator, nothing to join
        env.update(
            JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            JAX_NUM_PROCESSES=str(processes),
            JAX_PROCESS_ID=str(index),
        )
    if devices is not None:
        env.update(JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(devices))
        # An XLA_FLAGS device count would override JAX_NUM_CPU_DEVICES: drop it.
        flags = [
            f
            for f in env.get("XLA_FLAGS", "").split()
            if not f.startswith("--xla_force_host_platform_device_count")
        ]
        env["XLA_FLAGS"] = " ".join(flags)
    return env


def _status(code: int) -> int:
    return 128 - code if code < 0 else code  # Popen reports death by signal n as -n


def _stop(procs: list[subprocess.Popen], grace: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def launch(
    args: Sequence[str],
    processes: int,
    devices_per_process: int | None = None,
    port: int | None = None,
    module: str = "pimrl_jax.main",
    grace: float = 10.0,
) -> int:
    """Start `python -m module *args` `processes` times on loopback; return the exit status."""
    port = free_port() if port is None else port
    command = [sys.executable, "-m", module, *args]
    print(
        f"launch: {processes} processes"
        + (f" × {devices_per_process} CPU devices" if devices_per_process else "")
        + f", coordinator 127.0.0.1:{port}: {' '.join(command[1:])}",
        flush=True,
    )
    procs: list[subprocess.Popen] = []
    forwarded = []

    def forward(signum, frame):
        forwarded.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(processes):
            env = process_env(index, processes, port, devices_per_process)
            procs.append(subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL))
        status = 0
        while any(proc.poll() is None for proc in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed:
                status = _status(failed[0].returncode)
                index = procs.index(failed[0])
                print(
                    f"launch: process {index} exited with status {status}; stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                _stop(procs, grace)
                break
            time.sleep(0.1)
        if status == 0:
            status = next((_status(p.returncode) for p in procs if p.returncode), 0)
        return status
    finally:
        _stop(procs, grace)  # a no-op once they have all exited
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        own, rest = argv[:split], argv[split + 1 :]
    else:
        own, rest = argv, []
    parser = argparse.ArgumentParser(
        prog="python -m pimrl_jax.launch",
        description="Run pimrl_jax.main as several JAX processes on this machine (loopback).",
        epilog="Arguments after -- go to python -m pimrl_jax.main (or --module).",
    )
    parser.add_argument("--processes", type=int, default=2, help="number of processes (2)")
    parser.add_argument(
        "--devices-per-process",
        type=int,
        default=None,
        help="host CPU devices per process (sets JAX_PLATFORMS=cpu); default: the platform's",
    )
    parser.add_argument("--port", type=int, default=None, help="coordinator port (a free one)")
    parser.add_argument("--module", default="pimrl_jax.main", help="module to run")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL (10)"
    )
    opts = parser.parse_args(own)
    if opts.processes < 1:
        parser.error(f"--processes must be at least 1, got {opts.processes}")
    if opts.devices_per_process is not None and opts.devices_per_process < 1:
        parser.error(f"--devices-per-process must be at least 1, got {opts.devices_per_process}")
    if not rest:
        parser.error("give the arguments of pimrl_jax.main after --: -- --config … --workdir …")
    return launch(
        rest,
        opts.processes,
        opts.devices_per_process,
        port=opts.port,
        module=opts.module,
        grace=opts.grace,
    )


if __name__ == "__main__":
    sys.exit(main())
