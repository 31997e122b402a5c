"""A run already near 1 gets a forecast inside its headroom, with an interval: the gain models learn absolute gains
from runs far from 1, and a CIFAR-10 run at 0.9 after one epoch got final 1.0 with the interval [1.0, 1.0]."""

from __future__ import annotations

import numpy as np

from predictor.features import RunView
from predictor.models import GBM, GBMParams, within_headroom


def _runs(n: int, seed: int) -> tuple[list[RunView], np.ndarray, list[str]]:
    """Runs that start at 0.1-0.6 after one epoch and close about half of their headroom by epoch 10."""
    rng = np.random.default_rng(seed)
    views, finals, groups = [], [], []
    for i in range(n):
        first = float(rng.uniform(0.1, 0.6))
        lr = float(10 ** rng.uniform(-3, -1))
        final = float(np.clip(first + (1 - first) * (0.35 + 0.3 * (lr > 0.01)) + rng.normal(0, 0.02), 0, 1))
        for k in (0, 1):
            views.append(RunView("cifar-10", {"lr": lr, "batch": 64}, "norm_32", 10, [first][:k]))
            finals.append(final)
            groups.append(f"fam{i % 30}")
    return views, np.array(finals), groups


def test_a_run_past_the_training_range_is_forecast_inside_its_headroom_with_an_interval():
    views, finals, groups = _runs(300, 0)
    params = GBMParams(n_estimators=60, learning_rate=0.1, num_threads=1, cv_folds=2, min_child_samples=10)
    gbm = GBM(use_code=False, params=params).fit(views, finals, groups)
    for first in (0.9, 0.95, 0.98):
        est = gbm.predict([RunView("cifar-10", {"lr": 0.05, "batch": 64}, "norm_32", 10, [first])])
        point, lo, hi = float(est.point[0]), float(est.lo[0]), float(est.hi[0])
        assert first <= point < 1.0, (first, point)
        assert lo < point - 1e-3 and hi - lo > 0.01, (first, lo, point, hi)
    # inside the training range nothing moved: the mean of the two point models, the quantiles widened by corr
    inside = gbm.predict([RunView("cifar-10", {"lr": 0.05, "batch": 64}, "norm_32", 10, [0.3])])
    assert 0.6 < float(inside.point[0]) < 0.95


def test_within_headroom_is_the_plain_mean_while_the_gain_stays_inside_the_headroom():
    gain, share = np.array([0.2, 0.5]), np.array([0.4, 0.6])
    q_lo, q_hi, corr, offset = np.array([0.1, 0.3]), np.array([0.3, 0.6]), np.array([0.02, 0.02]), np.array([0.5, 0.4])
    point, lo, hi = within_headroom(gain, share, q_lo, q_hi, corr, offset)
    np.testing.assert_allclose(point, (gain + (1 - offset) * share) / 2)
    np.testing.assert_allclose(lo, q_lo - corr)
    np.testing.assert_allclose(hi, q_hi + corr)
    # far past it: the share model's point, the quantiles' width around it
    point, lo, hi = within_headroom(np.array([0.3]), np.array([0.5]), np.array([0.25]), np.array([0.35]), np.array([0.0]), np.array([0.9]))
    np.testing.assert_allclose(point, [0.05])
    np.testing.assert_allclose(hi - lo, [0.1])
