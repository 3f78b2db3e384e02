"""Burst-sampled datasets of plane waves, written with `solvers.dataset.write`.

Training tests need data of the right shapes and a smooth, learnable time evolution, not the
physics of each system (the solvers have their own tests). Each field is a sum of three waves

    u_c(x, t) = Σ_m a_m exp(−D |κ_m|² t) sin(κ_m·x − ω_m t + φ_m),   κ_m = 2π l_m / L,

with small integer wave vectors l_m, sampled at the macro times j·k·δt and, for bursts, at the
micro times t_j + i·δt. Two motions:

* "travel": D = 0, one wave period spans about 20 macro steps — the fields change visibly, which
  the macro and operator models learn from;
* "heat": ω = 0, D = 0.1·c_up for systems whose micro module knows the Laplacian (a tenth of the
  largest diffusivity it can learn: PeRCNN's own known term explains the data and its initial
  guess is far off); KdV's micro module knows dispersion instead and gets "travel".
"""

import numpy as np

from solvers import dataset as dataset_lib
from solvers.burst import burst_starts


def _split(data, n_traj: int, seed: int, n_fields: int, diffusivity: float):
    rng = np.random.default_rng(seed)
    ndim, n, length = int(data.ndim), int(data.grid), float(data.length)
    k, dt, n_macro = int(data.k), float(data.dt), int(data.n_macro)
    axes = np.meshgrid(*([np.arange(n) * (length / n)] * ndim), indexing="ij")
    x = np.stack(axes, axis=-1)  # (*space, ndim)
    macro_dt = k * dt
    # One wave period spans about 20 macro steps: visible motion within a short window.
    omega_scale = 2 * np.pi / (20 * macro_dt)

    def fields(times):  # (traj, len(times), *space, C)
        out = np.zeros((n_traj, len(times), *([n] * ndim), n_fields))
        for b in range(n_traj):
            for c in range(n_fields):
                for _ in range(3):
                    l_vec = rng.integers(-2, 3, size=ndim)
                    l_vec[0] = l_vec[0] or 1
                    a, phi = rng.uniform(0.2, 0.5), rng.uniform(0, 2 * np.pi)
                    omega = omega_scale * rng.uniform(0.5, 1.5) if diffusivity == 0 else 0.0
                    kappa2 = float(np.sum(np.square(2 * np.pi * l_vec / length)))
                    phase = 2 * np.pi * (x @ l_vec) / length
                    for i, t in enumerate(times):
                        decay = np.exp(-diffusivity * kappa2 * t)
                        out[b, i, ..., c] += a * decay * np.sin(phase - omega * t + phi)
        return out

    state = rng.bit_generator.state
    macro = fields(np.arange(n_macro + 1) * macro_dt)
    starts = burst_starts(n_macro, int(data.N))
    bursts = []
    for j in starts:
        rng.bit_generator.state = state  # same waves as the macro frames
        bursts.append(fields(j * macro_dt + np.arange(k + 1) * dt))
    return macro.astype(np.float32), np.stack(bursts, axis=1).astype(np.float32)


def write_synthetic(config, path: str, motion: str = "travel") -> str:
    """Write a dataset for `config.data` (its hash included, so `dataset.load` accepts it)."""
    data = config.data
    n_fields = 1 if data.system == "kdv" else 2
    names = ["u"] if n_fields == 1 else ["u", "v"]
    micro = config.model.micro
    heat = motion == "heat" and "laplacian" in tuple(micro.known_terms)
    diffusivity = 0.1 * float(np.min(micro.c_up)) if heat else 0.0
    splits = {
        "train": _split(data, int(data.n_train), int(data.seed_train), n_fields, diffusivity),
        "val": _split(data, int(data.n_val), int(data.seed_val), n_fields, diffusivity),
        "test": _split(data, int(data.n_test), int(data.seed_test), n_fields, diffusivity),
    }
    dataset_lib.write(path, data, splits, names)
    return path
