"""Stability of the micro step δt on the learning grid, for the true coefficients.

The micro module (method.md §2) advances ``u ← u + δt·(known stencil terms + learned terms)``
with fixed 4th-order finite-difference stencils on the learning grid (spacing ``dx = L / grid``)
and an explicit integrator, ``data.micro_integrator`` (``solvers.explicit``): forward Euler by
default, classical RK4 as an option. Below for Euler; RK4's region reaches −2.785 on the real
axis (the diffusive bound becomes 2.785) and ±2.828 on the imaginary axis, where it is stable
(``|R| ≤ 1``), so the dispersive growth below is computed with the integrator's own ``|R|``.

* Diffusion (Burgers, FitzHugh–Nagumo, Gray–Scott). The 4th-order Laplacian's symbol per axis is
  ``(−5/2 + 8/3 cos θ − 1/6 cos 2θ)/dx²``, most negative at θ = π: ``−16/3 / dx²``. Forward Euler
  on ``u_t = D Δu`` is stable iff ``|1 + δt·λ| ≤ 1`` for every eigenvalue λ, i.e.

      δt · D · ndim · (16/3) / dx² ≤ 2        (for every diffusivity D of the system)

* Dispersion (KdV, ``u_t = −u_xxx``). The 7-point 4th-order ∂x³ stencil
  ``(1/8, −1, 13/8, 0, −13/8, 1, −1/8)/dx³`` has a purely imaginary symbol ``i·ω(θ)/dx³`` with
  ``ω(θ) = −13/4 sin θ + 2 sin 2θ − 1/4 sin 3θ``; forward Euler multiplies a mode by
  ``|1 + i δt ω| = sqrt(1 + (δt·ω)²) > 1``: never strictly stable. We bound the growth of the worst
  grid mode over the whole saved horizon, ``sqrt(1 + (δt·ω_max)²)^(n_macro·k) ≤ 2``, which keeps a
  micro-only rollout (the PeRCNN baseline) from being dominated by stencil growth.

Reaction terms are not part of the bound (their rates are O(1) or smaller in all five systems and
δt ≤ 1 keeps δt·rate well inside Euler's region); the advection term of Burgers/KdV is likewise
left to the data's amplitude (its 4th-order ∂x symbol is at most 1.372/dx).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from solvers.explicit import amplification

LAPLACIAN_MIN_SYMBOL = -16.0 / 3.0  # per axis, times 1/dx²
EULER_DIFFUSION_BOUND = 2.0
# Where RK4's stability region meets the negative real axis: the real root of R(z) = -1.
RK4_DIFFUSION_BOUND = 2.785293563405282
DIFFUSION_BOUNDS = {"euler": EULER_DIFFUSION_BOUND, "rk4": RK4_DIFFUSION_BOUND}
KDV_MAX_GROWTH = 2.0

# Which coefficients of each solver system are diffusivities (the stencil-term coefficients).
DIFFUSIVITIES = {
    "kdv": (),
    "burgers": ("nu",),
    "fn": ("d_u", "d_v"),
    "gray_scott": ("d_u", "d_v"),
}


class UnstableStepError(ValueError):
    """δt violates the forward-Euler bound of the micro step on the learning grid."""


def dispersion_omegas(n: int) -> np.ndarray:
    """``ω(θ)`` of the 4th-order ∂x³ stencil at the ``n`` Fourier modes of the grid."""
    theta = 2 * np.pi * np.arange(n) / n
    return -13 / 4 * np.sin(theta) + 2 * np.sin(2 * theta) - 1 / 4 * np.sin(3 * theta)


def dispersion_omega_max(n: int) -> float:
    """``max |ω(θ)|`` of the 4th-order ∂x³ stencil over the ``n`` Fourier modes of the grid."""
    return float(np.max(np.abs(dispersion_omegas(n))))


def euler_numbers(data: Mapping[str, Any]) -> dict[str, float]:
    """The stability numbers of a data config (bounds in the module docstring).

    Diffusive systems: ``{"euler_number": max_D δt·D·ndim·(16/3)/dx²}`` (stable iff ≤ 2 for
    Euler, ≤ 2.785 for RK4). KdV: ``{"amplification": max over modes |R(i δt ω/dx³)|, "growth":
    amplification^(n_macro·k)}`` (Euler: ``|R| = sqrt(1+(δt ω)²)``).
    """
    system = data["system"]
    if system not in DIFFUSIVITIES:
        raise ValueError(f"unknown system {system!r}; valid systems: {', '.join(DIFFUSIVITIES)}")
    dx = data["length"] / data["grid"]
    dt = data["dt"]
    if system == "kdv":
        omega = dispersion_omegas(data["grid"]) / dx**3
        integrator = data.get("micro_integrator", "euler")
        amp = float(np.max(amplification(1j * dt * omega, integrator)))
        return dict(amplification=amp, growth=amp ** (data["n_macro"] * data["k"]))
    coefficients = dict(data["coefficients"])
    missing = [name for name in DIFFUSIVITIES[system] if name not in coefficients]
    if missing:
        raise ValueError(f"{system}: coefficients {missing} missing from data.coefficients")
    d_max = max(coefficients[name] for name in DIFFUSIVITIES[system])
    return dict(euler_number=dt * d_max * data["ndim"] * -LAPLACIAN_MIN_SYMBOL / dx**2)


def check_stability(data: Mapping[str, Any]) -> dict[str, float]:
    """Return ``euler_numbers(data)``, or raise ``UnstableStepError`` naming the violated bound."""
    numbers = euler_numbers(data)
    dx = data["length"] / data["grid"]
    where = f"{data['system']} ({data['ndim']}D) on the learning grid {data['grid']} (dx={dx:g})"
    integrator = data.get("micro_integrator", "euler")
    bound = DIFFUSION_BOUNDS[integrator]
    if "euler_number" in numbers and numbers["euler_number"] > bound:
        d_max = max(dict(data["coefficients"])[n] for n in DIFFUSIVITIES[data["system"]])
        dt_max = bound * dx**2 / (d_max * data["ndim"] * -LAPLACIAN_MIN_SYMBOL)
        raise UnstableStepError(
            f"dt={data['dt']} is unstable for the {integrator} micro step on {where}: "
            f"dt·D·ndim·(16/3)/dx² = {numbers['euler_number']:.3g} > {bound:.4g} "
            f"(D = {d_max:g}); need dt <= {dt_max:.3g}"
        )
    if "growth" in numbers and numbers["growth"] > KDV_MAX_GROWTH:
        raise UnstableStepError(
            f"dt={data['dt']} lets the {integrator} step of the 4th-order dispersion stencil grow "
            f"the worst mode by {numbers['growth']:.3g}x over the horizon on {where}: "
            f"max|R(i dt ω)|^(n_macro·k) must be <= {KDV_MAX_GROWTH:g}; lower dt, "
            "n_macro or k, use data.micro_integrator='rk4' (stable for |dt ω| <= 2.83), or "
            "coarsen the grid"
        )
    return numbers
