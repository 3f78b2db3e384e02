"""The closure report and the physics oracle: hand-made cases with known answers.

Linear KdV (`u_t = -u_xxx`, convection 0) on a single Fourier mode is solved exactly by
`sin(k x + k^3 t)`, and every discrete operator acts on that mode by a number, so both ratios
have closed forms: r_state ~ 0 (the spectral solver is exact on it) and
r_oracle = |G - E| / |E - 1| with E = exp(i k^3 Δt) the true factor and G = R(δt λ)^k the
oracle's (λ = -iω(θ)/dx^3 of the 4th-order stencil, R the integrator's stability function).
"""

import math

import numpy as np
import pytest

from solvers import closure, explicit, finite_difference, grid, stability, systems

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _linear_kdv(n, length, mode, dt, k, n_macro, integrator="rk4", solver_grid=None):
    data = dict(
        system="kdv",
        ndim=1,
        coefficients=dict(convection=0.0, dispersion=1.0),
        length=float(length),
        grid=n,
        solver_grid=solver_grid or 2 * n,
        dt=dt,
        substeps=4,
        k=k,
        N=2,
        n_macro=n_macro,
        dtype="float64",
        micro_integrator=integrator,
    )
    wavenumber = 2 * math.pi * mode / length
    x = np.arange(n) * (length / n)
    t = np.arange(n_macro + 1) * (k * dt)
    macro = np.sin(wavenumber * x[None, :] + wavenumber**3 * t[:, None])[None, :, :, None]
    return data, macro, wavenumber


def _analytic_r_oracle(data, wavenumber):
    dx = data["length"] / data["grid"]
    theta = wavenumber * dx
    omega = -13 / 4 * np.sin(theta) + 2 * np.sin(2 * theta) - 1 / 4 * np.sin(3 * theta)
    lam = -1j * omega / dx**3  # f(u) = -D3 u, D3 e^{ikx} = i ω/dx^3 e^{ikx}
    z = data["dt"] * lam
    r = 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24 if data["micro_integrator"] == "rk4" else 1 + z
    gain = r ** data["k"]
    exact = np.exp(1j * wavenumber**3 * data["k"] * data["dt"])
    return abs(gain - exact) / abs(exact - 1)


def test_a_resolved_mode_closes_and_matches_the_analytic_ratio():
    data, macro, wavenumber = _linear_kdv(n=64, length=64.0, mode=2, dt=0.05, k=5, n_macro=12)
    report = closure.closure_report(data, macro)
    assert report["r_state"].shape == (1, 12) and report["r_oracle"].shape == (1, 12)
    np.testing.assert_allclose(report["r_state"], 0.0, atol=1e-8)
    expected = _analytic_r_oracle(data, wavenumber)
    assert expected < 0.01
    np.testing.assert_allclose(report["r_oracle"], expected, rtol=1e-6)
    summary = closure.summarize(report)
    assert summary["faithful"] and summary["r_oracle_max"] == pytest.approx(expected, rel=1e-6)


def test_a_grid_coarser_than_the_pattern_gives_r_oracle_above_one():
    # Mode 6 of a 16-point grid (2.7 points per wavelength): the stencil's phase speed is a third
    # of the true one, and over a Δt that turns the true wave by 0.9 of a period persistence
    # beats the exact physics in the micro module's form. The solver still holds the state.
    n, length, mode = 16, 16.0, 6
    wavenumber = 2 * math.pi * mode / length
    dt_macro = 0.9 * 2 * math.pi / wavenumber**3
    data, macro, _ = _linear_kdv(n, length, mode, dt=dt_macro / 8, k=8, n_macro=6)
    report = closure.closure_report(data, macro)
    expected = _analytic_r_oracle(data, wavenumber)
    assert expected > 1.0
    np.testing.assert_allclose(report["r_oracle"], expected, rtol=1e-6)
    np.testing.assert_allclose(report["r_state"], 0.0, atol=1e-8)
    assert not closure.summarize(report)["faithful"]
    assert "NOT faithful" in closure.one_line(report)


def test_state_steps_subsample_evenly_with_both_ends():
    steps = closure.state_steps(200, 40)
    assert steps[0] == 0 and steps[-1] == 199 and 35 <= len(steps) <= 40
    assert np.all(np.diff(steps) > 0)
    np.testing.assert_array_equal(closure.state_steps(10, 40), np.arange(10))


def test_a_state_the_grid_does_not_hold_gives_a_large_r_state():
    # Frames of a mode above the learning grid's Nyquist alias onto a lower mode on the grid;
    # the solver, run from the aliased field, moves it at the wrong speed.
    n, length = 16, 16.0
    data, macro, _ = _linear_kdv(n, length, mode=1, dt=0.05, k=4, n_macro=4, solver_grid=32)
    x = np.arange(n) * (length / n)
    kk, t = 2 * math.pi * 10 / length, np.arange(5) * 0.2  # mode 10 seen as mode -6 on 16 points
    macro = np.sin(kk * x[None, :] + kk**3 * t[:, None])[None, :, :, None]
    report = closure.closure_report(data, macro)
    assert np.min(report["r_state"]) > 0.5


# ----------------------------------------------------------------------------- integrators


@pytest.mark.parametrize("integrator", explicit.INTEGRATORS)
def test_explicit_step_on_a_linear_equation_is_its_stability_function(integrator):
    lam = np.array([-0.3 + 2.0j, -1.5, 0.7j])
    u = np.ones(3, complex)
    dt = 0.4
    got = explicit.explicit_step(lambda v: lam * v, u, dt, integrator)
    z = dt * lam
    series = {"euler": 1 + z, "rk4": 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24}[integrator]
    np.testing.assert_allclose(got, series, rtol=1e-14)
    np.testing.assert_allclose(explicit.amplification(z, integrator), np.abs(series))


def test_rk4_stability_limits():
    assert explicit.amplification(-stability.RK4_DIFFUSION_BOUND, "rk4") == pytest.approx(1.0)
    assert explicit.amplification(-2.8, "rk4") > 1.0
    assert explicit.amplification(2.8j, "rk4") <= 1.0
    assert explicit.amplification(2.9j, "rk4") > 1.0
    assert explicit.amplification(0.1j, "euler") > 1.0  # Euler amplifies every dispersive mode
    with pytest.raises(ValueError, match="valid integrators: euler, rk4"):
        explicit.check_integrator("rk5")


def test_kdv_stability_check_accepts_rk4_where_euler_grows():
    data = dict(
        system="kdv", ndim=1, coefficients={}, length=64.0, grid=128, dt=0.05, k=5, n_macro=100
    )
    with pytest.raises(stability.UnstableStepError, match="micro_integrator='rk4'"):
        stability.check_stability(dict(data, micro_integrator="euler"))
    numbers = stability.check_stability(dict(data, micro_integrator="rk4"))
    assert numbers["amplification"] <= 1.0 and numbers["growth"] <= 1.0


# ----------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize("n", [12, 15])
def test_fourier_interpolation_is_exact_on_band_limited_fields(n):
    x = np.arange(n) / n
    xx, yy = np.meshgrid(x, x, indexing="ij")

    def field(a, b):
        return np.stack(
            [np.sin(2 * np.pi * 3 * a) * np.cos(2 * np.pi * 2 * b), np.cos(2 * np.pi * 5 * b)], -1
        )

    with jax.enable_x64(True):
        fine = np.asarray(grid.fourier_interpolate(jnp.asarray(field(xx, yy)), 40))
        xf = np.arange(40) / 40
        np.testing.assert_allclose(fine, field(*np.meshgrid(xf, xf, indexing="ij")), atol=1e-12)
        rng = np.random.default_rng(0)
        u = rng.standard_normal((n, n, 2))
        back = grid.fourier_resample(grid.fourier_interpolate(jnp.asarray(u), 2 * n + 2), n)
        np.testing.assert_allclose(np.asarray(back), u, atol=1e-12)


# ----------------------------------------------------------------------------- finite differences


def _spectral_rhs(system, n, length, u):
    """The ground-truth solver's own right-hand side, L û + N(û), back in physical space."""
    ndim = system.ndim
    g = systems.SpectralGrid(
        n,
        ndim,
        grid.wavenumbers_np(n, length, ndim),
        grid.wavenumbers_np(n, length, ndim, zero_nyquist=True),
        grid.dealias_mask_np(n, ndim, system.dealias_fraction),
    )
    axes = grid.spatial_axes(ndim)
    u_hat = jnp.fft.rfftn(jnp.moveaxis(u, -1, 0), axes=axes)
    rhs_hat = system.linear(g) * u_hat + system.nonlinear(g, np.float64)(u_hat)
    return np.moveaxis(np.asarray(jnp.fft.irfftn(rhs_hat, s=(n,) * ndim, axes=axes)), 0, -1)


@pytest.mark.parametrize(
    "name, ndim, length",
    [("kdv", 1, 64.0), ("burgers", 2, 1.0), ("fn", 2, 64.0), ("gray_scott", 2, 1.0)],
)
def test_finite_difference_rhs_agrees_with_the_spectral_solver(name, ndim, length):
    """On a smooth, well-resolved field the stencil form of each PDE must match the spectral
    solver's right-hand side (an independent implementation) to the stencils' O(dx^4)."""
    n = 64
    system = systems.get_system(name, ndim)
    x = np.arange(n) * (length / n)
    mesh = np.meshgrid(*([x] * ndim), indexing="ij")
    phase = [2 * np.pi * m / length for m in mesh]
    fields = [0.6 + 0.3 * np.sin(phase[0]) + 0.2 * np.cos(sum(phase))]
    if system.channels == 2:
        fields.append(0.2 + 0.25 * np.cos(phase[0] - phase[-1]))
    u = np.stack(fields, -1)
    with jax.enable_x64(True):
        fd = np.asarray(
            finite_difference.right_hand_side(system, length / n)(jnp.asarray(u[None]))
        )[0]
        spectral = _spectral_rhs(system, n, length, jnp.asarray(u))
    scale = np.max(np.abs(spectral))
    assert scale > 0
    np.testing.assert_allclose(fd, spectral, atol=1e-5 * scale)


def test_make_data_stores_the_report_and_the_cli_recomputes_it(tmp_path, capsys):
    from experiments.kdv import get_config
    from solvers import dataset
    from solvers.__main__ import make_data

    config = get_config("smoke")
    config.data.path = str(tmp_path / "kdv-smoke.h5")
    make_data(config, progress=False)
    printed = capsys.readouterr().out
    assert "kdv:smoke closure (euler): r_state max" in printed
    stored = dataset.load(config.data.path, config.data)["closure"]
    assert stored["split"] == "val" and stored["r_oracle"].shape == (config.data.n_val, 8)
    val = dataset.load(config.data.path, config.data)["val"]["macro"]
    fresh = closure.closure_report(config.data, val)
    np.testing.assert_allclose(stored["r_oracle"], fresh["r_oracle"], rtol=1e-6)
    np.testing.assert_allclose(stored["r_state"], fresh["r_state"], rtol=1e-6, atol=1e-12)
    assert stored["summary"] == closure.summarize(fresh)
    assert closure.main([config.data.path]) == 0
    assert closure.one_line(fresh) in capsys.readouterr().out
    assert closure.main([config.data.path, "--split", "nope"]) == 1
