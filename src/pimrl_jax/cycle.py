"""Rollouts of the micro module, the macro module and the PIMRL cross-scale cycle.

Pure functions of explicit parameters, built on `lax.scan`, jit-compatible with the step counts
static. The step functions follow one protocol:

* `micro_apply(micro_params, u) -> u_next`                one δt step, `u: (B, *space, C)`;
* `macro_apply(macro_params, s, carry) -> (u_next, carry)` one Δt step from input state `s`;
  `carry=None` must be accepted and means "the zero carry" (used here only through
  `jax.eval_shape` to learn the carry's shapes, never evaluated).

**Time-axis convention.** Every rollout returns `(B, T, *space, C)` holding the *predicted* states
u_1..u_T after the initial state; u_0 itself is never in the output. Frame t of a micro rollout
sits at time t·δt, frame t of every other rollout at time t·Δt (Δt = k·δt).

**The PIMRL schedule** (method.md §3; our formalization). A cycle starts from the macro state
û_{j0} (û_0 = u_0) and makes N ≥ 2 macro steps F:

* the micro module rolls k steps of δt from û_{j0}: the message m = M^k(û_{j0}) ≈ u_{j0+1};
* step 1 is autonomous: û_{j0+1} = F(û_{j0});
* step 2 is the correction: û_{j0+2} = F(m) — the message replaces û_{j0+1} as the input (the
  paper's û_{t+2kδt} = F_macro(u^micro_{t+kδt}));
* steps 3..N are autonomous: û_{j+1} = F(û_j).

The ConvLSTM carry threads through every macro step and across cycles; every output frame comes
from the macro module. With `message_passing=False` the micro module is not run and the cycle is
exactly `macro_rollout`. Output: û_1..û_{num_cycles·N}.

**Rematerialisation** (`remat=True`): each micro and macro step is wrapped in `jax.checkpoint`,
so the backward pass stores only the states between steps and recomputes each step's internals
(about one extra forward pass; activation memory O(steps · state) instead of
O(steps · activations)).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Params = Any
MicroApply = Callable[[Params, jnp.ndarray], jnp.ndarray]
MacroApply = Callable[[Params, jnp.ndarray, Any], tuple[jnp.ndarray, Any]]


def _time_major_to_batch_major(frames: jnp.ndarray) -> jnp.ndarray:
    """(T, B, *space, C) -> (B, T, *space, C)."""
    return jnp.moveaxis(frames, 0, 1)


def _maybe_remat(fn: Callable, remat: bool) -> Callable:
    return jax.checkpoint(fn) if remat else fn


def zero_carry(macro_apply: MacroApply, macro_params: Params, u0: jnp.ndarray) -> Any:
    """The zero macro carry for `u0`, with shapes from `macro_apply(params, u0, None)` (not run)."""
    _, template = jax.eval_shape(lambda: macro_apply(macro_params, u0, None))
    return jax.tree.map(lambda t: jnp.zeros(t.shape, t.dtype), template)


def micro_states(
    micro_apply: MicroApply,
    micro_params: Params,
    u0: jnp.ndarray,
    n_steps: int,
    remat: bool = False,
) -> jnp.ndarray:
    """The state after `n_steps` micro steps from `u0` (nothing stored in between): M^n(u0)."""
    step = _maybe_remat(lambda u, _: (micro_apply(micro_params, u), None), remat)
    u, _ = lax.scan(step, u0, None, length=n_steps)
    return u


def micro_rollout(
    micro_apply: MicroApply,
    micro_params: Params,
    u0: jnp.ndarray,
    n_steps: int,
    remat: bool = False,
) -> jnp.ndarray:
    """Micro states u_1..u_n at spacing δt from `u0: (B, *space, C)`: `(B, n_steps, *space, C)`.

    Also serves any stateless one-step model (FNO, CROP) as an autoregressive rollout.
    """

    def step(u, _):
        u = micro_apply(micro_params, u)
        return u, u

    _, frames = lax.scan(_maybe_remat(step, remat), u0, None, length=n_steps)
    return _time_major_to_batch_major(frames)


def strided_micro_rollout(
    micro_apply: MicroApply,
    micro_params: Params,
    u0: jnp.ndarray,
    n_steps: int,
    k: int,
    remat: bool = False,
) -> jnp.ndarray:
    """PeRCNN at macro spacing: k micro steps per Δt, every k-th state kept.

    Returns `(B, n_steps, *space, C)`, frame t at time (t+1)·k·δt.
    """

    def macro_step(u, _):
        u = micro_states(micro_apply, micro_params, u, k, remat)
        return u, u

    _, frames = lax.scan(macro_step, u0, None, length=n_steps)
    return _time_major_to_batch_major(frames)


def macro_rollout(
    macro_apply: MacroApply,
    macro_params: Params,
    u0: jnp.ndarray,
    n_steps: int,
    remat: bool = False,
    carry0: Any = None,
) -> jnp.ndarray:
    """Autonomous macro states û_1..û_n at spacing Δt: `(B, n_steps, *space, C)`.

    `carry0` is the initial macro carry (default: zeros, see `zero_carry`).
    """
    if carry0 is None:
        carry0 = zero_carry(macro_apply, macro_params, u0)
    one_step = _maybe_remat(lambda s, carry: macro_apply(macro_params, s, carry), remat)

    def step(state, _):
        u, carry = one_step(*state)
        return (u, carry), u

    _, frames = lax.scan(step, (u0, carry0), None, length=n_steps)
    return _time_major_to_batch_major(frames)


def pimrl_rollout(
    micro_apply: MicroApply,
    macro_apply: MacroApply,
    params: Params,
    u0: jnp.ndarray,
    num_cycles: int,
    k: int,
    N: int,
    message_passing: bool = True,
    remat: bool = False,
    carry0: Any = None,
) -> jnp.ndarray:
    """PIMRL cycles (schedule in the module docstring): `(B, num_cycles · N, *space, C)`.

    `params = {"micro": ..., "macro": ...}`; `num_cycles`, `k`, `N`, `message_passing` and
    `remat` are static. Frame j (0-based) is û_{j+1}, at time (j+1)·Δt.
    """
    if N < 2:
        raise ValueError(
            f"a PIMRL cycle needs N >= 2 macro steps (one autonomous, one corrected), got N={N}"
        )
    if k < 1 or num_cycles < 0:
        raise ValueError(f"need k >= 1 and num_cycles >= 0, got k={k}, num_cycles={num_cycles}")
    if not message_passing:
        return macro_rollout(macro_apply, params["macro"], u0, num_cycles * N, remat, carry0)
    if carry0 is None:
        carry0 = zero_carry(macro_apply, params["macro"], u0)
    macro_step = _maybe_remat(lambda s, carry: macro_apply(params["macro"], s, carry), remat)

    def cycle(state, _):
        u_start, carry = state
        message = micro_states(micro_apply, params["micro"], u_start, k, remat)

        def step(state, index):
            u, carry = state
            # One macro step in one scan body (compiled once): step index 1 is the correction.
            s = jnp.where(index == 1, message, u)
            u, carry = macro_step(s, carry)
            return (u, carry), u

        (u_end, carry), frames = lax.scan(step, (u_start, carry), jnp.arange(N))
        return (u_end, carry), frames  # frames: (N, B, *space, C)

    _, frames = lax.scan(cycle, (u0, carry0), None, length=num_cycles)
    # (num_cycles, N, B, ...) -> (num_cycles · N, B, ...) in time order.
    frames = frames.reshape((num_cycles * N, *frames.shape[2:]))
    return _time_major_to_batch_major(frames)
