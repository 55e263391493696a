"""LLM drafting: incident summaries, runbook suggestions and resolution notes, asked for through the outbox.

The LLM is sevbot's writer, never its judge. Nothing in ingestion or scoring waits for it: a draft is
requested by enqueueing an outbox row (``request_draft``, or :func:`automatic_draft_request` from
ingestion) and written by the "llm" topic's sink (:mod:`bot.llm.sink`), which falls back to a
deterministic template draft when no LLM is configured or the call times out, fails or is over budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from analytics.records import Change, ChangeKind, DraftKind, DraftReason, IncidentStatus
from bot.outbox.messages import draft_requested
from storage.outbox import NewMessage, OutboxRepository


def alert_growth_is_material(before: int, after: int) -> bool:
    """Whether an incident growing from ``before`` to ``after`` alerts deserves a new summary.

    The marks are 11, 22, 44, 88 … alerts (each at least double the last and at least 10 more), so a storm
    of any size asks for a handful of redrafts at most, and a trickle of single alerts asks for none.
    """
    mark = 1
    while mark <= after:
        if before < mark and mark > 1:
            return True
        mark = max(2 * mark, mark + 10)
    return False


def automatic_draft_request(
    incident_id: int, changes: Sequence[Change], *, status: str, alert_count: int
) -> NewMessage | None:
    """The draft ingestion asks for after these changes of an incident, if any: material changes only
    (resolved, reopened, severity changed, many more alerts)."""
    kinds = [change["kind"] for change in changes]
    joined = kinds.count(ChangeKind.ALERT_JOINED)
    if ChangeKind.INCIDENT_RESOLVED in kinds and status == IncidentStatus.RESOLVED:
        return draft_requested(incident_id, DraftKind.RESOLUTION, reason=DraftReason.RESOLVED)
    if ChangeKind.INCIDENT_REOPENED in kinds:
        return draft_requested(incident_id, DraftKind.SUMMARY, reason=DraftReason.OPENED)
    if ChangeKind.SEVERITY_CHANGED in kinds:
        return draft_requested(incident_id, DraftKind.SUMMARY, reason=DraftReason.SEVERITY)
    if joined and alert_growth_is_material(alert_count - joined, alert_count):
        return draft_requested(incident_id, DraftKind.SUMMARY, reason=DraftReason.ALERTS)
    return None


def request_draft(
    conn: Connection,
    incident_id: int,
    kind: DraftKind,
    *,
    reason: DraftReason,
    requested_by: str | None,
    now: datetime,
) -> None:
    """Ask for a draft inside the caller's transaction; the "llm" outbox sink writes it later."""
    OutboxRepository(conn).enqueue(
        [draft_requested(incident_id, kind, reason=reason, requested_by=requested_by)], now
    )
