"""People's actions on an incident: acknowledge, resolve, set the severity, mark it noise (life-cycle rules).

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

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from analytics.records import (
    Change,
    ChangeKind,
    FeedbackKind,
    IncidentStatus,
    Severity,
    SeveritySource,
    TimelineKind,
    severity_change,
)
from bot.errors import IncidentNotFound
from bot.outbox.messages import incident_updated
from storage.feedback import FeedbackRepository
from storage.incident_rows import CurrentIncident, IncidentChange, NewEvent
from storage.incidents import IncidentRepository
from storage.outbox import OutboxRepository


class Action(enum.StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    SEV = "sev"
    NOISE = "noise"


@dataclass(frozen=True, slots=True)
class ActionResult:
    incident_id: int
    action: Action
    changed: bool
    status: IncidentStatus
    severity: Severity
    firing: int = 0  # alerts still firing (a person may resolve an incident whose alerts still fire)


class IncidentActions:
    """People's actions on incidents inside the caller's transaction (``with db.write() as conn``)."""

    def __init__(self, conn: Connection) -> None:
        self.incidents = IncidentRepository(conn)
        self.feedback = FeedbackRepository(conn)
        self.outbox = OutboxRepository(conn)

    def acknowledge(self, incident_id: int, *, user: str, at: datetime, now: datetime) -> ActionResult:
        """open → acknowledged, by ``user`` at ``at``; acknowledged or resolved incidents stay as they are."""
        current = self._current(incident_id)
        if current.status is not IncidentStatus.OPEN:
            return _result(current, Action.ACK, changed=False)
        change = IncidentChange(status=IncidentStatus.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=user)
        self.incidents.change(incident_id, change, now=now)
        self._tell(incident_id, at, now, TimelineKind.INCIDENT_ACKNOWLEDGED, user, {"by": user})
        return ActionResult(incident_id, Action.ACK, True, IncidentStatus.ACKNOWLEDGED, current.severity)

    def resolve(
        self, incident_id: int, *, user: str, at: datetime, now: datetime, note: str | None = None
    ) -> ActionResult:
        """Resolved by a person. Its alerts may still fire: the next notification of any of them reopens
        it (see :mod:`bot.ingest.apply`), and the thread says how many still fire."""
        current = self._current(incident_id)
        if current.status is IncidentStatus.RESOLVED:
            return _result(current, Action.RESOLVE, changed=False)
        change = IncidentChange(status=IncidentStatus.RESOLVED, resolved_at=at, resolved_by=user)
        self.incidents.change(incident_id, change, now=now)
        data: dict[str, object] = {"by": user, "note": note} if note else {"by": user}
        if current.firing_count:
            data["firing"] = current.firing_count
        self._tell(incident_id, at, now, TimelineKind.INCIDENT_RESOLVED, user, data)
        return ActionResult(
            incident_id, Action.RESOLVE, True, IncidentStatus.RESOLVED, current.severity, current.firing_count
        )

    def set_severity(
        self, incident_id: int, *, severity: str, user: str, at: datetime, now: datetime, reason: str | None
    ) -> ActionResult:
        """A person sets the level; it sticks (``severity_source="human"``) and becomes a feedback row
        (a confirmation when it is the level the incident has)."""
        try:
            level = Severity(severity)
        except ValueError:
            levels = ", ".join(Severity)
            raise ValueError(f"severity must be one of {levels}, not {severity!r}") from None
        current = self._current(incident_id)
        changed = current.severity is not level
        if changed:
            change = IncidentChange(severity=level, severity_source=SeveritySource.HUMAN, confidence=1.0)
            self.incidents.change(incident_id, change, now=now)
        self.feedback.add(
            incident_id=incident_id,
            kind=FeedbackKind.SEVERITY,
            alertname=current.alertname,
            user=user,
            old_severity=current.severity,
            new_severity=level,
            reason=reason,
            now=at,
        )
        if not changed:
            self._record(
                incident_id, at, now, TimelineKind.SEVERITY_CONFIRMED, user, {"level": level, "by": user}
            )
            return _result(current, Action.SEV, changed=False)
        update = severity_change(current.severity, level, by=user, reason=reason)
        data = {k: v for k, v in update.items() if k != "kind"}
        self._record(incident_id, at, now, TimelineKind.SEVERITY_CHANGED, user, data)
        self._enqueue(incident_id, update, now)
        return ActionResult(incident_id, Action.SEV, True, current.status, level)

    def mark_noise(
        self, incident_id: int, *, user: str, at: datetime, now: datetime, reason: str | None
    ) -> ActionResult:
        """A person says the incident was not actionable: a ``noise`` feedback row and a timeline event."""
        current = self._current(incident_id)
        self.feedback.add(
            incident_id=incident_id,
            kind=FeedbackKind.NOISE,
            alertname=current.alertname,
            user=user,
            old_severity=current.severity,
            new_severity=None,
            reason=reason,
            now=at,
        )
        data = {"by": user, "reason": reason} if reason else {"by": user}
        self._tell(incident_id, at, now, TimelineKind.INCIDENT_NOISE, user, data)
        return ActionResult(incident_id, Action.NOISE, True, current.status, current.severity)

    # --- helpers ---------------------------------------------------------------------------------

    def _current(self, incident_id: int) -> CurrentIncident:
        current = self.incidents.lock(incident_id)
        if current is None:
            raise IncidentNotFound(incident_id)
        return current

    def _record(
        self,
        incident_id: int,
        at: datetime,
        now: datetime,
        kind: TimelineKind,
        user: str,
        data: Mapping[str, object],
    ) -> None:
        self.incidents.add_events(
            [NewEvent(incident_id=incident_id, at=at, kind=kind, data=data, created_at=now, actor=user)]
        )

    def _tell(
        self,
        incident_id: int,
        at: datetime,
        now: datetime,
        kind: TimelineKind,
        user: str,
        data: Mapping[str, object],
    ) -> None:
        """A timeline event and the thread update that tells people about it."""
        self._record(incident_id, at, now, kind, user, data)
        change: Change = {"kind": ChangeKind(kind.value)}
        for key in ("by", "note", "reason"):
            if key in data:
                change[key] = str(data[key])
        firing = data.get("firing")
        if isinstance(firing, int):
            change["firing"] = firing
        self._enqueue(incident_id, change, now)

    def _enqueue(self, incident_id: int, change: Change, now: datetime) -> None:
        self.outbox.enqueue([incident_updated(incident_id, [change])], now)


def _result(current: CurrentIncident, action: Action, *, changed: bool) -> ActionResult:
    return ActionResult(current.id, action, changed, current.status, current.severity, current.firing_count)
