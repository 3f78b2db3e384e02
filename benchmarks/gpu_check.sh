#!/usr/bin/env bash
# GPU check, about 6 minutes on one GPU (issue 8, item 7). Run from anywhere:
#
#     bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
#
# Python: .venv/bin/python where it has a GPU backend (pip install -e '.[cuda]'), else $PY or
# python3 (a machine image with JAX + CUDA; the pure-Python dependencies it lacks can sit as
# wheels in .whl/, installed to /tmp/site; the repository's src/ and root go on PYTHONPATH).
#
# 1. PeriodicConv's "lax" and "im2col" paths agree on the GPU (values and gradients, 2D and 3D);
#    MicroStep's hand-written VJP agrees with autodiff there.
# 2. The PeRCNN iteration of benchmarks/percnn_torch.py: PyTorch on the GPU against the JAX
#    variants (which VJP MicroStep(vjp="auto") should pick on a GPU), device peak memory.
# 3. The paper-profile train-step time of pimrl, percnn and fno (gs2d) with and without remat.
# 4. Solver throughput against batch size (gs2d, gs3d quick grids) beside the device's
#    memory-bandwidth floor (a large device-to-device copy).
# 5. A seed ensemble against sequential runs, and several steps per dispatch (kdv quick; needs
#    data/kdv-quick.h5).
# 6. The quick-profile train-step time of pimrl, percnn and fno on kdv, gs2d and gs3d (the
#    default convolutions: im2col), and 7. of pimrl and percnn with impl=lax (cuDNN).
#
# The parts run in that order (most wanted first), each under its own timeout so one slow part
# cannot eat the others' time (800 s if every one ran to its limit; about 7 minutes expected).
# Run on one H200 on 2026-12-01: docs/performance.md, "GPU check".
set -uo pipefail
cd "$(dirname "$0")/.."
if .venv/bin/python -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" 2>/dev/null
then
  PY=.venv/bin/python
else
  PY=${PY:-python3}
  if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  export PYTHONPATH=$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # peak memory below is then what was used
export PYTHONUNBUFFERED=1

$PY - <<'EOF' || exit 1
import importlib.metadata as md, os, jax
have = {d.metadata["Name"].lower() for d in md.distributions()}
names = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "torch", "exponax")
versions = ", ".join(f"{n} {md.version(n)}" for n in names if n in have)
d = jax.devices()[0]
print(f"device: {d.device_kind}, backend {jax.default_backend()}, {os.cpu_count()} CPUs; {versions}")
assert jax.default_backend() == "gpu" or os.environ.get("GPU_CHECK_ON_CPU"), \
    "no GPU backend: install jax[cuda12]"
EOF

echo "== 1. conv paths and the micro step's VJP agree on the GPU"
timeout 50 $PY - <<'EOF'
import jax, jax.numpy as jnp, numpy as np
from pimrl_jax.models.conv import PeriodicConv
from pimrl_jax.models.micro import MicroStep
for shape, k in [((2, 32, 32, 8), 3), ((1, 12, 12, 12, 4), 3), ((2, 32, 32, 2), 5)]:
    x = jax.random.normal(jax.random.key(0), shape)
    conv = {i: PeriodicConv(16, k, impl=i, precision="highest") for i in ("lax", "im2col")}
    p = conv["lax"].init(jax.random.key(1), x)
    f = {i: jax.jit(lambda p, x, c=c: jnp.sum(jnp.sin(c.apply(p, x)))) for i, c in conv.items()}
    g = {i: jax.jit(jax.grad(f[i], (0, 1)))(p, x) for i in f}
    err = abs(float(f["lax"](p, x) - f["im2col"](p, x)))
    gerr = max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree.leaves(g["lax"]), jax.tree.leaves(g["im2col"])))
    print(f"conv {shape} k={k}: |value diff| {err:.2e}, max |grad diff| {gerr:.2e}")
    assert gerr < 1e-3, "conv paths disagree"
u = 0.5 + 0.1 * jax.random.normal(jax.random.key(2), (1, 64, 64, 2))
grads = {}
for vjp in ("autodiff", "custom"):
    m = MicroStep(dx=0.01, dt=0.5, c_up=2e-5, vjp=vjp)
    p = m.init(jax.random.key(3), u)
    grads[vjp] = jax.jit(jax.grad(lambda p: jnp.sum(m.apply(p, u) ** 2)))(p)
rel = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-30)) for a, b in
          zip(jax.tree.leaves(grads["autodiff"]), jax.tree.leaves(grads["custom"])))
print(f"MicroStep custom VJP vs autodiff: max relative grad diff {rel:.2e}")
EOF
echo "== 2. PeRCNN iteration: PyTorch (GPU) against the JAX variants"
for d in 2 3; do
  for v in torch-cuda jax-autodiff jax-autodiff+remat jax-custom; do
    timeout 30 $PY benchmarks/percnn_torch.py --worker "$v" --dim "$d" --iters 5 \
      | sed "s/^/percnn ${d}D $v: /"
  done
done

echo "== 3. train steps (paper profile, gs2d) with and without remat"
timeout 120 $PY - <<'EOF'
import time, statistics, jax, numpy as np
from experiments.gs2d import get_config
from pimrl_jax import train as train_lib
from pimrl_jax.models import registry
for name in ("pimrl", "percnn", "fno"):
    for remat in (False, True):
        config = get_config("paper")
        config.model.name, config.model.remat = name, remat
        model = registry.build_model(config)
        g = config.data.grid
        u0 = np.zeros((config.train.batch_size, g, g, 2), np.float32)
        target = np.zeros((config.train.batch_size, config.train.window, g, g, 2), np.float32)
        params = jax.jit(model.init)(jax.random.key(0), u0[:1])
        step = jax.jit(jax.value_and_grad(train_lib.make_loss(model, 2)))
        t = time.perf_counter(); jax.block_until_ready(step(params, (u0, target)))
        first = time.perf_counter() - t
        runs = []
        for _ in range(5):
            t = time.perf_counter(); jax.block_until_ready(step(params, (u0, target)))
            runs.append(time.perf_counter() - t)
        peak = (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20
        print(f"{name:7s} remat={remat!s:5s} batch×window {u0.shape[0]}×{target.shape[1]} "
              f"grid {g}²: first {first:6.1f} s, step {1e3 * statistics.median(runs):8.1f} ms, "
              f"peak so far {peak:8.0f} MiB", flush=True)
EOF

echo "== 4. solver throughput vs batch (and the bandwidth floor)"
timeout 20 $PY - <<'EOF'
import time, jax, jax.numpy as jnp
x = jnp.ones((256, 1024, 1024), jnp.float32)  # 1 GiB
copy = jax.jit(lambda x: x * 2.0)  # `x + 0` measured 87 GB/s on an H200: not a real pass
copy(x).block_until_ready()
t = time.perf_counter(); [copy(x).block_until_ready() for _ in range(10)]
s = (time.perf_counter() - t) / 10
print(f"bandwidth floor: {2 * x.nbytes / s / 1e9:.0f} GB/s (read + write of 1 GiB)")
for n, d in ((128, 2), (48, 3)):
    b = 2 * 4 * n**d  # one float32 two-field state
    print(f"{d}D {n}^{d}: one state read+write = {2 * b / 1e6:.2f} MB -> floor "
          f"{2 * b / (2 * x.nbytes / s) * 1e6:.1f} us per trajectory-state pass")
EOF
timeout 80 $PY benchmarks/solvers.py --only gs2d,gs3d --profiles quick --batches 1,16,256

echo "== 5. seed ensemble (train.seeds = 3) against 3 runs, and steps per dispatch (kdv quick)"
timeout 100 $PY benchmarks/ensemble.py --experiments kdv --micro-steps 100 --steps 200 --rounds 1
timeout 40 $PY benchmarks/steps_per_call.py --experiments kdv --steps 40 --rounds 2

echo "== 6. train steps (quick profile) of pimrl, percnn, fno on kdv, gs2d, gs3d"
timeout 80 $PY benchmarks/models.py --experiments kdv gs2d gs3d --models pimrl percnn fno \
  --repeats 5 --budget 1
echo "== 7. the same steps of pimrl and percnn with the cuDNN convolutions (impl=lax) beside"
timeout 60 $PY benchmarks/models.py --experiments kdv gs2d gs3d --models pimrl percnn \
  --repeats 5 --budget 1 --impl lax
