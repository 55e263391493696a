"""What ``sevbot db prune --before DATE`` deletes: resolved incidents and all that hangs off them (SQL only;
the routine retention of outbox rows and LLM prompts is in the outbox and draft repositories)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, delete, func, select
from sqlalchemy.orm import InstrumentedAttribute

from analytics.records import IncidentStatus
from storage.models import Alert, Base, Draft, Feedback, Incident, OutboxMessage, TimelineEvent

# The rows that belong to an incident, child table by child table. LLM call records are not among them:
# they stay (their incident id set to NULL by the foreign key), as budgets and reports count them.
_CHILDREN: tuple[tuple[str, type[Base], InstrumentedAttribute[int | None]], ...] = (
    ("alerts", Alert, Alert.incident_id),
    ("timeline_events", TimelineEvent, TimelineEvent.incident_id),
    ("feedback", Feedback, Feedback.incident_id),
    ("drafts", Draft, Draft.incident_id),
    ("outbox_rows", OutboxMessage, OutboxMessage.incident_id),
)


@dataclass(frozen=True, slots=True)
class IncidentPrune:
    """How many rows went (or, counted before a prune, would go)."""

    incidents: int = 0
    alerts: int = 0
    timeline_events: int = 0
    feedback: int = 0
    drafts: int = 0
    outbox_rows: int = 0

    def __add__(self, other: IncidentPrune) -> IncidentPrune:
        return IncidentPrune(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self))
        )


def _prunable(before: datetime) -> Select[int]:
    """Incidents resolved before ``before`` that saw no alert since: open ones are never pruned."""
    return select(Incident.id).where(
        Incident.status == IncidentStatus.RESOLVED,
        Incident.resolved_at < before,
        Incident.last_alert_at < before,
    )


def count_prunable(conn: Connection, *, before: datetime) -> IncidentPrune:
    ids = _prunable(before).scalar_subquery()
    counts = {
        name: int(conn.execute(select(func.count()).select_from(model).where(column.in_(ids))).scalar_one())
        for name, model, column in _CHILDREN
    }
    incidents = int(conn.execute(select(func.count()).select_from(_prunable(before).subquery())).scalar_one())
    return IncidentPrune(incidents=incidents, **counts)


def prune_incidents(conn: Connection, *, before: datetime, batch: int = 500) -> IncidentPrune:
    """Delete up to ``batch`` prunable incidents with their alerts, timeline, feedback, drafts and outbox
    rows; call again (each call in its own transaction) until it deletes no incident."""
    ids = list(conn.execute(_prunable(before).order_by(Incident.id).limit(batch)).scalars())
    if not ids:
        return IncidentPrune()
    # Explicit deletes rather than ON DELETE CASCADE alone: counted, and the same on both databases.
    counts = {
        name: int(conn.execute(delete(model).where(column.in_(ids))).rowcount)
        for name, model, column in _CHILDREN
    }
    deleted = int(conn.execute(delete(Incident).where(Incident.id.in_(ids))).rowcount)
    return IncidentPrune(incidents=deleted, **counts)
