"""Metrics against plain NumPy loops on random data, and the HCT edge cases."""

import math

import numpy as np
import pytest

from pimrl_jax import metrics


def _pair(shape, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=shape).astype(np.float32)
    pred = (true + noise * rng.normal(size=shape)).astype(np.float32)
    return pred, true


def _loop_rmse_mae(pred, true):
    """sqrt(mean of squared errors) and mean |error| by explicit accumulation over every point."""
    sq = ab = 0.0
    n = 0
    for b in range(pred.shape[0]):
        for t in range(pred.shape[1]):
            for p, q in zip(pred[b, t].ravel(), true[b, t].ravel(), strict=True):
                d = float(p) - float(q)
                sq += d * d
                ab += abs(d)
                n += 1
    return math.sqrt(sq / n), ab / n


def _loop_pearson(p, q):
    p = [float(v) for v in p.ravel()]
    q = [float(v) for v in q.ravel()]
    mp, mq = sum(p) / len(p), sum(q) / len(q)
    num = sum((a - mp) * (b - mq) for a, b in zip(p, q, strict=True))
    den = math.sqrt(sum((a - mp) ** 2 for a in p) * sum((b - mq) ** 2 for b in q))
    return num / den


def _loop_hct(corr, dt, thr):
    first, count = [], []
    for row in corr:
        n = 0
        for c in row:
            if not (c >= thr):  # NaN is below
                break
            n += 1
        first.append(n * dt)
        count.append(sum(1 for c in row if c >= thr) * dt)
    return sum(first) / len(first), sum(count) / len(count)


@pytest.mark.parametrize("shape", [(3, 5, 16, 1), (2, 4, 6, 5, 2), (2, 3, 4, 3, 5, 2)])
def test_rmse_mae_match_loop_in_1d_2d_3d(shape):
    pred, true = _pair(shape, seed=len(shape))
    want_rmse, want_mae = _loop_rmse_mae(pred, true)
    assert metrics.rmse(pred, true) == pytest.approx(want_rmse, rel=1e-5)
    assert metrics.mae(pred, true) == pytest.approx(want_mae, rel=1e-5)


def test_per_time_curves_average_over_trajectories_channels_space():
    pred, true = _pair((3, 4, 8, 7, 2), seed=3)
    mse = metrics.frame_mse(pred, true)
    mae = metrics.frame_mae(pred, true)
    assert mse.shape == (3, 4) and mae.shape == (3, 4)
    for t in range(4):
        d = pred[:, t].astype(np.float64) - true[:, t]
        assert metrics.per_time_rmse(mse)[t] == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-5)
        assert metrics.per_time_mae(mae)[t] == pytest.approx(np.mean(np.abs(d)), rel=1e-5)
    # The time axis is not averaged into a frame statistic: errors grow only in the last frame.
    grown = pred.copy()
    grown[:, -1] += 10.0
    curve = metrics.per_time_rmse(metrics.frame_mse(grown, true))
    np.testing.assert_allclose(curve[:-1], metrics.per_time_rmse(mse)[:-1], rtol=1e-6)
    assert curve[-1] > 9.0


def test_pearson_matches_loop_per_trajectory_and_time():
    pred, true = _pair((2, 3, 5, 4, 2), seed=4, noise=1.0)
    corr = np.asarray(metrics.pearson(pred, true))
    assert corr.shape == (2, 3)
    for b in range(2):
        for t in range(3):
            assert corr[b, t] == pytest.approx(_loop_pearson(pred[b, t], true[b, t]), abs=1e-5)
    # Invariant to an affine rescaling of the prediction; flips sign with it.
    np.testing.assert_allclose(metrics.pearson(3.0 * pred + 2.0, true), corr, atol=1e-5)
    np.testing.assert_allclose(metrics.pearson(-pred, true), -corr, atol=1e-5)


def test_pearson_per_channel_matches_loop_and_sees_what_flattening_hides():
    pred, true = _pair((2, 3, 6, 5, 2), seed=9, noise=1.0)
    corr = np.asarray(metrics.pearson(pred, true, per_channel=True))
    assert corr.shape == (2, 3, 2)
    for b, t, c in np.ndindex(2, 3, 2):
        want = _loop_pearson(pred[b, t, ..., c], true[b, t, ..., c])
        assert corr[b, t, c] == pytest.approx(want, abs=1e-5)
    # Gray-Scott-like: u ~ 1, v ~ 0; v predicted with an unrelated pattern. The flattened
    # correlation is carried by the channel gap, the per-channel one is not.
    rng = np.random.default_rng(10)
    true = np.stack([1 + 0.01 * rng.normal(size=(16, 16)), 0.01 * rng.normal(size=(16, 16))], -1)
    pred = true.copy()
    pred[..., 1] = 0.01 * rng.normal(size=(16, 16))
    true, pred = true[None, None].astype(np.float32), pred[None, None].astype(np.float32)
    assert float(metrics.pearson(pred, true)[0, 0]) > 0.99
    per = np.asarray(metrics.pearson(pred, true, per_channel=True))[0, 0]
    assert per[0] == pytest.approx(1.0, abs=1e-5) and abs(per[1]) < 0.3


def test_pearson_nonfinite_frame_is_nan_and_constant_fields_follow_convention():
    pred, true = _pair((1, 4, 8, 1), seed=5)
    pred[0, 1, 3, 0] = np.nan
    pred[0, 2, 0, 0] = np.inf
    corr = np.asarray(metrics.pearson(pred, true))
    assert np.isfinite(corr[0, 0]) and np.isnan(corr[0, 1]) and np.isnan(corr[0, 2])
    const = np.ones((1, 3, 8, 2), np.float32)
    assert float(metrics.pearson(const, const)[0, 0]) == 1.0  # equal constants
    assert float(metrics.pearson(const, 2 * const)[0, 0]) == 0.0  # different constants
    assert float(metrics.pearson(const, const + _pair(const.shape)[1])[0, 0]) == 0.0
    zeros = np.zeros_like(const)
    assert float(metrics.pearson(zeros, zeros)[0, 0]) == 1.0


def test_hct_matches_loop_on_random_correlations():
    rng = np.random.default_rng(6)
    corr = rng.uniform(0.6, 1.0, size=(7, 30))
    out = metrics.hct(corr, dt_macro=0.25, threshold=0.8)
    first, count = _loop_hct(corr, 0.25, 0.8)
    assert out["hct"] == pytest.approx(first)
    assert out["hct_count"] == pytest.approx(count)


def test_hct_edge_cases():
    dt, horizon = 0.5, 6
    never = np.full((1, horizon), 0.95)
    assert metrics.hct(never, dt)["hct"] == dt * horizon  # capped at the horizon
    first_below = np.array([[0.5, 0.9, 0.9, 0.9, 0.9, 0.9]])
    assert metrics.hct(first_below, dt)["hct"] == 0.0
    assert metrics.hct(first_below, dt)["hct_count"] == 5 * dt  # the variant differs here
    mid = np.array([[0.99, 0.95, 0.9, 0.79, 0.9, 0.85]])
    assert metrics.hct(mid, dt)["hct"] == 3 * dt
    assert metrics.hct(mid, dt)["hct_count"] == 5 * dt
    exactly = np.full((1, horizon), 0.8)  # "drops below" is strict
    assert metrics.hct(exactly, dt)["hct"] == dt * horizon
    both = np.concatenate([never, mid])
    assert metrics.hct(both, dt)["hct"] == (6 + 3) / 2 * dt
    assert metrics.hct(both, dt)["per_trajectory"] == [6 * dt, 3 * dt]


def test_hct_nan_predictions_stop_and_are_flagged():
    true = _pair((2, 5, 16, 1), seed=7)[1]
    pred = true.copy()
    pred[0] = np.nan  # diverged from the first predicted frame
    pred[1, 3:] = np.nan  # diverges at frame index 3 (macro step 4)
    corr = metrics.pearson(pred, true)
    out = metrics.hct(corr, 1.0)
    assert out["per_trajectory"] == [0.0, 3.0]
    assert out["per_trajectory_count"] == [0.0, 3.0]
    finite = metrics.frame_finite(pred)
    bad = metrics.first_bad_frame(finite, metrics.frame_max_abs(pred), bound=1e6)
    assert bad.tolist() == [0, 3]
    # A finite frame above the sanity bound counts as divergence too.
    huge = true.copy()
    huge[1, 2, 0, 0] = 1e9
    bad = metrics.first_bad_frame(metrics.frame_finite(huge), metrics.frame_max_abs(huge), 1e6)
    assert bad.tolist() == [5, 2]


def test_initial_frame_is_not_counted():
    """Metrics see only predicted frames: prepending the (exact) initial condition would dilute
    the RMSE, so callers pass u_1..u_T and the RMSE is that of those frames alone."""
    pred, true = _pair((2, 4, 16, 1), seed=8)
    u0 = true[:, :1]
    with_ic = metrics.rmse(np.concatenate([u0, pred], 1), np.concatenate([u0, true], 1))
    without = metrics.rmse(pred, true)
    assert without == pytest.approx(_loop_rmse_mae(pred, true)[0], rel=1e-5)
    assert with_ic == pytest.approx(without * math.sqrt(4 / 5), rel=1e-5)
    corr = np.ones((2, 4))
    assert metrics.hct(corr, 0.1)["hct"] == pytest.approx(0.4)  # 4 predicted frames, not 5


def test_shape_errors_are_readable():
    with pytest.raises(ValueError, match="same shape"):
        metrics.rmse(np.zeros((1, 2, 4, 1)), np.zeros((1, 3, 4, 1)))
    with pytest.raises(ValueError, match=r"\(B, T, \*space, C\)"):
        metrics.frame_mse(np.zeros((2, 4)), np.zeros((2, 4)))
