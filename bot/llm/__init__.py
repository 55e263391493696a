"""LLM drafting: incident summaries, runbook suggestions and resolution notes, asked for through the outbox.

The LLM is sevbot's writer, never its judge. Nothing in ingestion or scoring waits for it: a draft is
requested by enqueueing an outbox row (``request_draft``) and written by the "llm" topic's sink
(:mod:`bot.llm.sink`), which falls back to a deterministic template draft when no LLM is configured or the
call times out, fails or is over budget.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection

from storage.outbox import NewMessage, OutboxRepository

DraftKind = Literal["summary", "runbook", "resolution"]
DraftReason = Literal["opened", "severity", "alerts", "resolved", "command"]
DRAFT_KINDS: tuple[str, ...] = ("summary", "runbook", "resolution")
DRAFT_REASONS: tuple[str, ...] = ("opened", "severity", "alerts", "resolved", "command")


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


def draft_request(
    incident_id: int, kind: DraftKind, *, reason: DraftReason, requested_by: str | None = None
) -> NewMessage:
    """The outbox row that asks for a draft (for callers that enqueue several rows at once)."""
    if kind not in DRAFT_KINDS:
        raise ValueError(f"draft kind {kind!r} is not one of {', '.join(DRAFT_KINDS)}")
    if reason not in DRAFT_REASONS:
        raise ValueError(f"draft reason {reason!r} is not one of {', '.join(DRAFT_REASONS)}")
    return NewMessage(
        "llm", "draft.requested", incident_id, {"kind": kind, "reason": reason, "requested_by": requested_by}
    )


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
        [draft_request(incident_id, kind, reason=reason, requested_by=requested_by)], now
    )
