"""Burst and novelty scores over per-service alert rates, used as scoring context (pure; no I/O).

Serving uses :func:`burst_score`, a Poisson tail test of the alerts seen in the last 5 and 60 minutes
against the service's usual hourly rate: exact, O(1) and without a fitted model. :class:`RateIsolationForest`
is the learned alternative (scikit-learn's IsolationForest over :func:`rate_features`);
:func:`compare_detectors` measures both on the same synthetic histories with injected bursts, which is how
the Poisson test was chosen for serving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.scoring import ScoringContext

# A service with no recorded history is assumed to raise half an alert an hour.
FLOOR_PER_HOUR = 0.5
# -log10 of the tail probability above which the rate counts as a burst (p < 0.001) …
BURST_SURPRISE = 3.0
# … provided the observed rate is also at least this many times the usual one.
BURST_RATIO = 3.0
MAX_SURPRISE = 30.0


@dataclass(frozen=True, slots=True)
class BurstScore:
    """How far a service's recent alert rate sits above its usual rate."""

    ratio: float  # observed hourly rate (the larger of the 5 and 60 minute windows) over the usual rate
    surprise: float  # -log10 P(at least this many alerts | usual rate), capped at MAX_SURPRISE
    is_burst: bool


def _poisson_upper_tail_log10(k: int, lam: float) -> float:
    """log10 P(X >= k) for X ~ Poisson(lam) when k > lam (geometric bound on the tail; tight there)."""
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    tail_factor = 1.0 / (1.0 - lam / (k + 1))
    return (log_term + math.log(tail_factor)) / math.log(10.0)


def _window_surprise(observed: int, expected: float) -> float:
    if observed <= expected:
        return 0.0
    return min(MAX_SURPRISE, max(0.0, -_poisson_upper_tail_log10(observed, expected)))


def burst_score(*, alerts_5m: int, alerts_60m: int, usual_per_hour: float) -> BurstScore:
    """Score the last 5 and 60 minutes of one service's alerts against its usual hourly rate."""
    usual = max(usual_per_hour, FLOOR_PER_HOUR)
    surprise = max(
        _window_surprise(alerts_5m, usual / 12.0),
        _window_surprise(alerts_60m, usual),
    )
    ratio = max(alerts_5m * 12.0, float(alerts_60m)) / usual
    return BurstScore(
        ratio=ratio, surprise=surprise, is_burst=surprise >= BURST_SURPRISE and ratio >= BURST_RATIO
    )


def context_burst(context: ScoringContext) -> BurstScore:
    """:func:`burst_score` for the service counts carried by a scoring context."""
    return burst_score(
        alerts_5m=context.service_alerts_5m,
        alerts_60m=context.service_alerts_60m,
        usual_per_hour=context.service_usual_per_hour,
    )


def rate_features(*, alerts_5m: int, alerts_60m: int, usual_per_hour: float) -> NDArray[np.float64]:
    """The per-service rate vector the isolation forest sees (log counts and log ratios)."""
    usual = max(usual_per_hour, FLOOR_PER_HOUR)
    return np.array(
        [
            math.log1p(alerts_5m),
            math.log1p(alerts_60m),
            math.log(usual),
            math.log((alerts_5m * 12.0 + 1.0) / (usual + 1.0)),
            math.log((alerts_60m + 1.0) / (usual + 1.0)),
        ],
        dtype=np.float64,
    )


class RateIsolationForest:
    """IsolationForest over :func:`rate_features`; ``score`` is higher for more unusual rates.

    Follows scikit-learn's estimator contract: parameters only in ``__init__``, ``fit`` returns self,
    learned attributes end in ``_``.
    """

    def __init__(self, *, n_estimators: int = 200, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators, "random_state": self.random_state}

    def set_params(self, **params: Any) -> RateIsolationForest:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X: NDArray[np.float64], y: object = None) -> RateIsolationForest:
        from sklearn.ensemble import IsolationForest

        self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state)
        self.forest_.fit(X)
        return self

    def score(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Anomaly score per row: the negated ``score_samples`` (higher = more anomalous)."""
        return np.asarray(-self.forest_.score_samples(X), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class DetectorComparison:
    """ROC AUC of each detector at telling injected bursts from ordinary windows."""

    n_windows: int
    n_bursts: int
    poisson_auc: float
    isolation_forest_auc: float


def _synthetic_windows(
    rng: np.random.Generator, n: int, burst_share: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int_]]:
    usual = np.exp(rng.uniform(math.log(0.2), math.log(200.0), size=n))
    is_burst = (rng.random(n) < burst_share).astype(np.int_)
    factor = np.where(is_burst == 1, rng.uniform(3.0, 30.0, size=n), 1.0)
    a60 = rng.poisson(usual * factor).astype(np.float64)
    a5 = rng.poisson(usual * factor / 12.0).astype(np.float64)
    return a5, a60, usual, is_burst


def compare_detectors(*, seed: int = 0, n_train: int = 3000, n_test: int = 3000) -> DetectorComparison:
    """Measure the Poisson test against the isolation forest on services with usual rates 0.2–200/h.

    The forest is fitted on ordinary windows only (novelty detection); both are then scored on held-out
    windows of which 10 % carry a burst of 3–30× the usual rate.
    """
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    a5, a60, usual, _ = _synthetic_windows(rng, n_train, burst_share=0.0)
    train = np.stack(
        [
            rate_features(alerts_5m=int(x), alerts_60m=int(y), usual_per_hour=u)
            for x, y, u in zip(a5, a60, usual, strict=True)
        ]
    )
    forest = RateIsolationForest(random_state=seed).fit(train)
    a5, a60, usual, labels = _synthetic_windows(rng, n_test, burst_share=0.1)
    test = np.stack(
        [
            rate_features(alerts_5m=int(x), alerts_60m=int(y), usual_per_hour=u)
            for x, y, u in zip(a5, a60, usual, strict=True)
        ]
    )
    poisson = np.array(
        [
            burst_score(alerts_5m=int(x), alerts_60m=int(y), usual_per_hour=u).surprise
            for x, y, u in zip(a5, a60, usual, strict=True)
        ]
    )
    return DetectorComparison(
        n_windows=n_test,
        n_bursts=int(labels.sum()),
        poisson_auc=float(roc_auc_score(labels, poisson)),
        isolation_forest_auc=float(roc_auc_score(labels, forest.score(test))),
    )
