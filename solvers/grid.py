"""Periodic grids on the cube [0, length)^ndim: coordinates, angular wavenumbers in the `rfftn`
layout, the dealiasing mask, and Fourier down-sampling.

Layout conventions (shared by every solver file):

* physical fields are channels-last, `(*[n]*ndim, C)`; spectral arrays are channels-first,
  `(C, *spectral_shape(n, ndim))`, because XLA's FFT acts on trailing axes and a channels-last
  spectrum would cost a transpose per transform;
* `spectral_shape(n, ndim) = (n,) * (ndim - 1) + (n // 2 + 1,)`: full `fftfreq` axes first, the
  half (`rfftfreq`) axis last;
* wavenumbers are angular, `k = 2 pi m / length` with integer mode `m`, in 1/length units.

Static quantities (wavenumbers, masks) are built with NumPy in float64 so that the solvers can
bake them into a step as constants of whatever precision the step runs in.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def spectral_shape(n: int, ndim: int) -> tuple[int, ...]:
    """Shape of `rfftn` over `ndim` axes of length `n`: `(n,)*(ndim-1) + (n//2+1,)`."""
    return (n,) * (ndim - 1) + (n // 2 + 1,)


def spatial_axes(ndim: int) -> tuple[int, ...]:
    """The trailing `ndim` axes, the ones the FFTs act on in the channels-first layout."""
    return tuple(range(-ndim, 0))


def integer_modes(n: int, ndim: int) -> tuple[np.ndarray, ...]:
    """Integer mode numbers `m` per axis as full `spectral_shape(n, ndim)` float64 arrays.

    For even `n` the Nyquist mode is `-n/2` on the full axes (the `fftfreq` convention) and
    `+n/2` on the half axis (the `rfftfreq` convention).
    """
    axes_1d = [np.fft.fftfreq(n, 1.0 / n)] * (ndim - 1) + [np.fft.rfftfreq(n, 1.0 / n)]
    return tuple(np.meshgrid(*axes_1d, indexing="ij"))


def wavenumbers_np(n: int, length: float, ndim: int, *, zero_nyquist: bool = False):
    """NumPy float64 version of `wavenumbers` (what the solvers use to build constants)."""
    _check_grid(n, length, ndim)
    scale = 2.0 * math.pi / length
    ks = []
    for m in integer_modes(n, ndim):
        k = scale * m
        if zero_nyquist and n % 2 == 0:
            # An odd derivative of the Nyquist mode cos(pi j) is zero on the grid (its sine
            # partner is invisible), so i k must vanish there or real fields turn complex.
            k = np.where(np.abs(m) == n // 2, 0.0, k)
        ks.append(k)
    return tuple(ks)


def wavenumbers(
    n: int, length: float, ndim: int, *, zero_nyquist: bool = False
) -> tuple[jax.Array, ...]:
    """Angular wavenumbers `k_i = 2 pi m_i / length` of the periodic grid `n^ndim`.

    Returns `ndim` arrays, one per axis, each of full shape `spectral_shape(n, ndim)`, matching
    `jnp.fft.rfftn(u, axes=spatial_axes(ndim))` of a channels-first field (the last axis is the
    half axis). `zero_nyquist=True` zeroes the Nyquist entries (use it for odd derivatives).
    Units: 1/length. dtype: JAX's default float (float32 unless x64 is enabled).
    """
    return tuple(jnp.asarray(k) for k in wavenumbers_np(n, length, ndim, zero_nyquist=zero_nyquist))


def coordinates(n: int, length: float, ndim: int) -> tuple[np.ndarray, ...]:
    """Grid point coordinates `x_j = j * length / n`, `j = 0..n-1`, as `ndim` float64 arrays of
    shape `(n,)*ndim` (`ij` indexing); the point `length` itself is the periodic image of 0."""
    _check_grid(n, length, ndim)
    x = np.arange(n) * (length / n)
    return tuple(np.meshgrid(*([x] * ndim), indexing="ij"))


def dealias_cutoff(n: int, fraction: float) -> int:
    """Largest integer mode kept by the `fraction` rule: all `|m| < fraction * n / 2`.

    `fraction = 2/3` (Orszag) removes every alias of a quadratic product from the kept modes,
    `1/2` every alias of a cubic one: with kept modes `|m| <= K`, a product of `p` factors has
    modes up to `pK`, whose aliases land at `|m| >= n - pK`, beyond `K` iff `(p + 1) K < n`.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"dealiasing fraction must lie in (0, 1], got {fraction}")
    return max(0, math.ceil(fraction * n / 2) - 1)


def dealias_mask_np(n: int, ndim: int, fraction: float) -> np.ndarray:
    """Boolean mask of shape `spectral_shape(n, ndim)`: True where every `|m_i| <= cutoff`
    (a cube in mode space, like the classic 2/3 rule applied per axis)."""
    cutoff = dealias_cutoff(n, fraction)
    mask = np.ones(spectral_shape(n, ndim), dtype=bool)
    for m in integer_modes(n, ndim):
        mask &= np.abs(m) <= cutoff
    return mask


def fourier_resample(u: jax.Array, n_out: int) -> jax.Array:
    """Down-sample a periodic field by Fourier truncation, `(*[n_in]*ndim, C)` to
    `(*[n_out]*ndim, C)`.

    Keeps the modes `|m| < n_out / 2` per axis and, for even `n_out`, folds the fine grid's
    `+n_out/2` and `-n_out/2` modes into the coarse Nyquist mode. The result therefore equals
    the field evaluated at the coarse grid points `j * length / n_out` whenever the field is
    band-limited to `|m| <= n_out / 2` per axis (a Nyquist-mode sine vanishes at those points
    and so is dropped); higher modes are discarded, not aliased. `n_out == n_in` returns `u`.
    dtype is preserved; the space dimension is `ndim = u.ndim - 1` (1, 2 or 3).
    """
    ndim = u.ndim - 1
    if ndim < 1:
        raise ValueError(f"expected a field (*space, C), got shape {u.shape}")
    n_in = u.shape[0]
    if any(s != n_in for s in u.shape[:-1]):
        raise ValueError(f"expected a cubic grid (*[n]*ndim, C), got shape {u.shape}")
    if not 1 <= n_out <= n_in:
        raise ValueError(f"n_out must lie in [1, {n_in}] (Fourier truncation only), got {n_out}")
    if n_out == n_in:
        return u
    axes = spatial_axes(ndim)
    u_hat = jnp.fft.rfftn(jnp.moveaxis(u, -1, 0), axes=axes)
    for axis in axes[:-1]:
        u_hat = _truncate_full_axis(u_hat, axis, n_in, n_out)
    u_hat = _truncate_half_axis(u_hat, n_out)
    scale = (n_out / n_in) ** ndim
    out = jnp.fft.irfftn(u_hat * scale, s=(n_out,) * ndim, axes=axes)
    return jnp.moveaxis(out, 0, -1).astype(u.dtype)


def fourier_interpolate(u: jax.Array, n_out: int) -> jax.Array:
    """Up-sample a periodic field by zero-padding its spectrum, `(*[n_in]*ndim, C)` to
    `(*[n_out]*ndim, C)`: the band-limited interpolant, exact at the coarse points.

    Axis by axis (the tensor product of 1D trigonometric interpolants); for even `n_in` the
    coarse Nyquist mode is split equally between the fine `+n_in/2` and `-n_in/2` modes, so the
    result is real and `fourier_resample(fourier_interpolate(u, n), n_in) == u` up to round-off.
    dtype is preserved; `n_out == n_in` returns `u`.
    """
    ndim = u.ndim - 1
    n_in = u.shape[0]
    if ndim < 1 or any(s != n_in for s in u.shape[:-1]):
        raise ValueError(f"expected a cubic grid (*[n]*ndim, C), got shape {u.shape}")
    if n_out < n_in:
        raise ValueError(f"n_out must be >= {n_in} (interpolation only), got {n_out}")
    if n_out == n_in:
        return u
    out = u
    for axis in range(ndim):
        u_hat = jnp.fft.fft(out, axis=axis)

        def take(a, b, u_hat=u_hat, axis=axis):
            return jax.lax.slice_in_dim(u_hat, a, b, axis=axis)

        pad_shape = list(u_hat.shape)
        if n_in % 2:
            pad_shape[axis] = n_out - n_in
            parts = [take(0, (n_in + 1) // 2), jnp.zeros(pad_shape, u_hat.dtype)]
            parts.append(take((n_in + 1) // 2, n_in))
        else:
            half = n_in // 2
            nyquist = 0.5 * take(half, half + 1)
            pad_shape[axis] = n_out - n_in - 1
            parts = [take(0, half), nyquist, jnp.zeros(pad_shape, u_hat.dtype), nyquist]
            parts.append(take(half + 1, n_in))
        padded = jnp.concatenate(parts, axis=axis)
        out = jnp.real(jnp.fft.ifft(padded, axis=axis)) * (n_out / n_in)
    return out.astype(u.dtype)


def _truncate_full_axis(u_hat: jax.Array, axis: int, n_in: int, n_out: int) -> jax.Array:
    """Keep modes `0..ceil(n_out/2)-1` and `-(n_out//2)..-1` of an `fftfreq`-ordered axis."""
    n_pos = (n_out + 1) // 2  # modes 0..n_pos-1 (for even n_out, excludes the Nyquist)
    n_neg = n_out // 2  # modes -n_neg..-1 (for even n_out, starts at the Nyquist)
    pos = jax.lax.slice_in_dim(u_hat, 0, n_pos, axis=axis)
    neg = jax.lax.slice_in_dim(u_hat, n_in - n_neg, n_in, axis=axis)
    if n_out % 2 == 0:
        # The coarse grid sees modes +n_out/2 and -n_out/2 as one: sum them into the Nyquist slot.
        plus = jax.lax.slice_in_dim(u_hat, n_neg, n_neg + 1, axis=axis)
        neg_nyq = jax.lax.slice_in_dim(neg, 0, 1, axis=axis) + plus
        neg = jnp.concatenate([neg_nyq, jax.lax.slice_in_dim(neg, 1, n_neg, axis=axis)], axis)
    return jnp.concatenate([pos, neg], axis=axis)


def _truncate_half_axis(u_hat: jax.Array, n_out: int) -> jax.Array:
    """Keep modes `0..n_out//2` of the last (`rfftfreq`) axis.

    For even `n_out` the kept `+n_out/2` entry is doubled: `irfftn` reads the Hermitian part of
    the Nyquist plane, which then equals the sum of the fine `+n_out/2` and `-n_out/2` modes.
    """
    kept = u_hat[..., : n_out // 2 + 1]
    if n_out % 2 == 0:
        weight = np.ones(n_out // 2 + 1)
        weight[-1] = 2.0
        kept = kept * jnp.asarray(weight, dtype=kept.real.dtype).reshape(
            (1,) * (kept.ndim - 1) + (-1,)
        )
    return kept


def _check_grid(n: int, length: float, ndim: int) -> None:
    if not (isinstance(n, int | np.integer) and n >= 2):
        raise ValueError(f"grid size n must be an integer >= 2, got {n!r}")
    if not (math.isfinite(length) and length > 0):
        raise ValueError(f"domain length must be finite and > 0, got {length!r}")
    if ndim not in (1, 2, 3):
        raise ValueError(f"ndim must be 1, 2 or 3, got {ndim!r}")
