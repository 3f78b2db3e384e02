"""Stability diagnostics: the Jacobian's spectral radius by power iteration against matrices
with known eigenvalues, and the first frame out of the data's range against a plain loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import kdv
from pimrl_jax import diagnostics
from pimrl_jax.models.registry import build_model


@pytest.mark.parametrize("rho", [0.7, 1.1])
def test_spectral_radius_of_a_linear_map_with_a_rotating_dominant_pair(rho):
    # A non-normal matrix whose dominant eigenvalues are a complex pair rho·exp(±0.9i).
    rng = np.random.default_rng(0)
    blocks = np.zeros((6, 6))
    c, s = np.cos(0.9), np.sin(0.9)
    blocks[:2, :2] = rho * np.array([[c, -s], [s, c]])
    blocks[2:, 2:] = np.diag([0.5, -0.4, 0.2, 0.1])
    basis = rng.standard_normal((6, 6))
    matrix = basis @ blocks @ np.linalg.inv(basis)
    assert max(abs(np.linalg.eigvals(matrix))) == pytest.approx(rho)
    a = jnp.asarray(matrix, jnp.float32)
    estimate = diagnostics.spectral_radius(lambda u: a @ u, jnp.ones(6), jax.random.PRNGKey(1), 200)
    assert float(estimate) == pytest.approx(rho, rel=0.02)


def test_first_out_of_range_matches_a_loop():
    rng = np.random.default_rng(1)
    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 1.0])
    fmin = rng.uniform(-0.05, 0.5, (4, 7, 2))
    fmax = rng.uniform(0.5, 1.05, (4, 7, 2))
    fmin[1, 3, 1] = -1.3  # below -1 - 0.1*2
    fmax[2, 5, 0] = 1.2  # above 1 + 0.1*1
    fmax[3, 2, 0] = np.nan
    got = diagnostics.first_out_of_range(lo, hi, fmin, fmax)
    expected = []
    for b in range(4):
        bad = [
            t
            for t in range(7)
            if any(
                not (fmin[b, t, c] >= lo[c] - 0.1 * (hi[c] - lo[c]))
                or not (fmax[b, t, c] <= hi[c] + 0.1 * (hi[c] - lo[c]))
                for c in range(2)
            )
        ]
        expected.append(bad[0] if bad else 7)
    np.testing.assert_array_equal(got, expected)
    assert list(got) == [7, 3, 5, 2]


def test_step_radii_of_the_reference_models():
    """Persistence is the identity (ρ = 1); the oracle's micro step on linear KdV multiplies each
    Fourier mode by the integrator's R(z), so ρ is max |R| over the grid's modes."""
    config = kdv.get_config("smoke")
    config.data.update(dict(length=32.0, grid=32, dt=0.05, k=4, micro_integrator="euler"))
    config.data.coefficients = dict(convection=0.0, dispersion=1.0)
    states = np.random.default_rng(2).standard_normal((2, 32, 1)).astype(np.float32)
    config.model.name = "persistence"
    radii = diagnostics.step_radii(build_model(config), {}, states, jax.random.PRNGKey(0))
    np.testing.assert_allclose(radii["macro"], 1.0, rtol=1e-5)
    assert radii["micro"] is None
    config.model.name = "oracle"
    radii = diagnostics.step_radii(build_model(config), {}, states, jax.random.PRNGKey(0))
    theta = 2 * np.pi * np.arange(32) / 32
    omega = -13 / 4 * np.sin(theta) + 2 * np.sin(2 * theta) - 1 / 4 * np.sin(3 * theta)
    expected = np.max(np.abs(1 - 1j * 0.05 * omega))
    np.testing.assert_allclose(radii["micro"], expected, rtol=0.02)
    np.testing.assert_allclose(radii["macro"], expected**4, rtol=0.05)
