"""Ground-truth solvers: analytic KdV solitons, ETDRK4's order, KdV invariants, agreement with
exponax and with a diffrax reference of the same semi-discrete system, Fourier resampling, initial
conditions and errors. Numerical tests run in float64 via `jax.enable_x64(True)` (scoped)."""

import math

import diffrax
import exponax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from solvers.grid import dealias_mask_np, fourier_resample, wavenumbers
from solvers.initial import sample_initial
from solvers.systems import SYSTEMS, get_system, make_stepper


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _rollout(step, u0, n_steps):
    """`n_steps` applications of `step`, compiled once."""
    return jax.jit(lambda u: jax.lax.fori_loop(0, n_steps, lambda _, v: step(v), u))(u0)


def _grid(n, length):
    return np.arange(n) * (length / n)


def _soliton(x, t, c, x0):
    """One soliton of u_t + u u_x + u_xxx = 0: u = 3c sech^2(sqrt(c) (x - c t - x0) / 2).

    (From w = (c/2) sech^2(sqrt(c)/2 (x - ct)) of w_t + 6 w w_x + w_xxx = 0 with u = 6 w.)"""
    return 3.0 * c / np.cosh(np.sqrt(c) * (x - c * t - x0) / 2.0) ** 2


def _two_soliton(x, t, k1, k2, x0):
    """Two-soliton of u_t + u u_x + u_xxx = 0: u = 12 d_x^2 log F (u = 6 w, w = 2 (log F)_xx
    solves w_t + 6 w w_x + w_xxx = 0), F = 1 + e^eta1 + e^eta2 + A e^(eta1 + eta2),
    eta_i = k_i (x - x0) - k_i^3 t, A = ((k1 - k2) / (k1 + k2))^2. Evaluated with the largest
    exponent factored out so nothing overflows."""
    xi = x - x0
    eta1, eta2 = k1 * xi - k1**3 * t, k2 * xi - k2**3 * t
    log_a = 2.0 * np.log(abs(k1 - k2) / (k1 + k2))
    expo = np.stack([np.zeros_like(xi), eta1, eta2, eta1 + eta2 + log_a])
    slope = np.array([0.0, k1, k2, k1 + k2])[:, None]
    w = np.exp(expo - expo.max(axis=0))
    f, f1, f2 = w.sum(0), (slope * w).sum(0), (slope**2 * w).sum(0)
    return 12.0 * (f2 * f - f1**2) / f**2


# ------------------------------------------------------------------ KdV against analytic solutions


def test_kdv_one_soliton_matches_analytic(x64):
    # L = 96: the soliton stays >= 40 length units from its periodic images (tail 12 e^-40);
    # n = 512 resolves its spectrum (~e^(-pi k)) to 1e-15 inside the 2/3 cutoff.
    n, length, c, x0, dt, t_end = 512, 96.0, 1.0, 45.5, 0.01, 5.0
    x = _grid(n, length)
    step = make_stepper(get_system("kdv", 1), n, length, dt)
    u = _rollout(step, jnp.asarray(_soliton(x, 0.0, c, x0))[:, None], round(t_end / dt))
    err = np.max(np.abs(np.asarray(u)[:, 0] - _soliton(x, t_end, c, x0)))
    # Measured 3e-8 (the ETDRK4 time error at dt = 0.01); amplitude 3.
    assert err < 1e-6, err

    # Same run in float32 (no x64 promotion anywhere): dtype follows, error at single precision.
    u32 = _rollout(step, jnp.asarray(_soliton(x, 0.0, c, x0), jnp.float32)[:, None], 500)
    assert u32.dtype == jnp.float32
    err32 = np.max(np.abs(np.asarray(u32, np.float64)[:, 0] - _soliton(x, t_end, c, x0)))
    assert err32 < 5e-4, err32  # measured 1.4e-4: float32 roundoff over 500 steps


def test_kdv_two_soliton_matches_analytic(x64):
    # Solitons of amplitude 3 and 1.08 overtake at t = 0; run t = -10 .. 10. Every tail at the
    # boundary is below 12 e^(-0.6 * 55) ~ 1e-13 on L = 128.
    n, length, k1, k2, dt = 512, 128.0, 1.0, 0.6, 0.01
    x, x0, t0, t1 = _grid(n, length), 64.0, -10.0, 10.0
    u0 = _two_soliton(x, t0, k1, k2, x0)
    peaks = (u0[1:-1] > u0[:-2]) & (u0[1:-1] > u0[2:]) & (u0[1:-1] > 0.5)
    assert np.max(u0) > 2.9 and np.sum(peaks) == 2  # two separate humps
    step = make_stepper(get_system("kdv", 1), n, length, dt)
    u = _rollout(step, jnp.asarray(u0)[:, None], round((t1 - t0) / dt))
    err = np.max(np.abs(np.asarray(u)[:, 0] - _two_soliton(x, t1, k1, k2, x0)))
    assert err < 1e-6, err  # measured 4e-8; a missing phase shift would be O(1)


def test_etdrk4_is_fourth_order_in_time(x64):
    # KdV soliton against its exact solution (space error ~1e-13, far below the time errors).
    n, length, c, x0, t_end = 512, 96.0, 1.0, 46.0, 2.0
    x = _grid(n, length)
    u0 = jnp.asarray(_soliton(x, 0.0, c, x0))[:, None]
    dts = np.array([0.04, 0.02, 0.01, 0.005])
    errs = []
    for dt in dts:
        step = make_stepper(get_system("kdv", 1), n, length, float(dt))
        u = _rollout(step, u0, round(t_end / dt))
        errs.append(np.max(np.abs(np.asarray(u)[:, 0] - _soliton(x, t_end, c, x0))))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 3.5 < slope < 4.5, (slope, errs)


def test_kdv_conserves_mass_and_momentum(x64):
    system = get_system("kdv", 1)
    n, length, dt = 256, 128.0, 0.02
    u0 = sample_initial(system, jax.random.key(0), n, length) + 0.3  # nonzero mass
    step = make_stepper(system, n, length, dt, n_steps=500)  # 10 time units per call
    traj = jax.jit(lambda u: jax.lax.scan(lambda v, _: (step(v), v), u, None, length=20)[1])(u0)
    traj = np.asarray(traj)[..., 0]  # t = 0, 10, ..., 190
    mass, momentum = traj.sum(1) * length / n, (traj**2).sum(1) * length / n
    # Mass: the k = 0 mode has L = 0 and N = 0 exactly, so only roundoff. Momentum: conserved by
    # the (alias-free) Galerkin system; ETDRK4 breaks it at O(dt^4): measured 4e-8 relative.
    assert np.max(np.abs(mass - mass[0])) < 1e-12 * np.abs(mass[0])
    assert np.max(np.abs(momentum - momentum[0])) < 1e-6 * momentum[0]
    assert np.max(np.abs(traj[-1] - traj[0])) > 0.5  # it did evolve


# ------------------------------------------------------------------ against exponax 0.2.0


def _band_limit(u, fraction):
    """Zero the modes beyond the dealiasing cutoff: then exponax (which also masks the linear
    reaction terms) and we evolve the very same finite set of modes."""
    ndim, n = u.ndim - 1, u.shape[0]
    axes = tuple(range(1, ndim + 1))
    u_hat = np.fft.rfftn(np.moveaxis(np.asarray(u), -1, 0), axes=axes)
    u_hat = u_hat * dealias_mask_np(n, ndim, fraction)[None]
    return jnp.asarray(np.moveaxis(np.fft.irfftn(u_hat, s=(n,) * ndim, axes=axes), 0, -1))


def _both(ours, theirs, u0, n_steps):
    """Roll out our stepper (channels-last) and exponax's (channels-first) from u0."""
    a = _rollout(ours, u0, n_steps)
    with jax.numpy_rank_promotion("allow"):  # exponax relies on implicit rank promotion
        b = _rollout(theirs, jnp.moveaxis(u0, -1, 0), n_steps)
    return np.asarray(a), np.moveaxis(np.asarray(b), 0, -1)


@pytest.mark.parametrize("ndim, n, steps", [(1, 48, 100), (2, 48, 100), (3, 12, 20)])
def test_burgers_matches_exponax(x64, ndim, n, steps):
    # Same PDE (exponax: u_t + b (u.grad) u = nu Lap u, b = 1), same ETDRK4 split (L = -nu|k|^2)
    # and, for n divisible by 3, the same 2/3 mask: the two agree to roundoff (measured 2e-15 in
    # 2D) although we evaluate (u.grad) u in Lamb form and exponax directly.
    length, dt = 1.0, 0.002
    system = get_system("burgers", ndim)
    u0 = _band_limit(sample_initial(system, jax.random.key(1), n, length), 2 / 3)
    with jax.numpy_rank_promotion("allow"):
        theirs = exponax.stepper.Burgers(
            ndim, length, n, dt, diffusivity=0.005, convection_scale=1.0, order=4
        )
    a, b = _both(make_stepper(system, n, length, dt), theirs, u0, steps)
    assert np.max(np.abs(a - np.asarray(u0))) > 0.02  # a real change to compare
    assert np.max(np.abs(a - b)) < 1e-11


def test_kdv_matches_exponax_in_the_small_step_limit(x64):
    # exponax's KdV (convection_scale = 1, dispersivity = 1, hyper_diffusivity = 0 is exactly
    # u_t + u u_x + u_xxx = 0) takes the real part of its contour-integral ETDRK coefficients,
    # which is wrong for the imaginary symbol i k^3: it converges only at first order (its soliton
    # error halves with dt). So compare in the limit: the gap must shrink like dt (ratio ~2 per
    # halving) towards a common solution, and be small at the smaller step.
    n, length, steps_t = 96, 64.0, 1.0
    system = get_system("kdv", 1)
    u0 = _band_limit(sample_initial(system, jax.random.key(2), n, length), 2 / 3)
    gaps = []
    for dt in (0.004, 0.002):
        with jax.numpy_rank_promotion("allow"):
            theirs = exponax.stepper.KortewegDeVries(
                1, length, n, dt, convection_scale=1.0, hyper_diffusivity=0.0, order=4
            )
        a, b = _both(make_stepper(system, n, length, dt), theirs, u0, round(steps_t / dt))
        gaps.append(np.max(np.abs(a - b)))
    assert 1.7 < gaps[0] / gaps[1] < 2.3, gaps
    assert gaps[1] < 1e-3, gaps


@pytest.mark.parametrize(
    "ndim, n, length, dt, steps", [(2, 32, 1.0, 2.0, 50), (3, 16, 100.0, 1.0, 30)]
)
def test_gray_scott_matches_exponax(x64, ndim, n, length, dt, steps):
    # exponax puts -f u and -(f + kappa) v in N, we put them in L: both are ETDRK4 of the same
    # semi-discrete system with different splits, so they differ by O(dt^4). Check the gap is small
    # and falls ~16x when dt halves (measured 2.4e-5 -> 1.6e-6 in 2D, 4.3e-7 -> 2.8e-8 in 3D).
    system = get_system("gray_scott", ndim)
    c = system.coefficients
    u0 = sample_initial(
        system, jax.random.key(3), n, length, seed_shape="gaussian", seed_size=(0.25, 0.35)
    )
    u0 = _band_limit(u0, 0.5)
    gaps = []
    for h in (dt, dt / 2):
        with jax.numpy_rank_promotion("allow"):
            theirs = exponax.stepper.reaction.GrayScott(
                ndim, length, n, h, diffusivity_1=c["d_u"], diffusivity_2=c["d_v"],
                feed_rate=c["f"], kill_rate=c["kappa"], order=4, dealiasing_fraction=0.5,
            )  # fmt: skip
        a, b = _both(make_stepper(system, n, length, h), theirs, u0, round(steps * dt / h))
        gaps.append(np.max(np.abs(a - b)))
    assert np.max(np.abs(a - np.asarray(u0))) > 0.05
    assert gaps[0] < 1e-4, gaps
    assert 10.0 < gaps[0] / gaps[1] < 24.0, gaps


# ------------------------------------------------------------------ FitzHugh-Nagumo against diffrax


def _fn_rhs_reference(n, length, c):
    """The dealiased spectral FitzHugh–Nagumo right-hand side, written independently in physical
    variables: u_t = D_u Lap u + u - P[(P u)^3] - v + alpha, v_t = D_v Lap v + beta (u - v), with
    P the 1/2-rule truncation and Lap spectral. Channels-last (n, n, 2) in and out."""
    m = np.fft.fftfreq(n, 1.0 / n)
    kx, ky = np.meshgrid(2 * np.pi / length * m, 2 * np.pi / length * m, indexing="ij")
    lap = jnp.asarray(-(kx**2 + ky**2))
    keep = jnp.asarray((np.abs(m)[:, None] < n / 4) & (np.abs(m)[None, :] < n / 4))

    def spectral(f, field):
        return jnp.real(jnp.fft.ifft2(f * jnp.fft.fft2(field)))

    def rhs(t, y, args):
        u, v = y[..., 0], y[..., 1]
        cube = spectral(keep, spectral(keep, u) ** 3)
        du = c["d_u"] * spectral(lap, u) + u - cube - v + c["alpha"]
        dv = c["d_v"] * spectral(lap, v) + c["beta"] * (u - v)
        return jnp.stack([du, dv], axis=-1)

    return rhs


def test_fitzhugh_nagumo_matches_diffrax_reference(x64):
    n, length, t_end = 32, 128.0, 2.0
    system = get_system("fn", 2)
    # sigma = 0.5 instead of the benchmark's 0.05 so that the cubic term matters from the start.
    u0 = sample_initial(system, jax.random.key(4), n, length, sigma=0.5)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_fn_rhs_reference(n, length, system.coefficients)),
        diffrax.Tsit5(),
        t0=0.0,
        t1=t_end,
        dt0=1e-3,
        y0=u0,
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-10),
        max_steps=100_000,
    )
    ref = np.asarray(sol.ys[-1])
    assert np.max(np.abs(ref - np.asarray(u0))) > 1.0
    errs = []
    for dt in (0.025, 0.0125):
        ours = _rollout(make_stepper(system, n, length, dt), u0, round(t_end / dt))
        errs.append(np.max(np.abs(np.asarray(ours) - ref)))
    # Measured 8.4e-5 and 5.8e-6 (order ~3.9; the reference's own error is ~1e-9).
    assert errs[1] < 2e-5 and errs[0] / errs[1] > 10.0, errs


# ------------------------------------------------------------------ stepper plumbing


def test_stepper_batches_chains_and_follows_dtype(x64):
    system = get_system("gray_scott", 2)
    n, length = 16, 1.0
    keys = jax.random.split(jax.random.key(5), 3)
    u0 = jax.vmap(lambda k: sample_initial(system, k, n, length))(keys)
    single = jax.jit(make_stepper(system, n, length, 1.0))
    chained = make_stepper(system, n, length, 1.0, n_steps=3)
    batched = np.asarray(jax.jit(jax.vmap(chained))(u0))
    for b in range(3):
        loop = u0[b]
        for _ in range(3):
            loop = single(loop)
        np.testing.assert_allclose(batched[b], np.asarray(loop), rtol=0, atol=1e-13)
    out32 = jax.jit(chained)(u0[0].astype(jnp.float32))
    assert out32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out32), batched[0], rtol=0, atol=1e-5)


# ------------------------------------------------------------------ Fourier resampling


@pytest.mark.parametrize("ndim, n_in, n_out", [(1, 64, 16), (2, 48, 12), (2, 32, 11), (3, 24, 8)])
def test_fourier_resample_is_exact_on_band_limited_fields(x64, ndim, n_in, n_out):
    # Random modes up to n_out // 2 per axis; for even n_out also a cosine *and* a sine exactly at
    # the coarse Nyquist mode (the sine vanishes at the coarse points). Compared with the formula
    # evaluated on the coarse grid.
    length, top = 2.0, n_out // 2
    rng = np.random.default_rng(ndim * 100 + n_out)
    hi = top if n_out % 2 == 0 else top + 1  # even n_out: |m| < n_out/2 here, Nyquist below
    modes = rng.integers(-top + (n_out % 2 == 0), hi, size=(8, ndim))
    coef = rng.normal(size=(8, 3))
    nyquist = [(axis, rng.normal(), rng.normal()) for axis in range(ndim)] if n_out % 2 == 0 else []

    def field(n):
        xs = np.meshgrid(*([np.arange(n) * length / n] * ndim), indexing="ij")
        th = [2 * np.pi * x / length for x in xs]
        u, v = 0.7 + 0 * th[0], 0 * th[0]
        for m, (a, b, c) in zip(modes, coef, strict=True):
            phase = sum(mi * t for mi, t in zip(m, th, strict=True))
            u = u + a * np.cos(phase) + b * np.sin(phase)
            v = v + c * np.sin(phase + 0.3)
        for axis, a, b in nyquist:
            u = u + a * np.cos(top * th[axis])
            v = v + b * np.sin(top * th[axis] + 0.4)
        return np.stack([u, v], axis=-1)

    u = jnp.asarray(field(n_in))
    out = jax.jit(fourier_resample, static_argnums=1)(u, n_out)
    assert out.shape == (n_out,) * ndim + (2,) and out.dtype == u.dtype
    np.testing.assert_allclose(np.asarray(out), field(n_out), rtol=0, atol=1e-12)
    assert fourier_resample(u.astype(jnp.float32), n_out).dtype == jnp.float32


def test_fourier_resample_discards_modes_it_cannot_hold(x64):
    x = np.arange(32) * (1.0 / 32)
    u = jnp.asarray(np.cos(2 * np.pi * 3 * x) + np.sin(2 * np.pi * 9 * x))[:, None]
    out = np.asarray(fourier_resample(u, 8))[:, 0]
    np.testing.assert_allclose(out, np.cos(2 * np.pi * 3 * np.arange(8) / 8), atol=1e-12)


def test_wavenumbers_follow_the_rfftn_layout(x64):
    kx, ky = wavenumbers(8, 4.0, 2)
    assert kx.shape == ky.shape == (8, 5)
    # The derivative of sin(2 pi 3 y / L) via i k_y in the rfftn layout is its analytic derivative.
    y = np.arange(8) * 0.5
    f = np.broadcast_to(np.sin(2 * np.pi * 3 * y / 4.0)[None, :], (8, 8))
    df = np.fft.irfftn(1j * np.asarray(ky) * np.fft.rfftn(f), s=(8, 8), axes=(0, 1))
    np.testing.assert_allclose(df, 2 * np.pi * 3 / 4.0 * np.cos(2 * np.pi * 3 * y / 4.0)[None, :]
                               * np.ones((8, 1)), atol=1e-12)  # fmt: skip
    assert np.all(np.asarray(wavenumbers(8, 4.0, 1, zero_nyquist=True)[0])[-1] == 0.0)


# ------------------------------------------------------------------ initial conditions


def test_initial_conditions_follow_their_families(x64):
    key = jax.random.key(7)
    kdv = np.asarray(sample_initial(get_system("kdv", 1), key, 256, 128.0))[:, 0]
    spec = np.abs(np.fft.rfft(kdv))
    assert np.all(spec[4:] < 1e-9 * spec.max()) and spec[1:4].max() > 1.0  # modes 1..3 only
    assert np.max(np.abs(kdv)) <= 10 * 0.5

    burgers = np.asarray(sample_initial(get_system("burgers", 2), key, 32, 1.0))
    b_hat = np.abs(np.fft.fftn(burgers[..., 0]))
    m = np.abs(np.fft.fftfreq(32, 1 / 32))
    beyond = (m[:, None] > 5) | (m[None, :] > 5)
    assert np.all(b_hat[beyond] < 1e-9 * b_hat.max()) and np.max(np.abs(burgers)) <= 1.0 + 1e-12

    fn = np.asarray(sample_initial(get_system("fn", 2), key, 64, 128.0))
    assert abs(fn.std() - 0.05) < 0.005 and abs(fn.mean()) < 0.005

    for ndim, n, length in ((2, 64, 1.0), (3, 24, 100.0)):
        gs = np.asarray(sample_initial(get_system("gray_scott", ndim), key, n, length))
        u, v = gs[..., 0], gs[..., 1]
        assert gs.shape == (n,) * ndim + (2,) and gs.min() >= 0.0 and gs.max() <= 1.0
        assert np.mean(v < 0.02) > 0.5 and np.mean(u > 0.98) > 0.4  # mostly the u=1, v=0 state
        assert v.max() > 0.2 and u.min() < 0.55  # at least one seed

    gs2 = get_system("gray_scott", 2)
    first = np.asarray(sample_initial(gs2, key, 64, 1.0))
    np.testing.assert_array_equal(first, np.asarray(sample_initial(gs2, key, 64, 1.0)))
    assert not np.allclose(first, np.asarray(sample_initial(gs2, jax.random.key(8), 64, 1.0)))


# ------------------------------------------------------------------ errors for people


def test_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="valid systems: kdv, burgers, fn, gray_scott"):
        get_system("navier_stokes", 2)
    assert SYSTEMS == ("kdv", "burgers", "fn", "gray_scott")
    with pytest.raises(ValueError, match="valid coefficients: d_u, d_v, f, kappa"):
        get_system("gray_scott", 2, feed=0.1)
    with pytest.raises(ValueError, match="ndim"):
        get_system("kdv", 2)
    system = get_system("fn", 2)
    for dt in (0.0, -0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="dt must be finite and > 0"):
            make_stepper(system, 16, 1.0, dt)
    step = make_stepper(system, 16, 1.0, 0.1)
    with pytest.raises(ValueError, match="jax.vmap"):
        step(jnp.zeros((2, 16, 16, 2)))
    with pytest.raises(ValueError, match="valid options"):
        sample_initial(system, jax.random.key(0), 16, 1.0, amplitude=2.0)
    gs = get_system("gray_scott", 3)
    assert gs.channels == 2 and gs.field_names == ("u", "v") and gs.coefficients["f"] == 0.025
