"""CROP (Gao, Xu, Deng, Liu, ICLR 2025): an FNO that computes at one fixed latent resolution.

    u(t + Δt) ≈ u(t) + R_{latent→n}( Q( L_layers ∘ .. ∘ L_1 ( P R_{n→latent} u(t) ) ) ),
    L_l(v) = GELU( MLP_l( IN( K_l IN(v) ) ) + W_l v )      (no GELU after the last layer),

where `R_{a→b}` is band-limited Fourier resampling between periodic grids of `a^ndim` and
`b^ndim` points (`pimrl_jax.spectral.resample`: keep or zero-pad the lowest modes, amplitude
preserved), `P` a pointwise lift to `width` channels, `K_l` the FNO spectral convolution, `IN`
instance normalisation (per sample and channel, over space, no affine part), `MLP_l` a pointwise
two-layer GELU network, `W_l` a pointwise linear skip, and `Q` a pointwise two-layer projection to
the field's channels (hidden `4·width`, as in CROP).

The point of CROP: every learned map and every nonlinearity acts on the `latent^ndim` grid, so the
output does not depend on how finely the input was sampled as long as the input is band-limited
below both grids' Nyquist frequencies; the pointwise nonlinearities of a plain FNO alias
differently on different grids. *Decision:* the projection `Q` runs at the latent resolution,
before the map back, so the predicted increment is itself band-limited; the residual `u + ·` is
added on the input grid, as for the FNO (see `fno.py`).

Input and output `(B, *space, C)` float32, 1D/2D/3D from the input rank.
"""

import flax.linen as nn
import jax.numpy as jnp

from pimrl_jax.models.fno import SpectralConv
from pimrl_jax.spectral import resample, spatial_axes


def instance_norm(v: jnp.ndarray, eps: float = 1e-5) -> jnp.ndarray:
    """Normalise `(B, *space, C)` to zero mean, unit variance over space, per sample and channel."""
    axes = spatial_axes(v.ndim - 2)
    mean = jnp.mean(v, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(v - mean), axis=axes, keepdims=True)
    return (v - mean) * jnp.reciprocal(jnp.sqrt(var + eps))


class CROP(nn.Module):
    """Residual CROP operator: `(B, *space, C) -> (B, *space, C)`, the state one Δt later.

    Attributes: `modes` Fourier modes per axis at the latent grid (clipped to `latent // 2`),
    `width` hidden channels, `layers` Fourier layers, `latent` points per axis of the latent grid.
    """

    modes: int
    width: int
    layers: int
    latent: int

    @nn.compact
    def __call__(self, u: jnp.ndarray) -> jnp.ndarray:
        if u.ndim < 3 or u.ndim > 5:
            raise ValueError(f"CROP expects (B, *space, C) with 1-3 spatial dims, got {u.shape}")
        if self.latent < 2:
            raise ValueError(f"CROP latent grid must have >= 2 points per axis, got {self.latent}")
        u = u.astype(jnp.float32)
        space = tuple(u.shape[1:-1])
        v = resample(u, (self.latent,) * len(space))
        v = nn.Dense(self.width, name="lift")(v)
        for layer in range(self.layers):
            spectral = SpectralConv(self.width, self.modes, name=f"spectral_{layer}")
            h = instance_norm(spectral(instance_norm(v)))
            h = nn.gelu(nn.Dense(self.width, name=f"mlp_{layer}_0")(h), approximate=False)
            h = nn.Dense(self.width, name=f"mlp_{layer}_1")(h)
            v = h + nn.Dense(self.width, name=f"skip_{layer}")(v)
            if layer < self.layers - 1:
                v = nn.gelu(v, approximate=False)
        v = nn.gelu(nn.Dense(4 * self.width, name="proj_0")(v), approximate=False)
        v = nn.Dense(u.shape[-1], name="proj_1")(v)
        return u + resample(v, space)
