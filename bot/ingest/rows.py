"""What one ingest transaction writes besides incident states: alert rows and outbox messages (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from analytics.records import AlertRecord, Change, DraftKind, DraftReason, StoredReason
from analytics.scoring import Score, source_severity
from bot.llm import automatic_draft_request
from bot.outbox.messages import draft_requested, incident_opened, incident_updated
from storage.incident_rows import IncidentState, NewAlert
from storage.outbox import NewMessage


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


def outbox_messages(
    *,
    opened: Sequence[int],
    changes: Mapping[int, Sequence[Change]],
    states: Mapping[int, IncidentState],
) -> list[NewMessage]:
    """A root post and a summary draft per opened incident; a thread update (and perhaps an automatic
    draft) per changed incident that was not opened in this transaction."""
    new = set(opened)
    messages = [incident_opened(incident_id) for incident_id in opened]
    messages += [
        incident_updated(incident_id, changed)
        for incident_id, changed in changes.items()
        if incident_id not in new
    ]
    messages += [draft_requested(i, DraftKind.SUMMARY, reason=DraftReason.OPENED) for i in opened]
    for incident_id, changed in changes.items():
        if incident_id in new:
            continue
        state = states[incident_id]
        request = automatic_draft_request(
            incident_id, list(changed), status=state.status, alert_count=state.alert_count
        )
        if request is not None:
            messages.append(request)
    return messages
