"""Burst scores over per-service alert rates."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from analytics.burst import RateIsolationForest, burst_score, compare_detectors, context_burst, rate_features
from analytics.scoring import ScoringContext


def test_usual_rates_are_not_bursts() -> None:
    calm = burst_score(alerts_5m=0, alerts_60m=4, usual_per_hour=5.0)
    assert calm.surprise == 0.0 and not calm.is_burst
    noisy_but_usual = burst_score(alerts_5m=1, alerts_60m=9, usual_per_hour=6.0)
    assert not noisy_but_usual.is_burst


def test_far_above_usual_is_a_burst_and_grows_with_the_count() -> None:
    scores = [burst_score(alerts_5m=n // 12, alerts_60m=n, usual_per_hour=2.0) for n in (10, 20, 40, 80)]
    assert all(s.is_burst for s in scores)
    assert [s.surprise for s in scores] == sorted(s.surprise for s in scores)
    assert scores[-1].ratio == 40.0


def test_unknown_history_uses_a_floor_rate() -> None:
    assert burst_score(alerts_5m=0, alerts_60m=0, usual_per_hour=0.0).surprise == 0.0
    assert burst_score(alerts_5m=6, alerts_60m=6, usual_per_hour=0.0).is_burst


def test_context_burst_reads_the_service_counts() -> None:
    context = ScoringContext(service_alerts_5m=8, service_alerts_60m=30, service_usual_per_hour=1.0)
    assert context_burst(context) == burst_score(alerts_5m=8, alerts_60m=30, usual_per_hour=1.0)


def test_isolation_forest_follows_the_estimator_contract() -> None:
    forest = RateIsolationForest(n_estimators=20, random_state=3)
    assert clone(forest).get_params() == {"n_estimators": 20, "random_state": 3}
    history = np.stack([rate_features(alerts_5m=0, alerts_60m=n % 4, usual_per_hour=2.0) for n in range(200)])
    fitted = forest.fit(history)
    assert fitted is forest and hasattr(forest, "forest_")
    usual, burst = forest.score(
        np.stack(
            [
                rate_features(alerts_5m=0, alerts_60m=2, usual_per_hour=2.0),
                rate_features(alerts_5m=30, alerts_60m=90, usual_per_hour=2.0),
            ]
        )
    )
    assert burst > usual


def test_poisson_test_beats_the_isolation_forest_on_injected_bursts() -> None:
    comparison = compare_detectors(seed=0, n_train=1000, n_test=1000)
    assert comparison.n_bursts > 50
    assert comparison.poisson_auc > 0.95
    assert comparison.poisson_auc > comparison.isolation_forest_auc
