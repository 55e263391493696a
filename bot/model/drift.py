"""Live drift: the last day's alerts and predicted levels against the serving model's training data."""

from __future__ import annotations

from datetime import datetime, timedelta

from analytics.drift import DriftReport, drift_report
from analytics.model import ModelScorer
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import Scorer
from storage.alerts import AlertStats
from storage.db import Database


def live_drift(
    db: Database, scorer: Scorer, *, now: datetime, window: timedelta = timedelta(days=1), limit: int = 5000
) -> DriftReport | None:
    """Predicted levels and feature presence of recent alerts against the serving model's training data."""
    if not isinstance(scorer, ModelScorer):
        return None
    with db.read() as conn:
        rows = AlertStats(conn).received_since(now - window, limit=limit)
    model = scorer.model
    features = [
        model.features(
            AlertRecord(
                source=r.source,
                fingerprint=r.fingerprint,
                status=AlertStatus.FIRING,
                labels=dict(r.labels),
                annotations=dict(r.annotations),
                starts_at=None,
                ends_at=None,
                group_key="",
                expression=r.expression,
            )
        )
        for r in rows
    ]
    levels = [r.severity for r in rows]
    return drift_report(summary=model.summary, recent_levels=levels, recent_features=features)
