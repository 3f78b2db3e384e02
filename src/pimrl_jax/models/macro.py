"""The macro module: one step Δt = k·δt of a residual ConvLSTM autoencoder.

    z = Enc(s);   (h, c) = ConvLSTM(z, (h, c));   û_next = s + Dec(h)

on a batch of fields `s: (B, *space, C)` (1, 2 or 3 periodic spatial axes, one code path).

* `Enc`: one periodic convolution of stride 2 per entry of `features` (GELU after each), so the
  latent grid is `space / 2^L`, L = len(features). Every spatial size must be divisible by 2^L;
  other sizes are refused with the list of sizes that work (wrap-padding a periodic field to a
  larger size would break its periodicity).
* `ConvLSTM`: an n-dimensional LSTM cell whose gates are periodic convolutions of [z, h]
  (PeriodicConv, not `nn.ConvLSTMCell`, which zero-pads and uses `lax.conv`). The input-to-hidden
  and hidden-to-hidden convolutions of the usual formulation are fused into one convolution of the
  concatenation (same function). Output-gate bias starts at 1, the others at 0 (PhyCRNet).
  Carry `(h, c)`, each `(B, *space / 2^L, lstm_features)`, zero at the start (`initial_carry`).
* `Dec`: per level, a periodic convolution to `f · 2^ndim` channels followed by an n-dimensional
  pixel shuffle (×2 per axis) and GELU, back to the full grid; then a periodic convolution to C
  channels, initialised small so an untrained step is close to the identity.
* The residual is in physical space: the step learns the increment over Δt.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from pimrl_jax.models.conv import PeriodicConv

Carry = tuple[jnp.ndarray, jnp.ndarray]


def total_stride(features: Sequence[int]) -> int:
    return 2 ** len(features)


def check_grid(space: Sequence[int], features: Sequence[int]) -> None:
    """Raise a ValueError naming the valid sizes if the encoder cannot halve `space` L times."""
    stride = total_stride(features)
    bad = [n for n in space if n % stride]
    if bad:
        near = sorted(
            {(n // stride) * stride for n in bad} | {(n // stride + 1) * stride for n in bad}
        )
        near = [n for n in near if n > 0]
        raise ValueError(
            f"grid {tuple(space)} is not divisible by the macro encoder's total stride {stride} "
            f"({len(features)} levels of stride 2, macro.features={tuple(features)}); use spatial "
            f"sizes that are multiples of {stride} (e.g. {', '.join(map(str, near))}) or fewer "
            f"macro.features levels"
        )


def initial_carry(u: jnp.ndarray, features: Sequence[int], lstm_features: int) -> Carry:
    """Zero ConvLSTM carry `(h, c)` for a batch shaped like `u: (B, *space, C)`."""
    check_grid(u.shape[1:-1], features)
    stride = total_stride(features)
    shape = (u.shape[0], *(n // stride for n in u.shape[1:-1]), lstm_features)
    return jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32)


def pixel_shuffle(x: jnp.ndarray, factor: int) -> jnp.ndarray:
    """Depth to space: `(B, *n, C · factor^ndim) -> (B, *(n · factor), C)`, any ndim."""
    ndim = x.ndim - 2
    batch, space, channels = x.shape[0], x.shape[1:-1], x.shape[-1] // factor**ndim
    x = x.reshape((batch, *space, *(factor,) * ndim, channels))
    # Interleave each grid axis with its factor axis: (B, n0, f, n1, f, ..., C).
    order = [0]
    for a in range(ndim):
        order += [1 + a, 1 + ndim + a]
    x = x.transpose((*order, x.ndim - 1))
    return x.reshape((batch, *(n * factor for n in space), channels))


def _lstm_bias_init(key, shape, dtype=jnp.float32):
    """Gate biases in the order (i, f, g, o): output gate 1, others 0."""
    hidden = shape[0] // 4
    return jnp.concatenate([jnp.zeros((3 * hidden,), dtype), jnp.ones((hidden,), dtype)])


class ConvLSTMCell(nn.Module):
    """Periodic n-dimensional ConvLSTM: `(x: (B, *n, F_in), (h, c)) -> (h', c')`.

    h and c are `(B, *n, features)`; gates (i, f, g, o) from one periodic conv of [x, h].
    """

    features: int
    kernel: int = 3
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jnp.ndarray, carry: Carry) -> Carry:
        h, c = carry
        gates = PeriodicConv(
            4 * self.features, self.kernel, bias_init=_lstm_bias_init, impl=self.impl, name="gates"
        )(jnp.concatenate([x, h], axis=-1))
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
        h = nn.sigmoid(o) * jnp.tanh(c)
        return h, c


class MacroStep(nn.Module):
    """One residual ConvLSTM-autoencoder step: `(s, carry) -> (û_next, carry')`.

    `s: (B, *space, C)`; `carry = (h, c)` or None for the zero carry (see `initial_carry`).

    Attributes:
      features: encoder channels per level (each level halves every spatial axis).
      lstm_features: ConvLSTM hidden channels.
      kernel: kernel size of every convolution.
      impl: PeriodicConv implementation ("auto" | "im2col" | "lax").
    """

    features: Sequence[int] = (8, 32)
    lstm_features: int = 32
    kernel: int = 3
    impl: str = "auto"

    @nn.compact
    def __call__(self, s: jnp.ndarray, carry: Carry | None = None) -> tuple[jnp.ndarray, Carry]:
        ndim = s.ndim - 2
        if carry is None:
            carry = initial_carry(s, self.features, self.lstm_features)
        check_grid(s.shape[1:-1], self.features)
        z = s
        for level, f in enumerate(self.features):
            z = PeriodicConv(f, self.kernel, strides=2, impl=self.impl, name=f"enc{level}")(z)
            z = nn.gelu(z)
        carry = ConvLSTMCell(self.lstm_features, self.kernel, self.impl, name="lstm")(z, carry)
        y = carry[0]
        up_features = list(self.features[:-1])[::-1] + [self.features[0]]
        for level, f in enumerate(up_features):
            y = PeriodicConv(f * 2**ndim, self.kernel, impl=self.impl, name=f"dec{level}")(y)
            y = nn.gelu(pixel_shuffle(y, 2))
        increment = PeriodicConv(
            s.shape[-1],
            self.kernel,
            kernel_init=nn.initializers.variance_scaling(0.01, "fan_in", "truncated_normal"),
            impl=self.impl,
            name="out",
        )(y)
        return s + increment, carry
