"""One learned periodic convolution for 1D/2D/3D channels-last fields, two implementations.

`PeriodicConv` maps `(B, *space, C_in) -> (B, *out, features)` with wrap-around padding, where
`out_a = ceil(space_a / stride)`: the field is padded periodically by `(K-1)//2` cells before and
`K//2` cells after along each axis, then correlated with the kernel with no further padding
(the same arithmetic as PyTorch's `padding_mode="circular"` in the PeRCNN/PhyCRNet code).

Two implementations share the same parameters (`kernel: (*K, C_in, features)`, `bias:
(features,)`) and the same numbers up to float32 round-off:

* `"im2col"`: periodic pad, the `K^ndim` shifted (strided) slices stacked on a new axis, one
  `einsum`. On XLA:CPU the gradient of `lax.conv` inside a `lax.scan` is ~15x slower
  (jax-ml/jax#12868); this form avoids it.
* `"lax"`: periodic pad and `lax.conv_general_dilated` with VALID padding.

`impl="auto"` picks `"im2col"` on CPU and GPU and `"lax"` elsewhere (TPU, not measured). On an
H200 the training gradient of the quick profiles' micro and macro modules was 1.9-3x faster
with `"im2col"` (kdv PeRCNN 34.0 -> 11.4 ms, kdv PIMRL 12.4 -> 5.8, gs3d PeRCNN 9.1 -> 4.9;
docs/performance.md, "GPU check"): these convolutions have few channels, where cuDNN's kernels
are far from their best; larger grids and channel counts were not measured.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

IMPLS = ("auto", "im2col", "lax")
_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def resolve_impl(impl: str) -> str:
    """The concrete implementation for `impl` on the current default backend."""
    if impl not in IMPLS:
        raise ValueError(f"unknown conv impl {impl!r}; valid: {', '.join(IMPLS)}")
    if impl == "auto":
        return "im2col" if jax.default_backend() in ("cpu", "gpu") else "lax"
    return impl


def periodic_pad(x: jnp.ndarray, kernel_size: Sequence[int]) -> jnp.ndarray:
    """Wrap-pad the spatial axes of `x: (B, *space, C)` by (K-1)//2 before and K//2 after."""
    pads = [(0, 0)] + [((k - 1) // 2, k // 2) for k in kernel_size] + [(0, 0)]
    if all(p == (0, 0) for p in pads):
        return x
    return jnp.pad(x, pads, mode="wrap")


def conv_im2col(
    x: jnp.ndarray, kernel: jnp.ndarray, strides: Sequence[int], precision=None
) -> jnp.ndarray:
    """Valid correlation of an already padded `x: (B, *P, C_in)` with `kernel: (*K, C_in, F)`."""
    ksize = kernel.shape[:-2]
    out_shape = [(p - k) // s + 1 for p, k, s in zip(x.shape[1:-1], ksize, strides, strict=True)]
    if all(k == 1 for k in ksize) and all(s == 1 for s in strides):
        return jnp.einsum(
            "...c,cf->...f", x, kernel.reshape(kernel.shape[-2:]), precision=precision
        )
    # Gather the patches one axis at a time (K slices per axis, K·ndim in all instead of K^ndim):
    # fewer ops to compile and differentiate. Each new patch axis goes just before the channels,
    # so the patch axes end up in C order (k_0, k_1, ...), matching kernel.reshape.
    patches = x
    for axis, (k, n, s) in enumerate(zip(ksize, out_shape, strides, strict=True)):
        patches = jnp.stack(
            [lax.slice_in_dim(patches, o, o + (n - 1) * s + 1, s, axis=1 + axis) for o in range(k)],
            axis=-2,
        )
    patches = patches.reshape((*patches.shape[: 1 + len(ksize)], -1))  # (B, *out, K^ndim · C_in)
    flat_kernel = kernel.reshape((-1, kernel.shape[-1]))
    return jnp.einsum("...k,kf->...f", patches, flat_kernel, precision=precision)


def conv_lax(
    x: jnp.ndarray, kernel: jnp.ndarray, strides: Sequence[int], precision=None
) -> jnp.ndarray:
    """The same valid correlation as `conv_im2col`, through `lax.conv_general_dilated`."""
    spatial = _SPATIAL[x.ndim - 2]
    numbers = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    return lax.conv_general_dilated(
        x, kernel, tuple(strides), "VALID", dimension_numbers=numbers, precision=precision
    )


class PeriodicConv(nn.Module):
    """Periodic (wrap-padded) n-dimensional convolution, channels-last.

    Attributes:
      features: output channels F.
      kernel_size: K (same on every axis) or one K per spatial axis.
      strides: stride s (same on every axis) or one per axis; output size ceil(n / s).
      use_bias: add a learned bias of shape (F,).
      kernel_init, bias_init: initialisers of `kernel: (*K, C_in, F)` and `bias: (F,)`.
      impl: "auto" | "im2col" | "lax" (see the module docstring); parameters are identical.
      precision: matmul/conv precision (None = backend default).
    """

    features: int
    kernel_size: int | Sequence[int] = 3
    strides: int | Sequence[int] = 1
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    impl: str = "auto"
    precision: lax.Precision | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        ndim = x.ndim - 2
        if ndim not in _SPATIAL:
            raise ValueError(
                f"PeriodicConv expects (B, *space, C) with 1-3 spatial axes, got {x.shape}"
            )
        ksize = _per_axis(self.kernel_size, ndim, "kernel_size")
        strides = _per_axis(self.strides, ndim, "strides")
        kernel = self.param("kernel", self.kernel_init, (*ksize, x.shape[-1], self.features))
        padded = periodic_pad(x, ksize)
        if resolve_impl(self.impl) == "im2col":
            y = conv_im2col(padded, kernel, strides, self.precision)
        else:
            y = conv_lax(padded, kernel, strides, self.precision)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,))
            y = y + bias.reshape((1,) * (ndim + 1) + (self.features,))
        return y


def _per_axis(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * ndim
    value = tuple(int(v) for v in value)
    if len(value) != ndim:
        raise ValueError(f"{name}={value} has {len(value)} entries for {ndim} spatial axes")
    return value
