"""A hand-written VJP of the micro module's Euler step with 1×1 Π-block convolutions.

    u' = u + δt · ( Π(u) + d ⊙ Lap(u) ),   Π_c(u) = b_c + Σ_h w_ch ∏_i (Σ_k K_k,cih u_k + β_cih)

(`MicroStep` with `kernel=1`, `integrator="euler"`, known terms ⊆ {"laplacian"}; d = c_up ⊙
sigmoid(C); with a saturation bound s, Π_c is replaced by s_c · tanh(Π_c / s_c)). Same function
and parameters as `MicroStep`'s autodiff path, up to float32 round-off.

Why (docs/performance.md, "PeRCNN training iteration"): on XLA:CPU, autodiff's backward of this
step inside a long `lax.scan` costs 10–20× its forward. The profile (`jax.profiler`, per-thunk
times) showed where: the transpose of `jnp.prod` and of the per-field slices (pads + an add of
three pad outputs), the same large cotangent fusion recomputed once per consumer and again
transposed for each dot, and YNNPACK reduction fusions (the Π output's sum over the hidden
channels, the diffusion coefficient's gradient through the Laplacian's rolls) running at
~1–3 ms per step for a 10⁴-point field. This VJP:

* works in a planar layout `(C, M)` (M = batch × space points, contiguous), so every reduction
  over space is a row reduction and every dot has its contraction where XLA wants it (no
  transposes of the `(C·n_conv·hidden, M)` activations);
* saves only `(params, u)` (the rollout stores the states anyway) and recomputes the
  activations in the backward pass: the memory of `remat=True`, without a second trace;
* writes the sums over hidden channels as unrolled adds (loop fusions, no reductions);
* uses the Laplacian's self-adjointness (a symmetric periodic stencil): the state cotangent
  needs `Lap(g)`, and the diffusion coefficient's gradient Σ g ⊙ Lap(u) = Σ Lap(g) ⊙ u reuses it;
* materialises each large cotangent once (`lax.optimization_barrier`), so XLA does not
  duplicate its fusion into every consumer.

`euler_pi_step_supported(...)` says whether a `MicroStep` configuration can use it; `MicroStep`
picks it by its `vjp` attribute ("auto": this VJP on CPU where supported, autodiff elsewhere,
because it was measured on CPU only).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from solvers import stencils


def euler_pi_step_supported(
    kernel: int, integrator: str, known_terms: Sequence[str], n_conv: int
) -> bool:
    """Whether the hand-written VJP covers this `MicroStep` configuration."""
    return (
        int(kernel) == 1
        and integrator == "euler"
        and set(known_terms) <= {"laplacian"}
        and int(n_conv) >= 1
    )


def _laplacian_planar(xt: jnp.ndarray, dx) -> jnp.ndarray:
    """4th-order Laplacian of planar fields `xt: (C, B, *space)` (each channel separately)."""
    c, b = xt.shape[0], xt.shape[1]
    flat = xt.reshape((c * b, *xt.shape[2:], 1))
    return stencils.laplacian(flat, dx).reshape(xt.shape)


def _product(factors):
    out = factors[0]
    for f in factors[1:]:
        out = out * f
    return out


@functools.lru_cache(maxsize=64)
def make_euler_pi_step(
    dx: float | tuple[float, ...],
    dt: float,
    c_up: tuple[float, ...] | None,
    n_conv: int,
    saturation: tuple[float, ...] | None = None,
):
    """step(params, u) -> u' with a custom VJP; `c_up` None means no Laplacian term,
    `saturation` None an unbounded Π-block (else one bound per field).

    `params` is `MicroStep`'s tree: {"pi_convs": {"kernel": (1, …, 1, C, C·n_conv·H),
    "bias": (C·n_conv·H,)}, "pi_out_kernel": (C, H), "pi_out_bias": (C,), "C": (C,)}.
    """

    def activations(p, ut):
        """The parallel conv outputs, one `(C, H, M)` array per conv i."""
        fields = ut.shape[0]
        points = ut[0].size
        kernel = p["pi_convs"]["kernel"].reshape(fields, -1)  # (C_in, F)
        a = jnp.dot(kernel.T, ut.reshape(fields, points)) + p["pi_convs"]["bias"][:, None]
        a = a.reshape(fields, n_conv, -1, points)
        return [a[:, i] for i in range(n_conv)]

    def diffusivity(p):
        return jnp.asarray(c_up, jnp.float32) * jax.nn.sigmoid(p["C"])

    def pi_of(p, product):
        """Π before saturation, `(C, M)`, from the conv product `(C, H, M)`."""
        w = p["pi_out_kernel"]
        return p["pi_out_bias"][:, None] + sum(
            product[:, h] * w[:, h, None] for h in range(w.shape[1])
        )

    def saturate(pi):
        """(s · tanh(Π / s), tanh(Π / s)) per field; (Π, None) without saturation."""
        if saturation is None:
            return pi, None
        bound = jnp.asarray(saturation, jnp.float32)[:, None]
        t = jnp.tanh(pi / bound)
        return bound * t, t

    def step(p, u):
        ut = jnp.moveaxis(u, -1, 0)  # (C, B, *space)
        fields = ut.shape[0]
        pi, _ = saturate(pi_of(p, _product(activations(p, ut))))  # (C, M)
        rhs = pi.reshape(ut.shape)
        if c_up is not None:
            lane = (fields,) + (1,) * (ut.ndim - 1)
            rhs = rhs + diffusivity(p).reshape(lane) * _laplacian_planar(ut, dx)
        return jnp.moveaxis(ut + dt * rhs, 0, -1)

    fn = jax.custom_vjp(step)

    def fwd(p, u):
        return step(p, u), (p, u)

    def bwd(res, g):
        p, u = res
        ut, gt = jnp.moveaxis(u, -1, 0), jnp.moveaxis(g, -1, 0)
        fields, points = ut.shape[0], ut[0].size
        u_rows = u.reshape(points, fields)  # channels-last: (M, C_in), the dot's natural rhs
        a = activations(p, ut)
        hidden = a[0].shape[1]
        w = p["pi_out_kernel"]
        g_rhs = (dt * gt).reshape(fields, points)  # cotangent of the right-hand side
        product = _product(a)
        _, t = saturate(pi_of(p, product))
        g_pi = g_rhs if t is None else g_rhs * (1.0 - t * t)  # of Π before saturation
        d_w_out = jnp.sum(g_pi[:, None] * product, axis=-1)
        d_b_out = jnp.sum(g_pi, axis=-1)
        g_product = g_pi[:, None] * w[:, :, None]  # (C, H, M)
        kernel = p["pi_convs"]["kernel"].reshape(fields, fields, n_conv, hidden)
        g_u = gt.reshape(fields, points)
        d_kernel, d_bias = [], []
        for i in range(n_conv):
            others = [a[j] for j in range(n_conv) if j != i]
            g_a = g_product * _product(others) if others else g_product
            g_a = lax.optimization_barrier(g_a.reshape(fields * hidden, points))
            d_kernel.append(jnp.dot(g_a, u_rows).reshape(fields, hidden, fields))
            d_bias.append(jnp.sum(g_a, axis=-1).reshape(fields, hidden))
            g_u = g_u + jnp.dot(kernel[:, :, i].reshape(fields, fields * hidden), g_a)
        # (C_out, i, H, C_in) -> (C_in, C_out · i · H), the fused kernel's layout.
        d_kernel = jnp.moveaxis(jnp.stack(d_kernel, axis=1), -1, 0)
        grads = {
            "pi_convs": {
                "kernel": d_kernel.reshape(p["pi_convs"]["kernel"].shape),
                "bias": jnp.stack(d_bias, axis=1).reshape(-1),
            },
            "pi_out_kernel": d_w_out,
            "pi_out_bias": d_b_out,
        }
        if c_up is not None:
            # Lap is self-adjoint: Σ g·Lap(u) = Σ Lap(g)·u, and Lap(g) is needed for g_u anyway.
            lap_g = lax.optimization_barrier(_laplacian_planar(g_rhs.reshape(ut.shape), dx))
            lap_g = lap_g.reshape(fields, points)
            sig = jax.nn.sigmoid(p["C"])
            d_diff = jnp.sum(lap_g * ut.reshape(fields, points), axis=-1)
            grads["C"] = d_diff * jnp.asarray(c_up, jnp.float32) * sig * (1.0 - sig)
            g_u = g_u + diffusivity(p)[:, None] * lap_g
        return grads, jnp.moveaxis(g_u.reshape(ut.shape), 0, -1)

    fn.defvjp(fwd, bwd)
    return fn
