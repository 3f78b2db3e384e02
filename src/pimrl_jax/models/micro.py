"""The micro module: one explicit step of a PeRCNN Π-block at the small step δt.

    u_{n+1} = u_n + δt · ( known(u_n) + Π(u_n) )              (forward Euler, the default)

or, with `integrator="rk4"`, one classical Runge–Kutta step of `du/dt = known(u) + Π(u)`
(`solvers.explicit`; for dispersive known terms such as KdV's, where Euler amplifies every mode).

on a batch of fields `u: (B, *space, C)` (1, 2 or 3 periodic spatial axes, one code path), with
`δt` in the data's time unit and the grid spacing `dx` in its length unit. The known terms are
fixed stencils (`solvers.stencils`, shared with the physics oracle), selected by name:

* `"laplacian"`: c_up · sigmoid(C_c) · Lap(u_c), a bounded learned diffusion coefficient per field
  c (trainable scalars `C: (C,)`, initialised U[-1, 1) as in PeRCNN); Lap is the 4th-order stencil.
* `"dispersion"`: the fixed KdV term -∂³u/∂x³ along the first spatial axis (no parameter).

Π is one Π-block per output field c: `n_conv` parallel periodic convolutions (kernel `kernel`,
all C fields in, `hidden` channels out, with bias) multiplied elementwise, then a 1×1 convolution
hidden -> 1 (with bias). The `C · n_conv` parallel convolutions of all fields are evaluated as one
fused `PeriodicConv` with `C · n_conv · hidden` outputs: the same function and parameter count as
separate convolutions, one einsum instead of `C · n_conv`. Weights are Xavier-uniform (computed
per individual convolution) times `init_scale`, biases zero: PeRCNN's small initialisation, so an
untrained Π-block is nearly zero and the step is close to the known physics.

With `saturation` s (one bound per field, data units per time unit), the Π-block's output passes
through s_c · tanh(Π_c / s_c): the identity to within (Π/s)²/3 where |Π| is well below s, and
never above s in magnitude. The known terms are stable at δt (the bound below), so a saturated
step can move a field by at most δt · s_c beyond what they do: a rollout grows at most linearly in
time and stays finite, whatever the learned polynomial does outside the data's range (where an
unbounded Π-block of `n_conv` factors grows like |u|^n_conv and blows up in finite time). Set it
to a few times the data's largest rate of change (`experiments/*.py` say how it was measured).
"""

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from pimrl_jax.models.conv import PeriodicConv
from pimrl_jax.models.pi_step import euler_pi_step_supported, make_euler_pi_step
from solvers import stencils
from solvers.explicit import check_integrator, explicit_step
from solvers.stability import DIFFUSION_BOUNDS, LAPLACIAN_MIN_SYMBOL

KNOWN_TERMS = ("laplacian", "dispersion")
VJPS = ("auto", "custom", "autodiff")


def euler_diffusion_bound(
    dx: float | Sequence[float], c_up: float, integrator: str = "euler"
) -> float:
    """Largest δt for which the integrator on c_up · Lap(u) (4th-order stencil) is stable.

    Forward Euler multiplies the Nyquist mode by 1 - δt · c_up · Σ_a 16/(3 dx_a²); stability
    needs this factor ≥ -1, i.e. δt ≤ 2 / (c_up · Σ_a 16/(3 dx_a²)); RK4 allows 2.785 for 2.
    """
    spacing = dx if isinstance(dx, Sequence) else (dx,)
    rate = sum(-LAPLACIAN_MIN_SYMBOL / float(d) ** 2 for d in spacing)  # 16/3 per axis
    return DIFFUSION_BOUNDS[check_integrator(integrator)] / (float(c_up) * rate)


def scaled_xavier_uniform(scale: float, fan_out: int | None = None):
    """Xavier-uniform times `scale`; `fan_out` overrides the one inferred from a fused shape."""

    def init(key, shape, dtype=jnp.float32):
        receptive = math.prod(shape[:-2])
        fan_in = receptive * shape[-2]
        out = fan_out if fan_out is not None else receptive * shape[-1]
        limit = scale * math.sqrt(6.0 / (fan_in + out))
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


def uniform_range(low: float, high: float):
    """Initialiser drawing U[low, high)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, low, high)

    return init


class MicroStep(nn.Module):
    """One PeRCNN Euler step `(B, *space, C) -> (B, *space, C)`.

    Attributes:
      dx: grid spacing (float, or one per spatial axis), length unit of the domain.
      dt: the micro step δt, time unit of the data.
      known_terms: subset of KNOWN_TERMS, the fixed physics added to Π.
      c_up: upper bound of each learned diffusion coefficient ("laplacian" only); a float for all
        fields or one value per field.
      n_conv, kernel, hidden: parallel convolutions of each Π-block, their kernel size and output
        channels.
      init_scale: multiplies PeRCNN's Xavier-uniform initialisation.
      impl: PeriodicConv implementation ("auto" | "im2col" | "lax").
      integrator: "euler" (the paper's) or "rk4" (`solvers.explicit`); RK4 evaluates the
        right-hand side, Π-block included, four times per step with the same parameters.
      vjp: how the step is differentiated: "custom" the hand-written VJP of
        `pimrl_jax.models.pi_step` (only for kernel 1, Euler, known terms ⊆ {"laplacian"}; it
        recomputes the step's activations in the backward pass, as `remat=True` would);
        "autodiff" JAX's; "auto" (default) the custom one where it applies (training 2.5–4×
        faster on CPU, 1.5–2× on an H200 with 6–14× less device memory; docs/performance.md),
        autodiff otherwise.
      saturation: None (the paper's unbounded Π-block) or the bound s of s · tanh(Π / s), a float
        for all fields or one per field, in data units per time unit.
    """

    dx: float | Sequence[float]
    dt: float
    known_terms: Sequence[str] = ("laplacian",)
    c_up: float | Sequence[float] = 1.0
    n_conv: int = 3
    kernel: int = 1
    hidden: int = 8
    init_scale: float = 0.02
    impl: str = "auto"
    integrator: str = "euler"
    vjp: str = "auto"
    saturation: float | Sequence[float] | None = None

    def uses_custom_vjp(self) -> bool:
        """Whether this configuration steps through the hand-written VJP (see `vjp`)."""
        if self.vjp not in VJPS:
            raise ValueError(f"unknown vjp {self.vjp!r}; valid: {', '.join(VJPS)}")
        supported = euler_pi_step_supported(
            self.kernel, self.integrator, self.known_terms, self.n_conv
        )
        if self.vjp == "custom" and not supported:
            raise ValueError(
                "vjp='custom' needs kernel=1, integrator='euler' and known_terms within "
                f"('laplacian',); got kernel={self.kernel}, integrator={self.integrator!r}, "
                f"known_terms={tuple(self.known_terms)}"
            )
        if self.vjp == "auto":
            return supported
        return self.vjp == "custom"

    @nn.compact
    def __call__(self, u: jnp.ndarray) -> jnp.ndarray:
        ndim = stencils.spatial_ndim(u)
        fields = u.shape[-1]
        unknown = [t for t in self.known_terms if t not in KNOWN_TERMS]
        if unknown:
            raise ValueError(f"unknown known_terms {unknown}; valid: {', '.join(KNOWN_TERMS)}")
        lane = (1,) * (ndim + 1) + (fields,)  # broadcasts a per-field vector over (B, *space)
        check_integrator(self.integrator)

        pi = self._pi(u, fields)
        custom = self.uses_custom_vjp()
        diffusivity = None
        if "laplacian" in self.known_terms:
            c_up = np.broadcast_to(np.asarray(self.c_up, np.float32), (fields,))
            spacing = _spacing(self.dx, ndim)
            bound = euler_diffusion_bound(spacing, float(c_up.max()), self.integrator)
            if self.dt > bound:
                raise ValueError(
                    f"micro step dt={self.dt} is unstable for {self.integrator} with the learned "
                    f"diffusion bounded by c_up={self.c_up}: need dt <= {bound:.4g} "
                    f"(= {DIFFUSION_BOUNDS[self.integrator]:.4g} dx^2 / (c_up * ndim * 16/3) "
                    "for the 4th-order Laplacian)"
                )
            coeff_logit = self.param("C", uniform_range(-1.0, 1.0), (fields,), jnp.float32)
            diffusivity = (jnp.asarray(c_up) * jax.nn.sigmoid(coeff_logit)).reshape(lane)

        if custom:
            if self.is_initializing():
                pi(u)  # creates the Π-block's parameters
            c_up_fields = None
            if diffusivity is not None:
                c_up_fields = tuple(float(c) for c in np.broadcast_to(self.c_up, (fields,)))
            dx = tuple(self.dx) if isinstance(self.dx, Sequence) else float(self.dx)
            bound = None if self.saturation is None else self._bound(fields)
            step = make_euler_pi_step(dx, float(self.dt), c_up_fields, int(self.n_conv), bound)
            return step(self.variables["params"], u)

        def rhs(v):
            out = pi(v)
            if diffusivity is not None:
                out = out + diffusivity * stencils.laplacian(v, self.dx)
            if "dispersion" in self.known_terms:
                out = out - stencils.third_derivative(v, self.dx, axis=0)
            return out

        return explicit_step(rhs, u, self.dt, self.integrator)

    def _bound(self, fields: int) -> tuple[float, ...]:
        """The saturation bound per field (positive floats)."""
        bound = np.broadcast_to(np.asarray(self.saturation, np.float64), (fields,))
        if not np.all(bound > 0):
            raise ValueError(f"saturation={self.saturation}: each bound must be > 0 (or None)")
        return tuple(float(b) for b in bound)

    def _pi(self, u: jnp.ndarray, fields: int):
        """The function Π: (B, *space, C) -> (B, *space, C), every field at once; its parameters
        are created here (shaped by `u`) and shared by every call of the returned function."""
        width = fields * self.n_conv * self.hidden
        ksize_fan_out = self.kernel ** (u.ndim - 2) * self.hidden
        parallel_convs = PeriodicConv(
            width,
            self.kernel,
            kernel_init=scaled_xavier_uniform(self.init_scale, fan_out=ksize_fan_out),
            impl=self.impl,
            name="pi_convs",
        )
        # One 1x1 conv hidden -> 1 per field: fan_in = hidden, fan_out = 1.
        limit = self.init_scale * math.sqrt(6.0 / (self.hidden + 1))
        w_out = self.param("pi_out_kernel", uniform_range(-limit, limit), (fields, self.hidden))
        b_out = self.param("pi_out_bias", nn.initializers.zeros_init(), (fields,))

        def pi(v):
            parallel = parallel_convs(v)
            parallel = parallel.reshape((*v.shape[:-1], fields, self.n_conv, self.hidden))
            product = jnp.prod(parallel, axis=-2)  # (B, *space, C, hidden)
            out = jnp.einsum("...ch,ch->...c", product, w_out)
            out = out + b_out.reshape((1,) * (v.ndim - 1) + (fields,))
            if self.saturation is None:
                return out
            bound = jnp.asarray(self._bound(fields), out.dtype).reshape(
                (1,) * (v.ndim - 1) + (fields,)
            )
            return bound * jnp.tanh(out / bound)

        return pi


def _spacing(dx, ndim: int) -> tuple[float, ...]:
    if isinstance(dx, Sequence):
        return tuple(float(d) for d in dx)
    return (float(dx),) * ndim
