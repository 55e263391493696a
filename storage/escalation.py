"""Escalation's SQL: open incidents waiting for an acknowledgement, and compare-and-set claims of a
reminder or a pager event, so two processes never send the same one (Core; the caller's transaction).

A claim is one ``UPDATE … WHERE`` that names the values the claimer read: on PostgreSQL a second claimer
blocks on the first one's row lock, then sees the changed row and matches nothing; SQLite serializes
writers anyway. Only the claimer whose update matched queues the outbox rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from analytics.records import IncidentStatus, PagerState, TimelineKind
from storage.models import Incident, TimelineEvent

MAX_PER_TICK = 500  # incidents looked at per tick (oldest first): a storm is worked through over ticks


@dataclass(frozen=True, slots=True)
class Waiting:
    """An incident escalation looks at: its state, when it became open, its reminders and pager state."""

    id: int
    status: str
    severity: str
    title: str
    service: str | None
    source: str
    opened_at: datetime
    renotify_count: int
    renotified_at: datetime | None
    pager_state: str | None


_COLUMNS = (
    Incident.id,
    Incident.status,
    Incident.severity,
    Incident.title,
    Incident.service,
    Incident.source,
    Incident.opened_at,
    Incident.renotify_count,
    Incident.renotified_at,
    Incident.pager_state,
)


class EscalationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def open_incidents(self, severities: Sequence[str], *, limit: int = MAX_PER_TICK) -> list[Waiting]:
        """Open (unacknowledged) incidents of these severities, oldest first."""
        if not severities:
            return []
        stmt = (
            select(*_COLUMNS)
            .where(Incident.status == IncidentStatus.OPEN, Incident.severity.in_(list(severities)))
            .order_by(Incident.id)
            .limit(limit)
        )
        return [Waiting(**row._mapping) for row in self.conn.execute(stmt)]

    def pager_behind(self, *, limit: int = MAX_PER_TICK) -> list[Waiting]:
        """Paged incidents whose pager has not heard of their acknowledgement or resolution yet."""
        triggered = (Incident.pager_state == PagerState.TRIGGERED) & (Incident.status != IncidentStatus.OPEN)
        acknowledged = (Incident.pager_state == PagerState.ACKNOWLEDGED) & (
            Incident.status == IncidentStatus.RESOLVED
        )
        stmt = select(*_COLUMNS).where(triggered | acknowledged).order_by(Incident.id).limit(limit)
        return [Waiting(**row._mapping) for row in self.conn.execute(stmt)]

    def reopened_at(self, incident_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these incidents was last reopened (absent: never)."""
        ids = sorted(set(incident_ids))
        if not ids:
            return {}
        stmt = (
            select(TimelineEvent.incident_id, func.max(TimelineEvent.at))
            .where(
                TimelineEvent.incident_id.in_(ids),
                TimelineEvent.kind == TimelineKind.INCIDENT_REOPENED,
            )
            .group_by(TimelineEvent.incident_id)
        )
        return {int(incident_id): at for incident_id, at in self.conn.execute(stmt)}

    def claim_reminder(self, seen: Waiting, *, now: datetime) -> bool:
        """Count one more reminder for ``seen``, if it is still open with the reminders read."""
        return self._set(
            seen,
            Incident.status == IncidentStatus.OPEN,
            renotify_count=seen.renotify_count + 1,
            renotified_at=now,
        )

    def claim_pager(self, seen: Waiting, state: PagerState) -> bool:
        """Move the pager state from the one read to ``state``."""
        return self._set(seen, pager_state=state)

    def _set(self, seen: Waiting, *conditions: Any, **values: Any) -> bool:
        stmt = (
            update(Incident)
            .where(
                Incident.id == seen.id,
                Incident.renotify_count == seen.renotify_count,
                Incident.pager_state.is_(None)
                if seen.pager_state is None
                else Incident.pager_state == seen.pager_state,
                *conditions,
            )
            .values(**values)
        )
        return bool(self.conn.execute(stmt).rowcount)
