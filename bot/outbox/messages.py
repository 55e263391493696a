"""The outbox's message types: what ingestion and people's actions promise, as rows for the outbox (pure).

Every row has a topic (which sink delivers it) and a kind; the payload is one of the TypedDicts of the
shared vocabulary (``analytics.records``). Builders here are the only place rows are made, so what a
sink may receive is listed in one file.
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics.records import (
    Change,
    DraftKind,
    DraftPayload,
    DraftReason,
    DraftRequestPayload,
    DraftSource,
    OpenedPayload,
    OutboxKind,
    OutboxTopic,
    PagerPayload,
    RenotifyPayload,
    UpdatePayload,
)
from storage.outbox import NewMessage

# An update carries at most this many changes (the count says how many there were): a storm of thousands
# of alerts in one incident is one row of bounded size.
MAX_CHANGES = 50


def incident_opened(incident_id: int, *, related_to: int | None = None, page: bool = False) -> NewMessage:
    """Post the incident's root message; a related incident's goes into its primary's thread instead."""
    payload: OpenedPayload = {}
    if related_to is not None:
        payload = {"related_to": related_to, "page": page}
    return NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_OPENED, incident_id, payload)


def incident_updated(incident_id: int, changes: Sequence[Change]) -> NewMessage:
    """Tell the incident's thread what changed (and bring the root message up to date)."""
    payload: UpdatePayload = {"changes": list(changes[:MAX_CHANGES]), "count": len(changes)}
    return NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_UPDATED, incident_id, payload)


def draft_requested(
    incident_id: int, kind: DraftKind, *, reason: DraftReason, requested_by: str | None = None
) -> NewMessage:
    """Ask the "llm" sink for a draft (an LLM's, or the template's without one)."""
    payload: DraftRequestPayload = {
        "kind": DraftKind(kind),
        "reason": DraftReason(reason),
        "requested_by": requested_by,
    }
    return NewMessage(OutboxTopic.LLM, OutboxKind.DRAFT_REQUESTED, incident_id, payload)


def draft_label(source: DraftSource, model: str | None) -> str:
    """How a draft is labelled wherever it is shown (``source`` may be the stored word: "llm")."""
    return (
        f"AI draft ({model or 'unknown model'})"
        if DraftSource(source) is DraftSource.LLM
        else "Template draft"
    )


def incident_draft(
    incident_id: int,
    *,
    draft_id: int,
    kind: DraftKind,
    source: DraftSource,
    model: str | None,
    text: str,
    requested_by: str | None,
) -> NewMessage:
    """Post a stored draft in the incident's thread."""
    payload: DraftPayload = {
        "draft_id": draft_id,
        "kind": DraftKind(kind),
        "source": DraftSource(source),
        "model": model,
        "label": draft_label(source, model),
        "text": text,
        "requested_by": requested_by,
    }
    return NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_DRAFT, incident_id, payload)


def incident_renotify(incident_id: int, *, count: int, unacked_seconds: int) -> NewMessage:
    """A new thread reply that mentions the incident's owner: nobody has acknowledged it in time."""
    payload: RenotifyPayload = {"count": count, "unacked_seconds": unacked_seconds}
    return NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_RENOTIFY, incident_id, payload)


def pager_event(topic: OutboxTopic, incident_id: int, payload: PagerPayload) -> NewMessage:
    """An event for a pager ("pagerduty" or "webhook"): trigger, acknowledge or resolve."""
    return NewMessage(topic, OutboxKind.PAGER_EVENT, incident_id, payload)
