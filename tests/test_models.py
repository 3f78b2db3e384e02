"""PeriodicConv (both implementations and a NumPy loop), the micro step against a NumPy Euler step,
the macro module's pieces, and every registry model's shapes and gradients."""

import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments.common import make_config
from pimrl_jax.models import registry
from pimrl_jax.models.conv import PeriodicConv
from pimrl_jax.models.macro import MacroStep, initial_carry, pixel_shuffle
from pimrl_jax.models.micro import MicroStep

# --------------------------------------------------------------------------- PeriodicConv


def _numpy_periodic_conv(x, kernel, bias, stride):
    """Plain loop: y[b, i] = sum_o x[b, (s·i + o - (K-1)//2) % n] @ kernel[o] + bias."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    ndim = x.ndim - 2
    ksize = kernel.shape[:ndim]
    space = x.shape[1:-1]
    out_space = [-(-n // stride) for n in space]
    y = np.zeros((x.shape[0], *out_space, kernel.shape[-1]))
    for idx in itertools.product(*(range(n) for n in out_space)):
        acc = np.array(bias, np.float64).copy()[None].repeat(x.shape[0], 0)
        for off in itertools.product(*(range(k) for k in ksize)):
            src = tuple(
                (stride * i + o - (k - 1) // 2) % n
                for i, o, k, n in zip(idx, off, ksize, space, strict=True)
            )
            acc = acc + x[(slice(None), *src)] @ kernel[off]
        y[(slice(None), *idx)] = acc
    return y


@pytest.mark.parametrize(
    "space, kernel, stride",
    [((12,), 5, 1), ((12,), 4, 2), ((6, 8), 3, 1), ((8, 6), 3, 2), ((4, 4, 4), 3, 2)],
)
def test_im2col_and_lax_agree_on_values_and_gradients_and_match_a_loop(space, kernel, stride):
    x = jax.random.normal(jax.random.key(0), (2, *space, 3))
    conv = {impl: PeriodicConv(4, kernel, strides=stride, impl=impl) for impl in ("im2col", "lax")}
    params = jax.jit(conv["im2col"].init)(jax.random.key(1), x)
    # Non-zero bias so its gradient path is exercised too.
    params = jax.tree.map(lambda p: p + 0.1, params)
    outs = {impl: jax.jit(c.apply)(params, x) for impl, c in conv.items()}
    expected = _numpy_periodic_conv(x, params["params"]["kernel"], params["params"]["bias"], stride)
    np.testing.assert_allclose(outs["im2col"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs["lax"], expected, rtol=1e-5, atol=1e-5)

    def loss(p, xx, impl):
        return jnp.sum(jnp.sin(conv[impl].apply(p, xx)))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    grads = {impl: grad(params, x, impl) for impl in conv}
    for a, b in zip(jax.tree.leaves(grads["im2col"]), jax.tree.leaves(grads["lax"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_unknown_conv_impl_lists_the_valid_ones():
    with pytest.raises(ValueError, match="auto, im2col, lax"):
        PeriodicConv(2, 3, impl="cudnn").init(jax.random.key(0), jnp.zeros((1, 8, 1)))


# --------------------------------------------------------------------------- micro step


def _numpy_laplacian(u, dx):
    """Independent 4th-order periodic Laplacian of (B, *space, C) in float64."""
    out = np.zeros_like(u)
    for axis in range(1, u.ndim - 1):
        r = lambda s, a=axis: np.roll(u, s, axis=a)  # noqa: E731
        out += (-(r(2) + r(-2)) / 12 + 4 * (r(1) + r(-1)) / 3 - 5 * u / 2) / dx**2
    return out


def _zero_pi(params):
    params = jax.tree.map(lambda p: p, params)
    params["pi_out_kernel"] = jnp.zeros_like(params["pi_out_kernel"])
    params["pi_out_bias"] = jnp.zeros_like(params["pi_out_bias"])
    return params


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_micro_step_with_zero_pi_is_an_euler_step_of_the_heat_equation(ndim):
    n, dx, dt, c_up = 8, 0.5, 0.01, 2.0
    u = jax.random.normal(jax.random.key(2), (2, *(n,) * ndim, 2))
    micro = MicroStep(dx=dx, dt=dt, c_up=c_up, n_conv=2, kernel=3, hidden=4)
    params = _zero_pi(jax.jit(micro.init)(jax.random.key(3), u)["params"])
    got = np.asarray(jax.jit(micro.apply)({"params": params}, u), np.float64)
    diffusivity = c_up / (1 + np.exp(-np.asarray(params["C"], np.float64)))  # (C,)
    assert np.all((diffusivity > 0) & (diffusivity < c_up))
    u64 = np.asarray(u, np.float64)
    expected = u64 + dt * diffusivity * _numpy_laplacian(u64, dx)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_micro_dispersion_term_is_minus_the_third_derivative():
    n, dx, dt = 16, 0.7, 0.05
    u = jax.random.normal(jax.random.key(4), (1, n, 1))
    micro = MicroStep(dx=dx, dt=dt, known_terms=("dispersion",), n_conv=2, kernel=5, hidden=4)
    params = _zero_pi(jax.jit(micro.init)(jax.random.key(5), u)["params"])
    assert "C" not in params  # dispersion is fixed physics
    u64 = np.asarray(u, np.float64)
    r = lambda s: np.roll(u64, -s, axis=1)  # noqa: E731  u(x + s dx)
    d3 = ((r(2) - r(-2)) - 13 / 8 * (r(1) - r(-1)) - (r(3) - r(-3)) / 8) / dx**3
    np.testing.assert_allclose(
        jax.jit(micro.apply)({"params": params}, u), u64 - dt * d3, rtol=1e-5, atol=1e-5
    )


def test_pi_block_is_one_product_of_parallel_convs_per_field():
    # kernel 1: each Pi-block is pointwise, so a NumPy einsum per field is the reference.
    fields, n_conv, hidden = 2, 3, 4
    u = jax.random.normal(jax.random.key(6), (2, 5, 5, fields))
    micro = MicroStep(dx=1.0, dt=0.1, known_terms=(), n_conv=n_conv, kernel=1, hidden=hidden)
    params = jax.jit(micro.init)(jax.random.key(7), u)["params"]
    params = jax.tree.map(lambda p: p + 0.3, params)  # non-zero biases
    w = np.asarray(params["pi_convs"]["kernel"], np.float64)[0, 0]  # (C_in, C·n_conv·hidden)
    b = np.asarray(params["pi_convs"]["bias"], np.float64)
    w = w.reshape(fields, fields, n_conv, hidden)
    b = b.reshape(fields, n_conv, hidden)
    u64 = np.asarray(u, np.float64)
    expected = u64.copy()
    for c in range(fields):
        prod = np.ones(u.shape[:-1] + (hidden,))
        for l in range(n_conv):
            prod = prod * (u64 @ w[:, c, l, :] + b[c, l])
        pi = prod @ np.asarray(params["pi_out_kernel"][c], np.float64)
        expected[..., c] += 0.1 * (pi + float(params["pi_out_bias"][c]))
    np.testing.assert_allclose(
        jax.jit(micro.apply)({"params": params}, u), expected, rtol=1e-5, atol=1e-6
    )


def test_pi_block_starts_small_like_percnn():
    u = jax.random.normal(jax.random.key(8), (1, 16, 16, 2))
    micro = MicroStep(dx=1.0, dt=1.0, known_terms=(), n_conv=3, kernel=1, hidden=8)
    params = jax.jit(micro.init)(jax.random.key(9), u)["params"]
    limit = 0.02 * np.sqrt(6.0 / (2 + 8))  # Xavier-uniform of a 1x1 conv 2 -> 8, times 0.02
    kernel = np.asarray(params["pi_convs"]["kernel"])
    assert np.max(np.abs(kernel)) <= limit and np.max(np.abs(kernel)) > 0.5 * limit
    assert not np.any(params["pi_convs"]["bias"])
    assert np.max(np.abs(np.asarray(jax.jit(micro.apply)({"params": params}, u) - u))) < 1e-4


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 12, 10, 2), dict(c_up=(1e-3, 2e-3))),  # 2D, one bound per field
        ((1, 6, 5, 4, 2), dict(hidden=2)),  # 3D
        ((3, 16, 1), dict(known_terms=(), n_conv=2)),  # 1D, no known term
        ((2, 8, 8, 3), dict(n_conv=1, hidden=4)),
        ((2, 12, 10, 2), dict(saturation=(0.5, 2.0))),  # saturating Pi-block, one bound per field
        ((3, 16, 1), dict(known_terms=(), saturation=0.3)),
    ],
)
def test_custom_vjp_step_equals_autodiff(shape, kwargs):
    """The hand-written VJP (pimrl_jax.models.pi_step) against JAX's autodiff of the same step:
    same params, same outputs, same gradients (params and state) within float32 round-off, also
    through a rollout with remat."""
    from pimrl_jax import cycle

    kwargs = dict(dict(dx=0.1, dt=0.5, c_up=1e-3, n_conv=3, kernel=1, hidden=8), **kwargs)
    kwargs["init_scale"] = 0.5  # a non-trivial Pi-block
    auto, custom = MicroStep(vjp="autodiff", **kwargs), MicroStep(vjp="custom", **kwargs)
    assert custom.uses_custom_vjp() and not auto.uses_custom_vjp()
    u = jax.random.normal(jax.random.key(0), shape)
    params = jax.jit(auto.init)(jax.random.key(1), u)
    same_init = custom.init(jax.random.key(1), u)
    jax.tree.map(np.testing.assert_array_equal, params, same_init)
    params = jax.tree.map(lambda p: p + 0.1, params)  # non-zero biases
    np.testing.assert_allclose(custom.apply(params, u), auto.apply(params, u), atol=1e-6)
    weights = jax.random.normal(jax.random.key(3), (shape[0], 3, *shape[1:]))

    def loss(module, remat):
        def f(p, u):
            frames = cycle.micro_rollout(lambda q, v: module.apply(q, v), p, u, 3, remat)
            return jnp.sum(frames * weights)

        return jax.jit(jax.grad(f, (0, 1)))

    want = loss(auto, False)(params, u)
    for remat in (False, True):
        got = loss(custom, remat)(params, u)
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5 * float(jnp.max(jnp.abs(w))))


@pytest.mark.parametrize("vjp", ["autodiff", "custom"])
def test_saturated_pi_block_is_bounded_and_tanh_of_the_unbounded_one(vjp):
    """s·tanh(Π/s) against NumPy on the unbounded Π-block of the same parameters (known terms
    off, so (u' - u)/δt is Π itself): equal to it where it is small, never above s, and a long
    rollout the unbounded block blows up in stays finite, moving at most δt·s per step."""
    kwargs = dict(dx=0.1, dt=0.01, known_terms=(), n_conv=3, kernel=1, hidden=4, init_scale=1.0)
    bound = np.array([0.5, 2.0], np.float32)
    free = MicroStep(vjp="autodiff", **kwargs)
    sat = MicroStep(vjp=vjp, saturation=tuple(bound.tolist()), **kwargs)
    u = 3.0 * jax.random.normal(jax.random.key(0), (2, 8, 8, 2))
    params = jax.tree.map(lambda p: p + 0.3, free.init(jax.random.key(1), u))
    pi = np.asarray((free.apply(params, u) - u) / kwargs["dt"], np.float64)
    want = bound * np.tanh(pi / bound)
    got = np.asarray((sat.apply(params, u) - u) / kwargs["dt"], np.float64)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * bound.max())
    assert np.abs(pi).max() > 10 * bound.max()  # the test reaches the saturated regime

    def rollout(module, n=300):
        def body(v, _):
            v = module.apply(params, v)
            return v, v

        return np.asarray(jax.jit(lambda v: jax.lax.scan(body, v, None, length=n)[1])(u))

    assert not np.all(np.isfinite(rollout(free)))  # the cubic Π-block blows up
    frames = rollout(sat)
    steps = np.abs(np.diff(np.concatenate([np.asarray(u)[None], frames]), axis=0))
    assert np.all(np.isfinite(frames))
    assert np.all(steps.max(axis=(0, 1, 2, 3)) <= kwargs["dt"] * bound * (1 + 1e-4))


def test_custom_vjp_refuses_what_it_does_not_cover():
    micro = MicroStep(dx=1.0, dt=0.1, kernel=3, vjp="custom")
    with pytest.raises(ValueError, match="vjp='custom' needs kernel=1"):
        micro.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    assert not MicroStep(dx=1.0, dt=0.1, kernel=3).uses_custom_vjp()  # auto: autodiff
    assert not MicroStep(dx=1.0, dt=0.1, integrator="rk4").uses_custom_vjp()
    assert MicroStep(dx=1.0, dt=0.1).uses_custom_vjp()  # auto: custom wherever it applies


def test_unstable_micro_step_names_the_bound():
    micro = MicroStep(dx=0.1, dt=1.0, c_up=1.0)
    with pytest.raises(ValueError, match=r"need dt <= 0\.0018"):
        micro.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


# --------------------------------------------------------------------------- macro step


def test_pixel_shuffle_matches_an_index_loop_in_3d():
    x = np.arange(2 * 2 * 3 * 2 * 8 * 3).reshape(2, 2, 3, 2, 8 * 3).astype(np.float32)
    y = np.asarray(pixel_shuffle(jnp.asarray(x), 2))
    assert y.shape == (2, 4, 6, 4, 3)
    for b, i, j, k, c in itertools.product(*(range(s) for s in y.shape)):
        sub = ((i % 2) * 2 + j % 2) * 2 + k % 2
        assert y[b, i, j, k, c] == x[b, i // 2, j // 2, k // 2, sub * 3 + c]


def test_macro_step_is_residual_and_carries_state():
    u = jax.random.normal(jax.random.key(10), (2, 16, 2))
    macro = MacroStep(features=(4, 8), lstm_features=6, kernel=3)
    params = jax.jit(macro.init)(jax.random.key(11), u, None)["params"]
    carry0 = initial_carry(u, (4, 8), 6)
    assert carry0[0].shape == (2, 4, 6) and not np.any(carry0[1])
    gate_bias = np.asarray(params["lstm"]["gates"]["bias"])
    np.testing.assert_array_equal(gate_bias, np.r_[np.zeros(18), np.ones(6)])
    apply = jax.jit(macro.apply)
    out, carry1 = apply({"params": params}, u, carry0)
    out_none, _ = jax.jit(lambda v, x: macro.apply(v, x, None))({"params": params}, u)
    np.testing.assert_array_equal(out, out_none)  # None means the zero carry
    # Residual form with a small output layer: the first step is close to the identity.
    assert 0 < np.max(np.abs(np.asarray(out - u))) < 0.1
    out2, _ = apply({"params": params}, u, carry1)
    assert np.max(np.abs(np.asarray(out2 - out))) > 0  # the carry changes the next step


def test_macro_refuses_a_grid_the_stride_does_not_divide():
    macro = MacroStep(features=(4, 8), lstm_features=4)
    with pytest.raises(ValueError, match=r"multiples of 4 \(e\.g\. 24, 28\)"):
        macro.init(jax.random.key(0), jnp.zeros((1, 25, 24, 2)), None)


# --------------------------------------------------------------------------- registry

_SPACE = {1: (8,), 2: (8, 8), 3: (4, 4, 4)}


def _tiny_config(name: str, ndim: int) -> ml_collections.ConfigDict:
    data = dict(ndim=ndim, grid=_SPACE[ndim][0], length=2.0, dt=0.01, k=2, N=2)
    model = dict(
        name=name,
        micro=dict(known_terms=("laplacian",), c_up=0.5, n_conv=2, kernel=3, hidden=2),
        macro=dict(features=(2,), lstm_features=4, kernel=3),
        fno=dict(modes=2, width=4, layers=1),
        crop=dict(modes=2, width=4, layers=1, latent=4),
    )
    return make_config("burgers", "smoke", data, model)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_every_model_rolls_out_the_contract_shapes(ndim):
    u0 = jnp.ones((2, *_SPACE[ndim], 2), jnp.float32)
    for name in registry.LEARNED:
        model = registry.build_model(_tiny_config(name, ndim))
        # eval_shape traces without compiling: the shape contract at no compile cost.
        params = jax.eval_shape(model.init, jax.random.key(0), u0)
        out = jax.eval_shape(lambda p, u, m=model: m.rollout(p, u, 3), params, u0)
        assert out.shape == (2, 3, *_SPACE[ndim], 2) and out.dtype == jnp.float32, name
        if model.micro_rollout is None:
            assert name in ("convlstm", "fno", "crop")
        else:
            micro = jax.eval_shape(lambda p, u, m=model: m.micro_rollout(p, u, 5), params, u0)
            assert micro.shape == (2, 5, *_SPACE[ndim], 2), name
    assert registry.build_model(_tiny_config("pimrl_nomp", 1)).params_from == "pimrl"


@pytest.mark.parametrize("name", [m for m in registry.LEARNED if m != "pimrl_nomp"])
def test_gradients_are_finite_and_nonzero_for_every_parameter(name):
    # pimrl_nomp evaluates pimrl's params and never uses the micro ones, so it is not trained.
    model = registry.build_model(_tiny_config(name, 1))
    u0 = jax.random.normal(jax.random.key(1), (2, 8, 2))
    params = jax.jit(model.init)(jax.random.key(2), u0)
    target = jax.random.normal(jax.random.key(3), (2, 4, 8, 2))

    def loss(p):
        return jnp.mean((model.rollout(p, u0, 4) - target) ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), (name, path)
        assert np.any(g != 0), (name, jax.tree_util.keystr(path))


def test_unknown_model_name_lists_the_models():
    with pytest.raises(ValueError, match="pimrl, pimrl_nomp, percnn, convlstm, fno, crop"):
        registry.build_model(_tiny_config("unet", 1))
