"""Explicit one-step integrators for `du/dt = f(u)`: the time discretisation of the micro module.

The micro module (method.md §2) and the physics oracle built from it advance with one of these
at the small step δt. Forward Euler is the paper's scheme and the default; classical RK4 is the
option for dispersive systems (KdV), whose stencil eigenvalues lie on the imaginary axis, where
forward Euler amplifies every mode (|1 + iy| > 1) and RK4 is stable up to |y| ≤ 2√2.

    integrator   one step                              stable on the real / imaginary axis
    euler        u + δt f(u)                           [-2, 0] / nowhere but 0
    rk4          u + δt (k1 + 2 k2 + 2 k3 + k4) / 6    [-2.785, 0] / |y| ≤ 2.828
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

INTEGRATORS: tuple[str, ...] = ("euler", "rk4")


def check_integrator(name: str) -> str:
    """Return `name`, or raise a ValueError that lists the valid integrators."""
    if name not in INTEGRATORS:
        raise ValueError(
            f"unknown integrator {name!r}; valid integrators: {', '.join(INTEGRATORS)}"
        )
    return name


def explicit_step(f: Callable, u, dt: float, integrator: str = "euler"):
    """One step of `integrator` of size `dt` for `du/dt = f(u)`; `f` maps `u` to an array of its
    shape. Pure and traceable (works on jax and numpy arrays alike)."""
    if check_integrator(integrator) == "euler":
        return u + dt * f(u)
    k1 = f(u)
    k2 = f(u + 0.5 * dt * k1)
    k3 = f(u + 0.5 * dt * k2)
    k4 = f(u + dt * k3)
    return u + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def amplification(z, integrator: str = "euler") -> np.ndarray:
    """`|R(z)|`, the factor by which one step multiplies an eigenmode `exp(λt)`, `z = δt·λ`:
    `R(z) = 1 + z` (euler) or `1 + z + z²/2 + z³/6 + z⁴/24` (rk4)."""
    z = np.asarray(z, dtype=complex)
    if check_integrator(integrator) == "euler":
        return np.abs(1.0 + z)
    return np.abs(1.0 + z + z**2 / 2.0 + z**3 / 6.0 + z**4 / 24.0)
