"""The benchmark PDEs as semi-linear systems `d/dt u_hat = L u_hat + N(u_hat)` on a periodic cube,
and `make_stepper`, their pseudo-spectral ETDRK4 time step.

Every system splits into a diagonal linear symbol `L` (one value per channel and Fourier mode)
and a nonlinear term `N` evaluated pseudo-spectrally. Linear terms that couple channels cannot
live in a diagonal `L`; they go into `N`, but evaluated in Fourier space (they are exact there and
cost no FFT). Products are dealiased by truncation: the fields entering a product are cut to the
modes `|m_i| < fraction * n / 2` (`solvers.grid.dealias_mask_np`) and so is the product, with
fraction 2/3 for quadratic products (KdV, Burgers) and 1/2 for the cubic ones (FitzHugh–Nagumo's
u^3, Gray–Scott's u v^2); this makes the products alias-free on the kept modes. Modes beyond the
cutoff still evolve under `L` (and any Fourier-space linear coupling) but never feed a product.

    system      equation (time t, space x in the units of `length`)                  fields
    kdv         u_t + a u u_x + b u_xxx = 0           L = i b k^3 (1D only)            u
    burgers     u_t = nu Lap u - (u . grad) u         L = -nu |k|^2 per component      u[, v, w]
    fn          u_t = D_u Lap u + u - u^3 - v + alpha   L_u = -D_u |k|^2 + 1           u, v
                v_t = D_v Lap v + beta (u - v)          L_v = -D_v |k|^2 - beta
    gray_scott  u_t = D_u Lap u - u v^2 + f (1 - u)     L_u = -D_u |k|^2 - f           u, v
                v_t = D_v Lap v + u v^2 - (f + kappa) v L_v = -D_v |k|^2 - (f + kappa)

KdV's sign: u_xxx has symbol (ik)^3 = -i k^3, and moving `+ b u_xxx` to the right-hand side gives
`+ i b k^3`. Burgers uses the Lamb form
`(u . grad) u_j = d_j |u|^2/2 + sum_i u_i (d_i u_j - d_j u_i)`: in 2D it needs 3 inverse and 3
forward FFTs per evaluation instead of 6 and 2, and it is the same
Galerkin term (both forms are exact on the kept modes because the products are alias-free).

FFT count per nonlinear evaluation (inverse + forward, channel-FFTs): kdv 1+1, burgers 2D 3+3
(3D 6+4), fn 1+1, gray_scott 2+1. One physical-space step adds 1 forward and 1 inverse FFT of the
state around the four evaluations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from solvers.etdrk import ETDRK4Coefficients, etdrk4_coefficients, etdrk4_step
from solvers.grid import dealias_mask_np, spatial_axes, spectral_shape, wavenumbers_np

SYSTEMS: tuple[str, ...] = ("kdv", "burgers", "fn", "gray_scott")

Array = jax.Array


class SpectralGrid(NamedTuple):
    """Static NumPy (float64) description of the grid a stepper is built for.

    `k`: angular wavenumbers per axis, each `spectral_shape(n, ndim)`; `k_odd`: the same with
    the Nyquist entries zeroed, for odd derivatives; `mask`: the system's dealiasing mask.
    """

    n: int
    ndim: int
    k: tuple[np.ndarray, ...]
    k_odd: tuple[np.ndarray, ...]
    mask: np.ndarray


NonlinearBuilder = Callable[[SpectralGrid, np.dtype], Callable[[jax.Array], jax.Array]]


@dataclasses.dataclass(frozen=True, eq=False)
class System:
    """One PDE: its name, space dimension, fields, coefficients and spectral split.

    `linear(grid)` returns the symbol `L` of shape `(C, *spectral_shape)` (float64, or
    complex128 for dispersive terms); `nonlinear(grid, dtype)` returns a function
    `u_hat (C, *spectral_shape) -> N(u_hat)` with all its constants in `dtype` (float32/64).
    """

    name: str
    ndim: int
    field_names: tuple[str, ...]
    coefficients: Mapping[str, float]
    dealias_fraction: float
    linear: Callable[[SpectralGrid], np.ndarray] = dataclasses.field(repr=False)
    nonlinear: NonlinearBuilder = dataclasses.field(repr=False)

    @property
    def channels(self) -> int:
        return len(self.field_names)


# ---------------------------------------------------------------- defaults, per system

_DEFAULTS: dict[str, Callable[[int], dict[str, float]]] = {
    "kdv": lambda ndim: dict(convection=1.0, dispersion=1.0),
    "burgers": lambda ndim: dict(nu=0.005),
    "fn": lambda ndim: dict(d_u=1.0, d_v=100.0, alpha=0.01, beta=0.25),
    # The 2D and 3D benchmarks use different Gray–Scott parameters (benchmarks.md).
    "gray_scott": lambda ndim: (
        dict(d_u=0.2, d_v=0.1, f=0.025, kappa=0.055)
        if ndim == 3
        else dict(d_u=2e-5, d_v=5e-6, f=0.04, kappa=0.06)
    ),
}
_NDIMS = {"kdv": (1,), "burgers": (1, 2, 3), "fn": (1, 2, 3), "gray_scott": (2, 3)}


def get_system(name: str, ndim: int, **coefficients: float) -> System:
    """The system `name` (one of `SYSTEMS`) in `ndim` space dimensions.

    Coefficients default to benchmarks.md's values (Gray–Scott: the 2D set for ndim 2, the 3D
    set for ndim 3); keyword arguments override them by name: kdv `convection`, `dispersion`
    (a, b above); burgers `nu`; fn `d_u`, `d_v`, `alpha`, `beta`; gray_scott `d_u`, `d_v`, `f`,
    `kappa`. Units are those of the equations in this module's docstring.
    """
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; valid systems: {', '.join(SYSTEMS)}")
    if ndim not in _NDIMS[name]:
        valid = ", ".join(map(str, _NDIMS[name]))
        raise ValueError(f"system {name!r} is defined for ndim in ({valid}), got {ndim!r}")
    coefs = _DEFAULTS[name](ndim)
    unknown = sorted(set(coefficients) - set(coefs))
    if unknown:
        raise ValueError(
            f"unknown coefficient(s) {', '.join(unknown)} for system {name!r}; "
            f"valid coefficients: {', '.join(coefs)}"
        )
    coefs.update({k: float(v) for k, v in coefficients.items()})
    bad = [k for k, v in coefs.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"coefficient(s) {', '.join(bad)} of {name!r} must be finite")
    negative = [k for k in ("nu", "d_u", "d_v") if coefs.get(k, 0.0) < 0]
    if negative:
        raise ValueError(
            f"diffusivities must be >= 0 (backward diffusion is ill-posed): {negative}"
        )
    build = {"kdv": _kdv, "burgers": _burgers, "fn": _fn, "gray_scott": _gray_scott}[name]
    return build(ndim, MappingProxyType(coefs))


# ---------------------------------------------------------------- helpers


def _to_physical(u_hat: Array, n: int, ndim: int) -> Array:
    return jnp.fft.irfftn(u_hat, s=(n,) * ndim, axes=spatial_axes(ndim))


def _to_fourier(u: Array, ndim: int) -> Array:
    return jnp.fft.rfftn(u, axes=spatial_axes(ndim))


def _k2(ks: tuple[np.ndarray, ...]) -> np.ndarray:
    return sum(k**2 for k in ks)


def _const(x: np.ndarray, dtype) -> np.ndarray:
    """`x` as a NumPy constant of the step's precision `dtype` (complex stays complex)."""
    x = np.asarray(x)
    cdtype = np.result_type(dtype, np.complex64) if np.iscomplexobj(x) else dtype
    # NumPy, not jnp: a jnp array made while tracing is a tracer, and these are cached per dtype
    # across traces; NumPy constants are embedded afresh in every trace.
    return np.asarray(x, dtype=cdtype)


def _zero_mode(n: int, ndim: int) -> np.ndarray:
    """`rfftn` of the constant 1 on an `n^ndim` grid (n^ndim at mode 0), shape (1, *spectral)."""
    e = np.zeros((1, *spectral_shape(n, ndim)))
    e[(0,) * (ndim + 1)] = float(n) ** ndim
    return e


# ---------------------------------------------------------------- the systems


def _kdv(ndim: int, c: Mapping[str, float]) -> System:
    a, b = c["convection"], c["dispersion"]

    def linear(g):
        (k,) = g.k_odd
        return (1j * b * k**3)[None]

    def nonlinear(g, dtype):
        (k,), mask, n = g.k_odd, g.mask, g.n
        premask = _const(mask[None], dtype)
        # -(a/2) d_x (u^2), with the dealiasing mask folded into the derivative.
        post = _const((-0.5j * a * k * mask)[None], dtype)

        def n_hat(u_hat):
            u = _to_physical(premask * u_hat, n, ndim)
            return post * _to_fourier(u * u, ndim)

        return n_hat

    return System("kdv", ndim, ("u",), c, 2.0 / 3.0, linear, nonlinear)


def _burgers(ndim: int, c: Mapping[str, float]) -> System:
    nu = c["nu"]
    pairs = [(i, j) for i in range(ndim) for j in range(i + 1, ndim)]

    def linear(g):
        return np.broadcast_to(-nu * _k2(g.k), (ndim, *g.mask.shape)).copy()

    def nonlinear(g, dtype):
        ko, mask, n = g.k_odd, g.mask, g.n
        # One constant matrix maps the d components to [P u_1..P u_d, Omega_p for each pair p],
        # Omega_ij = d_i u_j - d_j u_i (i < j), so the inverse-FFT input is one fused expression.
        to_phys = np.zeros((ndim + len(pairs), ndim, *mask.shape), complex)
        for j in range(ndim):
            to_phys[j, j] = mask
        for p, (i, j) in enumerate(pairs):
            to_phys[ndim + p, j] = 1j * ko[i] * mask
            to_phys[ndim + p, i] = -1j * ko[j] * mask
        to_phys = _const(to_phys, dtype)
        grad_q = _const(np.stack([-1j * k * mask for k in ko]), dtype)  # -d_j (.)
        minus_mask = _const(-1.0 * mask[None], dtype)

        def n_hat(u_hat):
            stack = sum(to_phys[:, c] * u_hat[c : c + 1] for c in range(ndim))
            phys = _to_physical(stack, n, ndim)
            u, om = phys[:ndim], phys[ndim:]
            q = 0.5 * jnp.sum(u * u, axis=0, keepdims=True)
            if not pairs:  # 1D: (u . grad) u = d_x (u^2 / 2)
                return grad_q * _to_fourier(q, ndim)
            # r_j = sum_i u_i Omega_ij, with Omega_ji = -Omega_ij.
            r = []
            for j in range(ndim):
                terms = [u[a : a + 1] * om[p : p + 1] for p, (a, b) in enumerate(pairs) if b == j]
                terms += [-u[b : b + 1] * om[p : p + 1] for p, (a, b) in enumerate(pairs) if a == j]
                r.append(sum(terms[1:], terms[0]))
            prod_hat = _to_fourier(jnp.concatenate([q, *r], axis=0), ndim)
            return grad_q * prod_hat[:1] + minus_mask * prod_hat[1:]

        return n_hat

    names = ("u", "v", "w")[:ndim]
    return System("burgers", ndim, names, c, 2.0 / 3.0, linear, nonlinear)


def _fn(ndim: int, c: Mapping[str, float]) -> System:
    d_u, d_v, alpha, beta = c["d_u"], c["d_v"], c["alpha"], c["beta"]

    def linear(g):
        k2 = _k2(g.k)
        return np.stack([-d_u * k2 + 1.0, -d_v * k2 - beta])

    def nonlinear(g, dtype):
        mask, n = g.mask, g.n
        premask = _const(mask[None], dtype)
        minus_mask = _const(-mask[None].astype(float), dtype)
        forcing = _const(alpha * _zero_mode(n, ndim), dtype)

        def n_hat(u_hat):
            u_f, v_f = u_hat[:1], u_hat[1:]
            u = _to_physical(premask * u_f, n, ndim)
            # -u^3 - v + alpha and beta u; the linear couplings are exact in Fourier space.
            n_u = minus_mask * _to_fourier(u * u * u, ndim) - v_f + forcing
            return jnp.concatenate([n_u, beta * u_f], axis=0)

        return n_hat

    return System("fn", ndim, ("u", "v"), c, 0.5, linear, nonlinear)


def _gray_scott(ndim: int, c: Mapping[str, float]) -> System:
    d_u, d_v, f, kappa = c["d_u"], c["d_v"], c["f"], c["kappa"]

    def linear(g):
        k2 = _k2(g.k)
        return np.stack([-d_u * k2 - f, -d_v * k2 - (f + kappa)])

    def nonlinear(g, dtype):
        mask, n = g.mask, g.n
        premask = _const(mask[None], dtype)
        signs = _const(np.stack([-1.0 * mask, 1.0 * mask]), dtype)  # -uv^2 and +uv^2
        feed = _const(np.concatenate([f * _zero_mode(n, ndim), 0 * _zero_mode(n, ndim)]), dtype)

        def n_hat(u_hat):
            uv = _to_physical(premask * u_hat, n, ndim)
            u, v = uv[:1], uv[1:]
            return signs * _to_fourier(u * v * v, ndim) + feed

        return n_hat

    return System("gray_scott", ndim, ("u", "v"), c, 0.5, linear, nonlinear)


# ---------------------------------------------------------------- the stepper


def make_stepper(
    system: System,
    n: int,
    length: float,
    dt: float,
    *,
    n_steps: int = 1,
    contour_points: int = 64,
) -> Callable[[Array], Array]:
    """One ETDRK4 step of size `dt` (or `n_steps` of them) of `system` on the periodic grid
    `n^ndim` of the cube `[0, length)^ndim`, physical space in and out.

    Returns `step(u)`, `u: (*[n]*ndim, C) -> same shape`, pure and jit-able; the arithmetic and
    the output follow the input's dtype (float32 or float64; the coefficients are computed in
    float64 once and rounded). Batch with `jax.vmap`. With `n_steps > 1` the steps chain in
    Fourier space, saving one forward and one inverse FFT per inner step.

    Errors: `dt`, `length` must be finite and > 0, `n >= 4`. The step treats the linear part
    exactly, so there is no diffusive bound; the explicit nonlinear part needs roughly
    `dt * max|u| * k_max < 1` (advection) or `dt * max rate < 1` (reactions) — check the output.
    """
    if not isinstance(system, System):
        raise TypeError(f"system must come from get_system(...), got {type(system).__name__}")
    if not (isinstance(n, int | np.integer) and n >= 4):
        raise ValueError(f"grid size n must be an integer >= 4, got {n!r}")
    if not (isinstance(dt, int | float | np.floating) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"time step dt must be finite and > 0, got {dt!r}")
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 1):
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    ndim, channels = system.ndim, system.channels
    grid = SpectralGrid(
        n,
        ndim,
        wavenumbers_np(n, float(length), ndim),
        wavenumbers_np(n, float(length), ndim, zero_nyquist=True),
        dealias_mask_np(n, ndim, system.dealias_fraction),
    )
    symbol = np.asarray(system.linear(grid))
    expected = (channels, *spectral_shape(n, ndim))
    if symbol.shape != expected:
        raise AssertionError(f"{system.name}: symbol shape {symbol.shape}, expected {expected}")
    coefs = etdrk4_coefficients(symbol, float(dt), contour_points=contour_points)
    shape = (n,) * ndim + (channels,)
    built: dict[np.dtype, Callable[[Array], Array]] = {}

    def fourier_step(dtype) -> Callable[[Array], Array]:
        if dtype not in built:
            consts = ETDRK4Coefficients(*(_const(c, dtype) for c in coefs))
            built[dtype] = etdrk4_step(consts, system.nonlinear(grid, dtype))
        return built[dtype]

    def step(u: Array) -> Array:
        if tuple(u.shape) != shape:
            raise ValueError(
                f"{system.name} stepper expects one field of shape {shape} "
                f"(*[n]*ndim, C); got {tuple(u.shape)} — batch with jax.vmap"
            )
        if not jnp.issubdtype(u.dtype, jnp.floating):
            raise TypeError(f"expected a float32 or float64 field, got {u.dtype}")
        step_hat = fourier_step(np.dtype(u.dtype))
        u_hat = _to_fourier(jnp.moveaxis(u, -1, 0), ndim)
        if n_steps == 1:
            u_hat = step_hat(u_hat)
        else:
            u_hat = jax.lax.fori_loop(0, n_steps, lambda _, x: step_hat(x), u_hat)
        return jnp.moveaxis(_to_physical(u_hat, n, ndim), 0, -1).astype(u.dtype)

    return step
