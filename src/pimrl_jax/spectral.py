"""Fourier helpers on periodic channels-last fields, shared by the FNO and CROP baselines.

Fields are `(B, *space, C)` on a uniform periodic grid; the spatial axes are `1 .. ndim`. Spectra
come from `jnp.fft.rfftn` over those axes, so the last spatial axis holds the non-negative
frequencies `0 .. n//2` and every other spatial axis holds all of them in FFT order
`0, 1, .., -2, -1`.

A *low-mode block* keeps, on each non-last spatial axis, the `pos` lowest non-negative and the
`neg` lowest negative frequencies (the `2^(ndim-1)` corner blocks of the FNO papers, written as
one contiguous array), and on the last axis the `pos` lowest non-negative ones. Its layout along a
non-last axis is `[0, 1, .., pos-1, -neg, .., -1]`.
"""

from collections.abc import Sequence

import jax.numpy as jnp


def spatial_axes(ndim: int) -> tuple[int, ...]:
    """Axes of the spatial dimensions of a `(B, *space, C)` array with `ndim` spatial dims."""
    return tuple(range(1, ndim + 1))


def crop_low_modes(x_hat: jnp.ndarray, pos: int, neg: int) -> jnp.ndarray:
    """Keep the low-mode block of an rfftn spectrum `(B, *modes_full, C)`.

    Returns `(B, pos+neg, .., pos+neg, pos, C)`. Requires `pos + neg <= n` on every non-last
    spatial axis and `pos <= n//2 + 1` on the last one (checked by the callers, who know why).
    """
    ndim = x_hat.ndim - 2
    for axis in spatial_axes(ndim)[:-1]:
        n = x_hat.shape[axis]
        head = _slice(x_hat, axis, 0, pos)
        tail = _slice(x_hat, axis, n - neg, n)
        x_hat = jnp.concatenate([head, tail], axis=axis)
    return _slice(x_hat, ndim, 0, pos)


def embed_low_modes(y: jnp.ndarray, full: Sequence[int], pos: int, neg: int) -> jnp.ndarray:
    """Inverse of `crop_low_modes`: place a low-mode block into a zero rfftn spectrum.

    `y` is `(B, pos+neg, .., pos, C)`; `full` is the rfftn spatial shape `(n_1, .., n_d//2+1)`.
    Every mode outside the block is zero.
    """
    ndim = y.ndim - 2
    for axis in spatial_axes(ndim)[:-1]:
        n = full[axis - 1]
        head = _slice(y, axis, 0, pos)
        tail = _slice(y, axis, pos, pos + neg)
        gap = list(y.shape)
        gap[axis] = n - pos - neg
        y = jnp.concatenate([head, jnp.zeros(gap, y.dtype), tail], axis=axis)
    widths = [(0, 0)] * y.ndim
    widths[ndim] = (0, full[-1] - pos)
    return jnp.pad(y, widths)


def resample(u: jnp.ndarray, space: Sequence[int]) -> jnp.ndarray:
    """Band-limited (Fourier) resampling of a periodic field to another grid of the same domain.

    `u`: `(B, *space_in, C)` real; returns `(B, *space, C)` with the same dtype and physical
    amplitude. On each axis the frequencies `|k| <= K` are kept, `K = (min(n_in, n_out) - 1) // 2`,
    and all others are dropped (down-sampling) or zero (up-sampling). The Nyquist mode of an even
    grid is dropped because a real field cannot carry its sine part: with that rule, a field whose
    spectrum lies in `|k| <= K` is reproduced exactly in both directions. Per-axis K may differ;
    the block uses the largest `K` that fits on every axis (isotropic truncation would need a
    mask, and the grids here are cubic).
    """
    ndim = u.ndim - 2
    space = tuple(int(n) for n in space)
    if len(space) != ndim:
        raise ValueError(f"resample: target grid {space} has {len(space)} dims, field has {ndim}")
    if space == tuple(u.shape[1:-1]):
        return u
    k_max = min((min(a, b) - 1) // 2 for a, b in zip(u.shape[1:-1], space, strict=True))
    axes = spatial_axes(ndim)
    # norm="forward" puts the 1/N on the forward transform, so a coefficient is an amplitude
    # independent of the grid size and the inverse needs no rescaling.
    u_hat = jnp.fft.rfftn(u, axes=axes, norm="forward")
    block = crop_low_modes(u_hat, k_max + 1, k_max)
    full = (*space[:-1], space[-1] // 2 + 1)
    v_hat = embed_low_modes(block, full, k_max + 1, k_max)
    return jnp.fft.irfftn(v_hat, s=space, axes=axes, norm="forward").astype(u.dtype)


def _slice(x: jnp.ndarray, axis: int, start: int, stop: int) -> jnp.ndarray:
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]
