"""What people do to an incident, in SQL: acknowledge, resolve, set the severity, mark it noise (SQL only).

Each action runs inside the caller's write transaction and writes everything it implies at once: the
incident's new state, a timeline event with the person as actor (at the time the person acted), a
feedback row where the action teaches the model (severity, noise), and an ``incident.updated`` outbox
message for the Slack thread. Used by the Slack app and by ``sevbot replay`` (action records).

An action that changes nothing (acknowledging an acknowledged incident) writes nothing and reports
``changed=False``; callers decide whether to say so. Setting the severity an incident already has is a
confirmation: a feedback row (old = new, a labelled example that the model was right) and a
``severity.confirmed`` timeline event, still ``changed=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from storage.feedback import FeedbackRepository
from storage.models import Incident, TimelineEvent
from storage.outbox import NewMessage, OutboxRepository

SEVERITY_LEVELS = ("SEV1", "SEV2", "SEV3", "SEV4")


class IncidentNotFound(LookupError):
    """No incident has that id."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    incident_id: int
    action: str
    changed: bool
    status: str
    severity: str


@dataclass(frozen=True, slots=True)
class _Current:
    id: int
    status: str
    severity: str
    alertname: str
    opened_at: datetime


class IncidentActions:
    """People's actions on incidents inside the caller's transaction (``with db.write() as conn``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def acknowledge(self, incident_id: int, *, user: str, at: datetime, now: datetime) -> ActionResult:
        """open → acknowledged, by ``user`` at ``at``; acknowledged or resolved incidents stay as they are."""
        current = self._current(incident_id)
        if current.status != "open":
            return self._result(current, "ack", changed=False)
        self._update(incident_id, now, status="acknowledged", acknowledged_at=at, acknowledged_by=user)
        self._record(incident_id, at, now, "incident.acknowledged", user, {"by": user})
        return ActionResult(incident_id, "ack", True, "acknowledged", current.severity)

    def resolve(
        self, incident_id: int, *, user: str, at: datetime, now: datetime, note: str | None = None
    ) -> ActionResult:
        """Resolved by a person (its alerts may still fire; a new firing reopens it as usual)."""
        current = self._current(incident_id)
        if current.status == "resolved":
            return self._result(current, "resolve", changed=False)
        self._update(incident_id, now, status="resolved", resolved_at=at, resolved_by=user)
        data = {"by": user, "note": note} if note else {"by": user}
        self._record(incident_id, at, now, "incident.resolved", user, data)
        return ActionResult(incident_id, "resolve", True, "resolved", current.severity)

    def set_severity(
        self, incident_id: int, *, severity: str, user: str, at: datetime, now: datetime, reason: str | None
    ) -> ActionResult:
        """A person sets the level; it sticks (``severity_source="human"``) and becomes a feedback row
        (a confirmation when it is the level the incident has)."""
        if severity not in SEVERITY_LEVELS:
            raise ValueError(f"severity must be one of {', '.join(SEVERITY_LEVELS)}, not {severity!r}")
        current = self._current(incident_id)
        changed = current.severity != severity
        if changed:
            self._update(incident_id, now, severity=severity, severity_source="human", confidence=1.0)
        FeedbackRepository(self.conn).add(
            incident_id=incident_id,
            kind="severity",
            alertname=current.alertname,
            user=user,
            old_severity=current.severity,
            new_severity=severity,
            reason=reason,
            now=at,
        )
        if not changed:
            self._event(incident_id, at, now, "severity.confirmed", user, {"level": severity, "by": user})
            return self._result(current, "sev", changed=False)
        data = {"from": current.severity, "to": severity, "by": user}
        if reason:
            data["reason"] = reason
        self._record(incident_id, at, now, "severity.changed", user, data)
        return ActionResult(incident_id, "sev", True, current.status, severity)

    def mark_noise(
        self, incident_id: int, *, user: str, at: datetime, now: datetime, reason: str | None
    ) -> ActionResult:
        """A person says the incident was not actionable: a ``noise`` feedback row and a timeline event."""
        current = self._current(incident_id)
        FeedbackRepository(self.conn).add(
            incident_id=incident_id,
            kind="noise",
            alertname=current.alertname,
            user=user,
            old_severity=current.severity,
            new_severity=None,
            reason=reason,
            now=at,
        )
        self._record(
            incident_id,
            at,
            now,
            "incident.noise",
            user,
            {"by": user, "reason": reason} if reason else {"by": user},
        )
        return ActionResult(incident_id, "noise", True, current.status, current.severity)

    # --- helpers ---------------------------------------------------------------------------------

    def _current(self, incident_id: int) -> _Current:
        row = self.conn.execute(
            select(Incident.id, Incident.status, Incident.severity, Incident.alertname, Incident.opened_at)
            .where(Incident.id == incident_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return _Current(**row._mapping)

    def _update(self, incident_id: int, now: datetime, **values: Any) -> None:
        self.conn.execute(update(Incident).where(Incident.id == incident_id).values(updated_at=now, **values))

    def _event(
        self, incident_id: int, at: datetime, now: datetime, kind: str, user: str, data: dict[str, Any]
    ) -> None:
        self.conn.execute(
            insert(TimelineEvent).values(
                incident_id=incident_id, at=at, kind=kind, actor=user, data=data, created_at=now
            )
        )

    def _record(
        self, incident_id: int, at: datetime, now: datetime, kind: str, user: str, data: dict[str, Any]
    ) -> None:
        """A timeline event and the thread update that tells people about it."""
        self._event(incident_id, at, now, kind, user, data)
        change = {"kind": kind, **data}
        OutboxRepository(self.conn).enqueue(
            [NewMessage("slack", "incident.updated", incident_id, {"changes": [change], "count": 1})], now
        )

    @staticmethod
    def _result(current: _Current, action: str, *, changed: bool) -> ActionResult:
        return ActionResult(current.id, action, changed, current.status, current.severity)


def find_incident(
    conn: Connection,
    *,
    at: datetime,
    alertname: str | None = None,
    service: str | None = None,
    group_key: str | None = None,
) -> int | None:
    """The newest incident opened at or before ``at`` with these column values (``None`` if none)."""
    conditions = [Incident.opened_at <= at]
    if alertname is not None:
        conditions.append(Incident.alertname == alertname)
    if service is not None:
        conditions.append(Incident.service == service)
    if group_key is not None:
        conditions.append(Incident.group_key == group_key)
    newest = Incident.opened_at.desc(), Incident.id.desc()
    stmt = select(Incident.id).where(*conditions).order_by(*newest).limit(1)
    found = conn.execute(stmt).scalar_one_or_none()
    return int(found) if found is not None else None
