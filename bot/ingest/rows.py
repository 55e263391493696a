"""What one ingest transaction writes besides incident states: alert rows and outbox messages (pure)."""

from __future__ import annotations

from datetime import datetime

from analytics.records import AlertRecord, StoredReason
from analytics.scoring import Score, source_severity
from storage.incident_rows import NewAlert


def alert_row(
    record: AlertRecord, *, incident_id: int, starts_at: datetime, score: Score, now: datetime
) -> NewAlert:
    """The stored firing of ``record`` in ``incident_id``, with its score."""
    return NewAlert(
        incident_id=incident_id,
        source=record.source,
        group_key=record.group_key,
        fingerprint=record.fingerprint,
        alertname=record.alertname,
        title=record.title,
        service=record.service,
        labels=record.labels,
        annotations=record.annotations,
        links=record.links,
        values=record.values,
        generator_url=record.generator_url,
        expression=record.expression,
        starts_at=starts_at,
        severity=score.level,
        source_severity=source_severity(record.labels),
        probabilities={level.value: p for level, p in score.probabilities.items()},
        reasons=stored_reasons(score),
        model_version=score.model_version,
        received_at=now,
    )


def stored_reasons(score: Score) -> list[StoredReason]:
    return [{"text": r.text, "weight": r.weight} for r in score.reasons]
