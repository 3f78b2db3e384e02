"""The benchmark PDEs in the micro module's own discretisation: 4th-order periodic stencils in
space (`solvers.stencils`) and an explicit integrator at the micro step δt (`solvers.explicit`).

This is "the true physics in the form a physics-informed micro module can represent": the
**physics oracle** reference model rolls it over the whole horizon, and the closure report
(`solvers.closure`, r_oracle) measures how well it follows the data on the learning grid. It is
not a ground-truth solver (that is `solvers.systems`, pseudo-spectral ETDRK4); its error on the
learning grid is exactly what the closure report is there to show.

Right-hand sides, on a batch `u: (B, *space, C)` with spacing `dx` (coefficient names as in
`solvers.systems`; D1 the 4th-order first derivative, D3 the third, Lap the Laplacian):

    kdv         -a u D1 u - b D3 u
    burgers     nu Lap u_i - sum_j u_j D1_j u_i
    fn          D_u Lap u + u - u^3 - v + alpha ;  D_v Lap v + beta (u - v)
    gray_scott  D_u Lap u - u v^2 + f (1 - u)   ;  D_v Lap v + u v^2 - (f + kappa) v
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax.numpy as jnp

from solvers import stencils, systems
from solvers.explicit import check_integrator, explicit_step


def right_hand_side(system: systems.System, dx: float) -> Callable:
    """`f(u)`, the PDE's right-hand side of `system` (from `systems.get_system`) in 4th-order
    periodic stencils with spacing `dx`: `(B, *space, C) -> (B, *space, C)`."""
    c = system.coefficients
    if system.name == "kdv":
        a, b = c["convection"], c["dispersion"]

        def kdv(u):
            return -a * u * stencils.first_derivative(u, dx) - b * stencils.third_derivative(u, dx)

        return kdv
    if system.name == "burgers":
        nu, ndim = c["nu"], system.ndim

        def burgers(u):
            advection = sum(
                u[..., j : j + 1] * stencils.first_derivative(u, dx, axis=j) for j in range(ndim)
            )
            return nu * stencils.laplacian(u, dx) - advection

        return burgers
    if system.name == "fn":
        alpha, beta = c["alpha"], c["beta"]

        def fn(u):
            d = jnp.asarray([c["d_u"], c["d_v"]], u.dtype).reshape((1,) * (u.ndim - 1) + (2,))
            a, b = u[..., :1], u[..., 1:]
            reaction = jnp.concatenate([a - a**3 - b + alpha, beta * (a - b)], axis=-1)
            return d * stencils.laplacian(u, dx) + reaction

        return fn
    if system.name == "gray_scott":
        f, kappa = c["f"], c["kappa"]

        def gray_scott(u):
            d = jnp.asarray([c["d_u"], c["d_v"]], u.dtype).reshape((1,) * (u.ndim - 1) + (2,))
            a, b = u[..., :1], u[..., 1:]
            uvv = a * b * b
            reaction = jnp.concatenate([-uvv + f * (1.0 - a), uvv - (f + kappa) * b], axis=-1)
            return d * stencils.laplacian(u, dx) + reaction

        return gray_scott
    raise ValueError(f"no finite-difference form for system {system.name!r}")


def micro_form_step(
    system: systems.System, dx: float, dt: float, integrator: str = "euler"
) -> Callable:
    """One micro step `(B, *space, C) -> same` of the true PDE: `integrator` at step `dt` on
    `right_hand_side(system, dx)`. Pure and jit-able; follows the input's dtype."""
    check_integrator(integrator)
    f = right_hand_side(system, dx)

    def step(u):
        return explicit_step(f, u, dt, integrator)

    return step


def micro_form_step_of(data: Mapping) -> Callable:
    """`micro_form_step` of a data config section (system, ndim, coefficients, length, grid, dt,
    and the micro module's integrator `micro_integrator`, default forward Euler)."""
    system = systems.get_system(data["system"], data["ndim"], **dict(data["coefficients"]))
    dx = float(data["length"]) / int(data["grid"])
    return micro_form_step(system, dx, float(data["dt"]), data.get("micro_integrator", "euler"))
