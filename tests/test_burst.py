"""Burst schedule and the simulate-and-save rollout, checked against a plain Python loop."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from solvers import burst
from solvers.stability import UnstableStepError, check_stability, euler_numbers


def _standin_step(u):
    """A cheap nonlinear periodic step (any ndim): order of application matters."""
    shifted = sum(jnp.roll(u, 1, axis=a) for a in range(u.ndim - 1)) / (u.ndim - 1)
    return 0.9 * shifted + 0.05 * u * u + 0.01


def _stride2(u):
    return u[(slice(None, None, 2),) * (u.ndim - 1)]


def _python_loop(step, u0, *, substeps, k, N, n_macro, resample, spinup_steps):
    """Reference: every fine step in a Python loop, frames picked by their fine-step index."""
    u = u0
    for _ in range(spinup_steps):
        u = step(u)
    states = [np.asarray(resample(u))]
    for _ in range(n_macro * k * substeps):
        u = step(u)
        states.append(np.asarray(resample(u)))
    micro = states[::substeps]  # u(i·δt), i = 0..T·k
    macro = np.stack(micro[::k])
    bursts = np.stack([np.stack(micro[j * k : j * k + k + 1]) for j in range(0, n_macro, N)])
    return macro, bursts


@pytest.mark.parametrize(
    ("n_macro", "N", "expected"),
    [(10, 4, [0, 4, 8]), (8, 2, [0, 2, 4, 6]), (8, 8, [0]), (3, 5, [0]), (9, 3, [0, 3, 6])],
)
def test_burst_schedule(n_macro, N, expected):
    starts = burst.burst_starts(n_macro, N)
    np.testing.assert_array_equal(starts, expected)
    assert burst.n_bursts(n_macro, N) == len(expected)
    # Every burst covers a macro interval inside the horizon.
    assert np.all(starts % N == 0) and np.all(starts + 1 <= n_macro)


def test_burst_schedule_rejects_bad_sizes():
    with pytest.raises(ValueError, match="N >= 1"):
        burst.burst_starts(8, 0)


@pytest.mark.parametrize(
    ("shape", "n_macro", "N"), [((16, 2), 7, 3), ((8, 8, 1), 6, 2), ((4, 4, 4, 2), 3, 4)]
)
def test_rollout_equals_python_loop(shape, n_macro, N):
    sizes = dict(substeps=2, k=3, N=N, n_macro=n_macro, resample=_stride2, spinup_steps=3)
    u0 = jax.random.uniform(jax.random.PRNGKey(0), shape, minval=-0.5, maxval=0.5)
    macro, bursts = jax.jit(lambda u: burst.simulate_burst_sampled(_standin_step, u, **sizes))(u0)
    ref_macro, ref_bursts = _python_loop(_standin_step, u0, **sizes)
    g = tuple(n // 2 for n in shape[:-1])
    assert macro.shape == (n_macro + 1, *g, shape[-1])
    assert bursts.shape == (burst.n_bursts(n_macro, N), sizes["k"] + 1, *g, shape[-1])
    np.testing.assert_allclose(macro, ref_macro, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bursts, ref_bursts, rtol=1e-6, atol=1e-6)


def test_burst_ends_are_the_macro_frames():
    n_macro, N, k = 11, 4, 5
    u0 = jax.random.normal(jax.random.PRNGKey(1), (12, 3)) * 0.3
    macro, bursts = burst.simulate_burst_sampled(
        _standin_step, u0, substeps=3, k=k, N=N, n_macro=n_macro, spinup_steps=2
    )
    starts = burst.burst_starts(n_macro, N)
    np.testing.assert_array_equal(bursts[:, 0], macro[starts])
    np.testing.assert_array_equal(bursts[:, -1], macro[starts + 1])


def test_memory_does_not_grow_with_unsaved_fine_steps():
    u0 = jnp.ones((256, 2), jnp.float32)

    def analysis(substeps):
        fn = jax.jit(
            lambda u: burst.simulate_burst_sampled(
                _standin_step, u, substeps=substeps, k=4, N=2, n_macro=8, resample=_stride2
            )
        )
        return fn.lower(u0).compile().memory_analysis()

    few, many = analysis(10), analysis(1000)
    saved_bytes = 4 * (128 * 2) * ((8 + 1) + burst.n_bursts(8, 2) * (4 + 1))
    assert few.output_size_in_bytes == many.output_size_in_bytes
    # The outputs are the saved frames (plus a few bytes of tuple bookkeeping), nothing else.
    assert saved_bytes <= many.output_size_in_bytes <= saved_bytes + 64
    # 100x more fine steps, same scratch memory; one fine frame per fine step would be 32 MB.
    assert many.temp_size_in_bytes <= 1.1 * few.temp_size_in_bytes


def test_first_nonfinite_time_and_message():
    data = dict(system="fn", ndim=1, n_macro=6, N=2, k=4, dt=0.5, substeps=2)
    macro = np.zeros((3, 7, 4, 1))
    bursts = np.zeros((3, 3, 5, 4, 1))
    macro[2, 5:, 1] = np.nan  # macro frame 5 -> t = 5·k·dt = 10
    bursts[2, 2, 3:, 0] = np.inf  # burst 2 starts at j=4: t = (4·4 + 3)·0.5 = 9.5
    assert burst.first_nonfinite_time(macro[0], bursts[0], data) is None
    assert burst.first_nonfinite_time(macro[2], bursts[2], data) == pytest.approx(9.5)
    with pytest.raises(burst.NonFiniteDataError, match=r"fn .*trajectory 7: .*t = 9\.5"):
        burst.check_finite(macro, bursts, data, offset=5)


# ----------------------------------------------------------------------------- stability


def _data(exp, profile):
    return importlib.import_module(f"experiments.{exp}").get_config(profile).data


def test_euler_number_matches_an_explicit_laplacian_matrix():
    """Independent check: eigenvalues of the assembled periodic 4th-order Laplacian matrix."""
    data = dict(
        system="fn",
        ndim=2,
        grid=12,
        length=24.0,
        dt=0.01,
        coefficients=dict(d_u=1.0, d_v=100.0, alpha=0.01, beta=0.25),
    )
    n, dx = 12, 2.0
    lap1 = np.zeros((n, n))
    for i in range(n):
        for offset, c in zip(
            (-2, -1, 0, 1, 2), (-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12), strict=True
        ):
            lap1[i, (i + offset) % n] += c / dx**2
    eye = np.eye(n)
    lap2 = np.kron(lap1, eye) + np.kron(eye, lap1)
    lam_min = np.linalg.eigvalsh(lap2).min()
    # Euler amplification of the worst mode is |1 + dt D λ_min| ; the bound is dt·D·|λ_min| ≤ 2.
    assert euler_numbers(data)["euler_number"] == pytest.approx(0.01 * 100 * -lam_min)
    with pytest.raises(UnstableStepError, match="need dt <= 0.0075"):
        check_stability(dict(data, dt=0.008))


def test_kdv_growth_matches_explicit_stencil_matrix():
    n, dx, dt = 16, 128 / 16, 0.5
    d3 = np.zeros((n, n))
    for offset, c in zip(
        (-3, -2, -1, 1, 2, 3), (1 / 8, -1, 13 / 8, -13 / 8, 1, -1 / 8), strict=True
    ):
        d3[np.arange(n), (np.arange(n) + offset) % n] += c / dx**3
    amp = np.abs(np.linalg.eigvals(np.eye(n) - dt * d3)).max()
    data = dict(system="kdv", ndim=1, grid=n, length=128.0, dt=dt, n_macro=10, k=4, coefficients={})
    numbers = euler_numbers(data)
    assert numbers["amplification"] == pytest.approx(amp)
    assert numbers["growth"] == pytest.approx(amp**40)


@pytest.mark.parametrize("exp", ["kdv", "burgers", "fn", "gs2d", "gs3d"])
@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_profile_is_euler_stable(exp, profile):
    check_stability(_data(exp, profile))


def test_unknown_system_lists_valid_ones():
    with pytest.raises(ValueError, match="kdv, burgers, fn, gray_scott"):
        euler_numbers(dict(system="heat", ndim=1, grid=8, length=1.0, dt=0.1))


# ----------------------------------------------------------------------------- real solvers


def test_generated_split_equals_a_python_loop_over_the_real_stepper():
    """generate_split (fn smoke: spin-up, resampling, float64 scope, chunking) against a plain
    loop over solvers.systems.make_stepper; trajectory i must not depend on the chunking."""
    from solvers import grid, initial, systems

    data = _data("fn", "smoke")
    one = jax.devices()[:1]  # chunking on one device (several: tests/test_sharded.py)
    macro, bursts = burst.generate_split(data, 5, 3, progress=False, chunk=2, devices=one)
    macro_1, bursts_1 = burst.generate_split(data, 5, 3, progress=False, chunk=3, devices=one)
    np.testing.assert_array_equal(macro, macro_1)
    np.testing.assert_array_equal(bursts, bursts_1)
    assert macro.dtype == np.float64

    with jax.enable_x64(True):
        system = systems.get_system(data.system, data.ndim, **dict(data.coefficients))
        h = data.dt / data.substeps
        step = jax.jit(systems.make_stepper(system, data.solver_grid, data.length, h))
        key = jax.random.fold_in(jax.random.PRNGKey(5), 2)
        u0 = initial.sample_initial(system, key, data.solver_grid, data.length)
        ref_macro, ref_bursts = _python_loop(
            step,
            u0.astype(jnp.float64),
            substeps=data.substeps,
            k=data.k,
            N=data.N,
            n_macro=data.n_macro,
            resample=lambda v: grid.fourier_resample(v, data.grid),
            spinup_steps=round(data.spinup / h),
        )
    np.testing.assert_allclose(macro[2], ref_macro, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bursts[2], ref_bursts, rtol=1e-10, atol=1e-12)
    # The dynamics moved: frames differ from the initial frame by more than round-off.
    assert np.abs(macro[2, -1] - macro[2, 0]).max() > 1e-3
