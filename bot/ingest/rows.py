"""What one ingest transaction writes besides incident states: alert rows and outbox messages (pure)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from analytics.records import AlertRecord, Change, SeveritySource, StoredReason
from analytics.scoring import Score, source_severity
from bot.incidents.rules import IncidentRules
from bot.ingest.related import flapping_draft
from bot.llm import automatic_draft_request
from bot.outbox.messages import incident_updated
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


def change_messages(
    changes: Mapping[int, Sequence[Change]],
    states: Mapping[int, IncidentState],
    *,
    opened: Collection[int],
    rules: IncidentRules,
    now: datetime,
) -> list[NewMessage]:
    """A thread update per changed incident not opened in this transaction (its opening posts are
    :func:`bot.ingest.related.opening_messages`), and the automatic draft its changes call for, held back
    while it flaps."""
    messages = [incident_updated(i, list(changed)) for i, changed in changes.items() if i not in opened]
    for incident_id, changed in changes.items():
        state = states[incident_id]
        request = (
            None
            if incident_id in opened
            else automatic_draft_request(
                incident_id, list(changed), status=state.status, alert_count=state.alert_count
            )
        )
        request = flapping_draft(request, state, rules=rules, now=now)
        if request is not None:
            messages.append(request)
    return messages


def severity_source(score: Score) -> SeveritySource:
    """Where a score's level came from: the rules (the source's word, the policy) or a model."""
    return SeveritySource.RULES if score.model_version.startswith("rules") else SeveritySource.MODEL
