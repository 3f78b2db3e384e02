"""Fourier neural operator (FNO, Li et al. 2021) as a one-step predictor at the macro step Δt.

    u(t + Δt) ≈ u(t) + Q( L_layers ∘ .. ∘ L_1 ( P u(t) ) ),
    L_l(v) = GELU( K_l v + W_l v )      (no GELU after the last layer),
    K_l v  = irfftn( R_l · rfftn(v) )   on the lowest `modes` frequencies of each axis,

with `P` a pointwise lift to `width` channels, `W_l` a pointwise linear skip, `R_l` a complex
`width × width` matrix per retained Fourier mode, and `Q` a pointwise two-layer projection back
to the field's channels. Fields are in the units of the data; the grid spacing never enters (the
operator acts on grid samples of a periodic field).

*Decision:* the network predicts the increment (residual form). Over one Δt the state changes
little, so with `u + net(u)` the network only has to learn that small change, and a rollout
starts near the identity map instead of near zero.

One code path serves 1D, 2D and 3D: the spatial rank is read from the input `(B, *space, C)`.
With a batch-sharded input, apply it inside `jax.shard_map` over the batch axis: under plain
`jit` XLA all-gathers the whole batch before each FFT (jax-ml/jax#15680).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from pimrl_jax.spectral import crop_low_modes, embed_low_modes, spatial_axes


def effective_modes(modes: int, space: tuple[int, ...]) -> int:
    """Fourier modes per axis that a grid `space` can hold: `min(modes, min(space) // 2)`.

    With `m` modes a non-last axis keeps frequencies `0..m-1` and `-m..-1`, which needs
    `2m <= n`; larger requests are clipped (the smoke grids are smaller than the default 12
    modes) rather than refused. The parameter shapes follow the clipped value.
    """
    if modes < 1:
        raise ValueError(f"modes must be >= 1, got {modes}")
    return min(modes, min(space) // 2)


class SpectralConv(nn.Module):
    """Fourier layer `v -> irfftn(R · rfftn(v))` on the lowest `modes` frequencies per axis.

    Input `(B, *space, C_in)` float32, output `(B, *space, features)` float32. The complex
    weights `R` have shape `(2m, .., 2m, m, C_in, features)` (layout along each non-last axis:
    frequencies `0..m-1` then `-m..-1`) and are stored as two real parameters, `w_re` and
    `w_im`, so optimisers and checkpoints only ever see real leaves.
    """

    features: int
    modes: int

    @nn.compact
    def __call__(self, v: jnp.ndarray) -> jnp.ndarray:
        ndim = v.ndim - 2
        space = tuple(v.shape[1:-1])
        c_in = v.shape[-1]
        m = effective_modes(self.modes, space)
        block = (2 * m,) * (ndim - 1) + (m,)
        # Uniform in [0, 1/(C_in·C_out)) as in the reference FNO: keeps the spectral branch
        # small next to the pointwise skip at initialisation.
        scale = 1.0 / (c_in * self.features)

        def init(key, shape, dtype=jnp.float32):
            return scale * jax.random.uniform(key, shape, dtype)

        w_re = self.param("w_re", init, (*block, c_in, self.features))
        w_im = self.param("w_im", init, (*block, c_in, self.features))
        weights = jax.lax.complex(w_re, w_im)

        axes = spatial_axes(ndim)
        v_hat = jnp.fft.rfftn(v.astype(jnp.float32), axes=axes)
        low = crop_low_modes(v_hat, m, m)
        letters = "xyz"[:ndim]
        mixed = jnp.einsum(f"b{letters}i,{letters}io->b{letters}o", low, weights)
        full = (*space[:-1], space[-1] // 2 + 1)
        out_hat = embed_low_modes(mixed, full, m, m)
        return jnp.fft.irfftn(out_hat, s=space, axes=axes).astype(jnp.float32)


class FNO(nn.Module):
    """Residual FNO: `(B, *space, C) -> (B, *space, C)`, the state one Δt later.

    Attributes: `modes` Fourier modes kept per axis (clipped to the grid, see
    `effective_modes`), `width` hidden channels, `layers` Fourier layers, `proj` hidden channels
    of the projection, default `4 · width` as in CROP (the reference FNO uses 128) so that the
    two baselines differ only in where they compute. The projection runs on every grid point:
    at 24^3, width 12, a 128-wide one made a training step 1.4x slower.
    """

    modes: int
    width: int
    layers: int
    proj: int | None = None

    @nn.compact
    def __call__(self, u: jnp.ndarray) -> jnp.ndarray:
        if u.ndim < 3 or u.ndim > 5:
            raise ValueError(f"FNO expects (B, *space, C) with 1-3 spatial dims, got {u.shape}")
        u = u.astype(jnp.float32)
        v = nn.Dense(self.width, name="lift")(u)
        for layer in range(self.layers):
            spectral = SpectralConv(self.width, self.modes, name=f"spectral_{layer}")(v)
            v = spectral + nn.Dense(self.width, name=f"skip_{layer}")(v)
            if layer < self.layers - 1:
                v = nn.gelu(v, approximate=False)
        proj = self.proj if self.proj is not None else 4 * self.width
        v = nn.gelu(nn.Dense(proj, name="proj_0")(v), approximate=False)
        return u + nn.Dense(u.shape[-1], name="proj_1")(v)
