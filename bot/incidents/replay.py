"""People's actions as replayable records: validate ``{"source": "action", …}`` lines and apply them.

A replay file (``sevbot replay``) may hold, besides webhook payloads, what people did, in time order::

    {"source": "action", "action": "ack", "user": "U_ALICE", "at": "2026-11-20T08:04:00Z",
     "incident_match": {"alertname": "CheckoutHighErrorRate", "service": "checkout"}}

``action`` is ``ack`` | ``resolve`` | ``sev`` (needs ``"severity": "SEV1".."SEV4"``) | ``noise``; ``reason``
is optional text. ``incident_match`` names the incident by ``alertname``, ``service`` and/or
``group_key`` (at least one): the newest incident with those values opened at or before ``at``.
The writes go through :class:`bot.incidents.actions.IncidentActions`, the same code the Slack app uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from analytics.records import Severity
from bot.errors import NoMatchingIncident
from bot.incidents.actions import Action, ActionResult, IncidentActions
from bot.normalize.common import validate
from storage.db import Database
from storage.incidents import IncidentRepository

ACTION_SOURCE = "action"


class IncidentMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alertname: str | None = Field(default=None, min_length=1, max_length=255)
    service: str | None = Field(default=None, min_length=1, max_length=255)
    group_key: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _something(self) -> IncidentMatch:
        if self.alertname is None and self.service is None and self.group_key is None:
            raise ValueError("needs at least one of alertname, service, group_key")
        return self


class ActionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["action"]
    action: Action
    incident_match: IncidentMatch
    user: str = Field(min_length=1, max_length=255)
    at: AwareDatetime
    severity: Severity | None = None
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _severity_for_sev(self) -> ActionRecord:
        if self.action == "sev" and self.severity is None:
            raise ValueError('action "sev" needs "severity" (SEV1..SEV4)')
        if self.action != "sev" and self.severity is not None:
            raise ValueError(f'"severity" is only for action "sev", not {self.action!r}')
        return self


def parse_action(entry: Any) -> ActionRecord:
    """Validate one decoded replay entry; raises ``PayloadError`` naming the wrong fields."""
    return validate(ActionRecord, entry)


def apply_action(db: Database, record: ActionRecord, *, now: Callable[[], datetime]) -> ActionResult:
    """Apply one action in its own write transaction; raises ``NoMatchingIncident`` if nothing matches."""
    match = record.incident_match
    with db.write() as conn:
        incident_id = IncidentRepository(conn).find_newest(
            at=record.at, alertname=match.alertname, service=match.service, group_key=match.group_key
        )
        if incident_id is None:
            raise NoMatchingIncident(
                f"no incident matches {match.model_dump(exclude_none=True)} at {record.at.isoformat()}"
            )
        actions = IncidentActions(conn)
        if record.action == "ack":
            return actions.acknowledge(incident_id, user=record.user, at=record.at, now=now())
        if record.action == "resolve":
            return actions.resolve(incident_id, user=record.user, at=record.at, now=now())
        if record.action == "noise":
            return actions.mark_noise(
                incident_id, user=record.user, at=record.at, now=now(), reason=record.reason
            )
        assert record.severity is not None
        return actions.set_severity(
            incident_id,
            severity=record.severity,
            user=record.user,
            at=record.at,
            now=now(),
            reason=record.reason,
        )
