"""Fixed stencils against analytic derivatives of periodic sines, with observed 4th-order
convergence in 1D, 2D and 3D."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from solvers import stencils

LENGTH = 3.0
WAVES = (1, 2, 1)  # wavenumber per axis (in periods per domain)


def _field(n: int, ndim: int):
    """f = prod_a sin(k_a x_a + phase_a) on n^ndim points, two channels (f, 2f); with its
    analytic Laplacian, d/dx_last and d^3/dx_0^3, all as (1, *space, 2) float64 arrays."""
    x = np.arange(n) * (LENGTH / n)
    k = [2 * np.pi * WAVES[a] / LENGTH for a in range(ndim)]
    phase = [0.3, 1.1, 2.0]
    grids = np.meshgrid(*([x] * ndim), indexing="ij")
    s = [np.sin(k[a] * grids[a] + phase[a]) for a in range(ndim)]
    c = [np.cos(k[a] * grids[a] + phase[a]) for a in range(ndim)]

    def prod(factors):
        out = np.ones_like(grids[0])
        for f in factors:
            out = out * f
        return out

    f = prod(s)
    lap = -sum(kk**2 for kk in k) * f
    last = ndim - 1
    d1 = k[last] * prod([c[a] if a == last else s[a] for a in range(ndim)])
    d3 = -(k[0] ** 3) * prod([c[a] if a == 0 else s[a] for a in range(ndim)])

    def two(a):
        return np.stack([a, 2 * a], axis=-1)[None]

    return two(f), {"laplacian": two(lap), "first": two(d1), "third": two(d3)}


def _apply(name: str, u, dx, ndim):
    if name == "laplacian":
        return stencils.laplacian(u, dx)
    if name == "first":
        return stencils.first_derivative(u, dx, axis=ndim - 1)
    return stencils.third_derivative(u, dx, axis=0)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("name", ["laplacian", "first", "third"])
def test_fourth_order_convergence_against_analytic_derivatives(ndim, name):
    errors = []
    sizes = (16, 32)
    with jax.enable_x64(True):
        for n in sizes:
            f, exact = _field(n, ndim)
            approx = np.asarray(_apply(name, jnp.asarray(f), LENGTH / n, ndim))
            assert approx.shape == f.shape
            errors.append(np.max(np.abs(approx - exact[name])) / np.max(np.abs(exact[name])))
    order = np.log2(errors[0] / errors[1])
    assert errors[1] < 1e-3, errors
    assert 3.7 < order < 4.4, (errors, order)


def test_float32_roll_stencil_is_accurate_and_per_axis_spacing_works():
    # 2D with different spacings per axis: Lx = 3, Ly = 6 on 32 x 32 points.
    n = 32
    x = np.arange(n) * (3.0 / n)
    y = np.arange(n) * (6.0 / n)
    gx, gy = np.meshgrid(x, y, indexing="ij")
    kx, ky = 2 * np.pi / 3.0, 2 * np.pi / 6.0
    f = np.sin(kx * gx) * np.cos(ky * gy)
    u = jnp.asarray(f[None, ..., None], jnp.float32)
    lap = np.asarray(stencils.laplacian(u, (3.0 / n, 6.0 / n)))[0, ..., 0]
    exact = -(kx**2 + ky**2) * f
    assert np.max(np.abs(lap - exact)) < 2e-3 * np.max(np.abs(exact))


def test_bad_inputs_are_refused_with_a_reason():
    u = jnp.zeros((1, 8, 8, 1))
    with pytest.raises(ValueError, match="spatial axes"):
        stencils.laplacian(u, (0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="out of range"):
        stencils.first_derivative(u, 0.1, axis=2)
    with pytest.raises(ValueError, match=r"\(B, \*space, C\)"):
        stencils.laplacian(jnp.zeros((8, 8)), 0.1)
