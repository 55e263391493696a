"""Population stability of the severity model in production against its training data (pure; no I/O).

Data flow: ``TrainingSummary`` (stored with the model: predicted-level shares and the commonest
features' shares) + recent feature dicts and predicted levels (from storage) ─► :func:`drift_report` ─►
``sevbot report``.

PSI = Σ (actual − expected) · ln(actual / expected) over bins; by the usual rule of thumb below 0.1 is
stable, 0.1–0.25 is a moderate shift and above 0.25 a major one. Empty bins are floored at ``EPSILON``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analytics.lean import TrainingSummary

EPSILON = 1e-4
MODERATE = 0.1
MAJOR = 0.25


def psi(*, expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """PSI between two categorical distributions given as shares or counts (each normalised here)."""
    keys = sorted(set(expected) | set(actual))
    exp_total = sum(expected.values()) or 1.0
    act_total = sum(actual.values()) or 1.0
    total = 0.0
    for key in keys:
        e = max(expected.get(key, 0.0) / exp_total, EPSILON)
        a = max(actual.get(key, 0.0) / act_total, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def numeric_psi(*, expected: ArrayLike, actual: ArrayLike, bins: int = 10) -> float:
    """PSI of a numeric variable, binned at the deciles (``bins`` quantiles) of the expected sample."""
    exp = np.asarray(expected, dtype=np.float64)
    act = np.asarray(actual, dtype=np.float64)
    edges = np.unique(np.quantile(exp, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    exp_bins = Counter(np.searchsorted(edges, exp, side="right").tolist())
    act_bins = Counter(np.searchsorted(edges, act, side="right").tolist())
    return psi(
        expected={str(k): float(v) for k, v in exp_bins.items()},
        actual={str(k): float(v) for k, v in act_bins.items()},
    )


def _presence_psi(expected_share: float, actual_share: float) -> float:
    return psi(
        expected={"present": expected_share, "absent": 1.0 - expected_share},
        actual={"present": actual_share, "absent": 1.0 - actual_share},
    )


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    feature: str
    training_share: float
    recent_share: float
    psi: float


@dataclass(frozen=True, slots=True)
class DriftReport:
    n_recent: int
    level_psi: float
    level_training: Mapping[str, float]
    level_recent: Mapping[str, float]
    features: tuple[FeatureDrift, ...]  # largest PSI first

    @property
    def status(self) -> str:
        worst = max([self.level_psi, *(f.psi for f in self.features)], default=0.0)
        return "major" if worst > MAJOR else "moderate" if worst > MODERATE else "stable"


def drift_report(
    *,
    summary: TrainingSummary,
    recent_levels: Iterable[str],
    recent_features: Sequence[Mapping[str, float]],
) -> DriftReport:
    """Compare recent predicted levels and feature presence with the model's training baseline."""
    counts = Counter(recent_levels)
    total = sum(counts.values())
    recent = {key: counts[key] / total for key in sorted(counts)} if total else {}
    n = len(recent_features)
    drifts = []
    for feature, train_share in summary.feature_share.items():
        share = sum(1 for row in recent_features if feature in row) / n if n else 0.0
        drifts.append(
            FeatureDrift(
                feature=feature,
                training_share=train_share,
                recent_share=share,
                psi=_presence_psi(train_share, share),
            )
        )
    drifts.sort(key=lambda d: -d.psi)
    return DriftReport(
        n_recent=total,
        level_psi=psi(expected=summary.level_distribution, actual=recent) if total else 0.0,
        level_training=dict(summary.level_distribution),
        level_recent=recent,
        features=tuple(drifts),
    )
