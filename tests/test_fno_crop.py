"""FNO and CROP baselines and the Fourier resampling they share, checked against NumPy loops,
analytic band-limited fields, and symmetries (translation, discretisation invariance)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimrl_jax.models.crop import CROP, instance_norm
from pimrl_jax.models.fno import FNO, SpectralConv
from pimrl_jax.spectral import resample


def _numpy_spectral_conv(x, w, modes):
    """Reference Fourier layer: np.fft plus an explicit loop over every retained mode.

    `x` (B, *space, Cin); `w` complex (2m, .., 2m, m, Cin, Cout) with non-last axes laid out as
    frequencies 0..m-1 then -m..-1. A mode is retained when its signed frequency lies in
    [-m, m) on every non-last axis and in [0, m) on the last one.
    """
    space = x.shape[1:-1]
    ndim = len(space)
    axes = tuple(range(1, ndim + 1))
    x_hat = np.fft.rfftn(x.astype(np.float64), axes=axes)
    out_hat = np.zeros((*x_hat.shape[:-1], w.shape[-1]), np.complex128)
    for index in itertools.product(*(range(s) for s in x_hat.shape[1:-1])):
        w_index = []
        for axis, k in enumerate(index):
            if axis == ndim - 1:
                if k >= modes:
                    break
                w_index.append(k)
            else:
                # fftfreq puts an even grid's Nyquist bin with the negative frequencies
                f = int(np.fft.fftfreq(space[axis], 1 / space[axis])[k])
                if not -modes <= f < modes:
                    break
                w_index.append(f if f >= 0 else 2 * modes + f)
        else:
            for b in range(x.shape[0]):
                out_hat[(b, *index)] = x_hat[(b, *index)] @ w[tuple(w_index)]
    return np.fft.irfftn(out_hat, s=space, axes=axes)


@pytest.mark.parametrize(
    "space, modes, effective",
    [((16,), 5, 5), ((12, 10), 4, 4), ((8, 6), 9, 3), ((6, 8, 4), 2, 2)],
    ids=["1d", "2d", "2d-clipped", "3d"],
)
def test_spectral_conv_matches_numpy_loop(space, modes, effective):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *space, 3)).astype(np.float32)
    layer = SpectralConv(features=4, modes=modes)
    params = layer.init(jax.random.key(0), jnp.asarray(x))
    # Random weights of unit size: the tiny init scale would hide mistakes in the mixing.
    p = params["params"]
    w_re = rng.normal(size=p["w_re"].shape).astype(np.float32)
    w_im = rng.normal(size=p["w_im"].shape).astype(np.float32)
    got = layer.apply({"params": {"w_re": w_re, "w_im": w_im}}, jnp.asarray(x))
    want = _numpy_spectral_conv(x, w_re + 1j * w_im.astype(np.float64), effective)
    assert got.shape == (2, *space, 4) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=2e-5 * np.abs(want).max())


def _band_limited(space, k_max, channels, seed):
    """Random real periodic field on [0, 1)^d whose frequencies satisfy |k| <= k_max per axis,
    evaluated analytically so it can be sampled on any grid: `sample(grid) -> (1, *grid, C)`.
    """
    rng = np.random.default_rng(seed)
    ndim = len(space)
    terms = []
    for k in itertools.product(range(-k_max, k_max + 1), repeat=ndim):
        terms.append((np.array(k), rng.normal(size=channels), rng.uniform(0, 2 * np.pi, channels)))

    def sample(grid):
        coords = np.meshgrid(*(np.arange(n) / n for n in grid), indexing="ij")
        u = np.zeros((*grid, channels))
        for k, amp, phase in terms:
            arg = 2 * np.pi * sum(ki * xi for ki, xi in zip(k, coords, strict=True))
            u += amp * np.cos(arg[..., None] + phase)
        return (u / len(terms) ** 0.5)[None].astype(np.float32)

    return sample


@pytest.mark.parametrize(
    "k_max, grid_a, grid_b",
    [(5, (12,), (33,)), (3, (8, 8), (20, 14)), (2, (6, 5, 7), (9, 10, 8))],
    ids=["1d", "2d", "3d"],
)
def test_resample_is_exact_for_band_limited_fields(k_max, grid_a, grid_b):
    sample = _band_limited(grid_a, k_max, 2, seed=1)
    u_a, u_b = sample(grid_a), sample(grid_b)
    np.testing.assert_allclose(resample(jnp.asarray(u_a), grid_b), u_b, atol=2e-5)  # up
    np.testing.assert_allclose(resample(jnp.asarray(u_b), grid_a), u_a, atol=2e-5)  # down


def test_resample_drops_modes_the_coarse_grid_cannot_hold():
    n = 32
    x = np.arange(n) / n
    low, high = np.cos(2 * np.pi * 3 * x), np.sin(2 * np.pi * 7 * x)
    u = (low + high)[None, :, None].astype(np.float32)
    coarse = np.cos(2 * np.pi * 3 * np.arange(12) / 12)[None, :, None]
    np.testing.assert_allclose(resample(jnp.asarray(u), (12,)), coarse, atol=2e-6)


def test_fno_commutes_with_periodic_translation():
    rng = np.random.default_rng(2)
    u = jnp.asarray(rng.normal(size=(2, 16, 12, 2)).astype(np.float32))
    model = FNO(modes=5, width=8, layers=3)
    params = model.init(jax.random.key(1), u)
    shift = (5, -3)
    out_of_shifted = model.apply(params, jnp.roll(u, shift, axis=(1, 2)))
    shifted_out = jnp.roll(model.apply(params, u), shift, axis=(1, 2))
    np.testing.assert_allclose(out_of_shifted, shifted_out, atol=1e-5)
    # The test must be able to see a position-dependent map: a non-trivial output.
    assert float(jnp.max(jnp.abs(model.apply(params, u) - u))) > 1e-2


@pytest.mark.parametrize("coarse, fine", [(20, 40), (12, 36)], ids=["above-latent", "below-latent"])
def test_crop_output_does_not_depend_on_the_input_grid(coarse, fine):
    """Inputs band-limited to |k| <= 5 reach the same latent (16^2) field from any grid, so the
    outputs are one band-limited increment seen through each grid: the fine output restricted
    to the coarse grid is the coarse output. When both grids hold the latent band (>= 16
    points) no mode is lost and the coarse output also interpolates to the fine one."""
    model = CROP(modes=6, width=8, layers=2, latent=16)
    sample = _band_limited((coarse, coarse), 5, 2, seed=3)
    u_coarse = jnp.asarray(sample((coarse, coarse)))
    u_fine = jnp.asarray(sample((fine, fine)))
    params = model.init(jax.random.key(2), u_coarse)
    out_coarse, out_fine = model.apply(params, u_coarse), model.apply(params, u_fine)
    assert out_fine.shape == u_fine.shape
    np.testing.assert_allclose(resample(out_fine, (coarse, coarse)), out_coarse, atol=5e-5)
    if coarse >= 16:
        np.testing.assert_allclose(resample(out_coarse, (fine, fine)), out_fine, atol=5e-5)


def test_plain_fno_is_not_discretisation_invariant():
    """Control for the CROP test: the same comparison separates a plain FNO's two outputs."""
    model = FNO(modes=6, width=8, layers=2)
    sample = _band_limited((16, 16), 5, 2, seed=3)
    u_coarse, u_fine = jnp.asarray(sample((16, 16))), jnp.asarray(sample((40, 40)))
    params = model.init(jax.random.key(2), u_coarse)
    gap = resample(model.apply(params, u_fine), (16, 16)) - model.apply(params, u_coarse)
    assert float(jnp.max(jnp.abs(gap))) > 1e-3


def test_instance_norm_matches_numpy():
    v = np.random.default_rng(4).normal(3.0, 2.0, size=(2, 5, 6, 3)).astype(np.float32)
    mean = v.mean(axis=(1, 2), keepdims=True)
    want = (v - mean) / np.sqrt(v.var(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(instance_norm(jnp.asarray(v)), want, atol=1e-5)


MODELS = {
    "fno": FNO(modes=3, width=6, layers=2),
    "crop": CROP(modes=3, width=6, layers=2, latent=8),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("space", [(12,), (10, 8), (6, 6, 4)], ids=["1d", "2d", "3d"])
def test_shapes_dtypes_and_real_parameters(name, space):
    model = MODELS[name]
    u = jnp.ones((3, *space, 2), jnp.float32)
    params = model.init(jax.random.key(0), u)
    out = model.apply(params, u)
    assert out.shape == u.shape and out.dtype == jnp.float32
    leaves = jax.tree_util.tree_leaves(params)
    assert leaves and all(leaf.dtype == jnp.float32 for leaf in leaves)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_gets_a_finite_nonzero_gradient(name):
    model = MODELS[name]
    rng = np.random.default_rng(5)
    u = jnp.asarray(rng.normal(size=(2, 12, 10, 2)).astype(np.float32))
    target = jnp.asarray(rng.normal(size=(2, 12, 10, 2)).astype(np.float32))
    params = model.init(jax.random.key(3), u)

    def loss(p):
        return jnp.sqrt(jnp.mean(jnp.square(model.apply(p, u) - target)))

    grads = jax.jit(jax.grad(loss))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert bool(jnp.all(jnp.isfinite(g))), jax.tree_util.keystr(path)
        assert float(jnp.max(jnp.abs(g))) > 0, jax.tree_util.keystr(path)


def test_wrong_rank_is_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(B, \*space, C\)"):
        FNO(modes=2, width=4, layers=1).init(jax.random.key(0), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="3 dims"):
        resample(jnp.ones((1, 8, 8, 1)), (4, 4, 4))
