"""Fixed periodic finite-difference stencils on channels-last fields, any number of dimensions.

Every function takes a batch of fields `u` of shape `(B, *space, C)` (1, 2 or 3 spatial axes; one
code path) on a uniform periodic grid with spacing `dx` (a float, or one float per spatial axis,
in the same length unit as the domain) and returns an array of the same shape.

The stencils are written as weighted sums of `jnp.roll`s, not as convolutions: that is exact in
float32 on every backend (a `lax.conv` runs at reduced TF32/bf16 precision by default on GPU/TPU,
which breaks the physics) and 30-40x faster on CPU than a `lax.conv` with a fixed kernel.

Accuracy on a smooth periodic field, with truncation error O(dx^p):

* `laplacian`: sum over axes of (-1/12, 4/3, -5/2, 4/3, -1/12) / dx^2, order p = 4.
* `first_derivative`: (1, -8, 0, 8, -1) / (12 dx), order p = 4.
* `third_derivative`: (1/8, -1, 13/8, 0, -13/8, 1, -1/8) / dx^3 (offsets -3..3), order p = 4.
"""

from collections.abc import Sequence

import jax.numpy as jnp

# Central-difference weights as {offset: weight}; the offset j multiplies u(x + j dx).
_LAPLACIAN_1D = {-2: -1.0 / 12.0, -1: 4.0 / 3.0, 0: -5.0 / 2.0, 1: 4.0 / 3.0, 2: -1.0 / 12.0}
_FIRST = {-2: 1.0 / 12.0, -1: -8.0 / 12.0, 1: 8.0 / 12.0, 2: -1.0 / 12.0}
_THIRD = {-3: 1.0 / 8.0, -2: -1.0, -1: 13.0 / 8.0, 1: -13.0 / 8.0, 2: 1.0, 3: -1.0 / 8.0}


def spatial_ndim(u: jnp.ndarray) -> int:
    """Number of spatial axes of a channels-last batch `(B, *space, C)`."""
    if u.ndim < 3:
        raise ValueError(
            f"expected a channels-last batch (B, *space, C) with 1-3 spatial axes, got shape "
            f"{u.shape}"
        )
    return u.ndim - 2


def _spacing(dx: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    if isinstance(dx, Sequence):
        if len(dx) != ndim:
            raise ValueError(f"dx has {len(dx)} entries but the field has {ndim} spatial axes")
        return tuple(float(d) for d in dx)
    return (float(dx),) * ndim


def _check_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"spatial axis {axis} out of range for a field with {ndim} spatial axes")
    return axis % ndim


def apply_stencil(u: jnp.ndarray, weights: dict[int, float], axis: int) -> jnp.ndarray:
    """sum_j weights[j] * u(x + j dx) along spatial axis `axis` (0-based), periodic, no 1/dx^p."""
    ndim = spatial_ndim(u)
    array_axis = 1 + _check_axis(axis, ndim)
    out = jnp.zeros_like(u)
    for offset, weight in weights.items():
        # roll by -j puts u[i + j] at position i.
        out = out + weight * jnp.roll(u, -offset, axis=array_axis)
    return out


def laplacian(u: jnp.ndarray, dx: float | Sequence[float]) -> jnp.ndarray:
    """4th-order periodic Laplacian, sum_a d^2u/dx_a^2, of `u: (B, *space, C)`; same shape."""
    ndim = spatial_ndim(u)
    spacing = _spacing(dx, ndim)
    out = jnp.zeros_like(u)
    for axis in range(ndim):
        out = out + apply_stencil(u, _LAPLACIAN_1D, axis) / spacing[axis] ** 2
    return out


def first_derivative(u: jnp.ndarray, dx: float | Sequence[float], axis: int = 0) -> jnp.ndarray:
    """4th-order periodic du/dx_axis of `u: (B, *space, C)` along spatial axis `axis`."""
    spacing = _spacing(dx, spatial_ndim(u))
    return apply_stencil(u, _FIRST, axis) / spacing[axis]


def third_derivative(u: jnp.ndarray, dx: float | Sequence[float], axis: int = 0) -> jnp.ndarray:
    """4th-order periodic d^3u/dx_axis^3 of `u: (B, *space, C)` along spatial axis `axis`."""
    spacing = _spacing(dx, spatial_ndim(u))
    return apply_stencil(u, _THIRD, axis) / spacing[axis] ** 3
