"""ETDRK4 (Cox & Matthews 2002) for the diagonal semi-linear system
`d/dt u_hat = L u_hat + N(u_hat)`, with the phi-function coefficients evaluated by the Kassam &
Trefethen (2005) contour integral.

`L` is a per-mode, per-channel symbol (a diagonal linear operator in Fourier space), `N` any
nonlinear function of the spectrum. One step of size `h` is (with `E = exp(hL)`,
`E2 = exp(hL/2)`):

    a = E2 u + Q N(u)                   Q  = h phi1(hL/2) / 2 = (E2 - 1) / L
    b = E2 u + Q N(a)
    c = E2 a + Q (2 N(b) - N(u))
    u' = E u + f1 N(u) + 2 f2 (N(a) + N(b)) + f3 N(c)

    f1 = h (-4 - z + e^z (4 - 3z + z^2)) / z^3
    f2 = h (2 + z + e^z (z - 2)) / z^3                       z = hL
    f3 = h (-4 - 3z - z^2 + e^z (4 - z)) / z^3

The f's cancel catastrophically for small |z|; averaging each over `M` points of the circle
`z + r e^{i theta}` (a contour integral, exact for analytic functions up to the trapezoid rule's
exponentially small error) avoids that. The coefficients are computed once, in NumPy complex128,
whatever precision the step later runs in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np


class ETDRK4Coefficients(NamedTuple):
    """Per-mode ETDRK4 coefficients, each shaped like the symbol `L` (float64 or complex128)."""

    exp: np.ndarray  # E = exp(hL)
    exp_half: np.ndarray  # E2 = exp(hL/2)
    q: np.ndarray  # (E2 - 1) / L
    f1: np.ndarray
    f2: np.ndarray
    f3: np.ndarray

    def astype(self, dtype) -> ETDRK4Coefficients:
        return ETDRK4Coefficients(*(np.asarray(c, dtype=dtype) for c in self))


def etdrk4_coefficients(
    linear: np.ndarray, dt: float, *, contour_points: int = 64, radius: float = 1.0
) -> ETDRK4Coefficients:
    """Kassam–Trefethen ETDRK4 coefficients of the diagonal symbol `linear` for step `dt`.

    `linear`: any-shaped array of `L` values (units 1/time). Returns float64 coefficients when
    `linear` is real, complex128 otherwise. `contour_points` points on a circle of `radius`
    (in units of `hL`); 64 points of radius 1 give ~1e-15 relative accuracy for |hL| up to ~1e3
    and beyond.
    """
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"time step dt must be finite and > 0, got {dt!r}")
    linear = np.asarray(linear)
    if not np.all(np.isfinite(linear)):
        raise ValueError("the linear symbol has non-finite entries")
    z_all = np.asarray(dt * linear, dtype=np.complex128)
    # Symbols repeat (they depend on |k|), so evaluate on the distinct values only.
    z, inverse = np.unique(z_all.ravel(), return_inverse=True)
    q, f1, f2, f3 = _phi_direct(z)
    # Near z = 0 the direct formulas cancel catastrophically: average them over a circle of
    # radius `radius` around z instead. Restricting the circle to |z| < radius / 2 keeps every
    # contour point at least radius / 2 away from the origin (a circle through 0 would not).
    near = np.abs(z) < radius / 2
    theta = 2.0 * np.pi * (np.arange(contour_points) + 0.5) / contour_points
    r = z[near, None] + radius * np.exp(1j * theta)[None, :]
    for c, c_contour in zip((q, f1, f2, f3), _phi_direct(r), strict=True):
        c[near] = np.mean(c_contour, axis=-1)
    q, f1, f2, f3 = (dt * c[inverse].reshape(z_all.shape) for c in (q, f1, f2, f3))
    z = z_all
    coefs = ETDRK4Coefficients(np.exp(z), np.exp(z / 2), q, f1, f2, f3)
    if np.isrealobj(linear):
        # For real L the exact values are real; the contour leaves ~1e-17 imaginary dust.
        coefs = ETDRK4Coefficients(*(np.real(c) for c in coefs))
    return coefs


def _phi_direct(z: np.ndarray) -> tuple[np.ndarray, ...]:
    """The four coefficient functions of `z = hL` divided by `h`, straight from their formulas."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ez = np.exp(z)
        q = (np.exp(z / 2) - 1.0) / z
        f1 = (-4.0 - z + ez * (4.0 - 3.0 * z + z**2)) / z**3
        f2 = (2.0 + z + ez * (z - 2.0)) / z**3
        f3 = (-4.0 - 3.0 * z - z**2 + ez * (4.0 - z)) / z**3
    return q, f1, f2, f3


def etdrk4_step(
    coefs: ETDRK4Coefficients, nonlinear: Callable[[jax.Array], jax.Array]
) -> Callable[[jax.Array], jax.Array]:
    """Return `step(u_hat) -> u_hat'`, one ETDRK4 step in Fourier space.

    `coefs` must already be arrays of the step's precision and broadcast-compatible with
    `u_hat` at equal rank (the strict rank-promotion mode forbids implicit broadcasting);
    `nonlinear(u_hat)` returns `N(u_hat)` with the shape of `u_hat`. Four `nonlinear` calls
    per step.
    """
    e, e2, q, f1, f2, f3 = coefs

    def step(u_hat: jax.Array) -> jax.Array:
        nu = nonlinear(u_hat)
        e2u = e2 * u_hat
        a = e2u + q * nu
        na = nonlinear(a)
        b = e2u + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2.0 * nb - nu)
        nc = nonlinear(c)
        return e * u_hat + f1 * nu + 2.0 * f2 * (na + nb) + f3 * nc

    return step
