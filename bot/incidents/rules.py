"""Incident rules: which incident a firing alert joins, and when an incident flaps (pure; no I/O).

Times are event times (an alert's ``startsAt`` / ``endsAt``), not arrival times, so a replayed or
delayed notification is grouped exactly as it would have been live.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analytics.records import IncidentStatus, TimelineKind
from bot.incidents.correlation import Relation


class Placement(enum.Enum):
    JOIN = "join"  # the group's incident is still open or acknowledged
    REOPEN = "reopen"  # it resolved less than the reopen window before this alert fired
    NEW = "new"  # no incident yet, or it resolved longer ago than the window


@dataclass(frozen=True, slots=True)
class IncidentRules:
    reopen_window: timedelta = timedelta(minutes=30)
    flap_changes: int = 6
    flap_window: timedelta = timedelta(hours=1)
    relation: Relation = field(default_factory=Relation)
    stable_after: timedelta = timedelta(minutes=15)  # a flapping incident's resolution draft waits this long


# Timeline kinds that count as a state change when deciding whether an incident flaps. Changes are counted
# per alert (by fingerprint) and for the incident itself, so twenty alerts resolving together are one
# change each, not twenty changes of one thing.
STATE_CHANGE_KINDS: tuple[TimelineKind, ...] = (
    TimelineKind.ALERT_RESOLVED,
    TimelineKind.ALERT_REFIRED,
    TimelineKind.INCIDENT_RESOLVED,
    TimelineKind.INCIDENT_REOPENED,
)
INCIDENT_KEY = "incident"


def change_key(kind: str, data: Mapping[str, object]) -> str:
    """What changed state: the incident itself, or one alert (its fingerprint)."""
    if kind.startswith("incident."):
        return INCIDENT_KEY
    return str(data.get("fingerprint") or INCIDENT_KEY)


def place_firing_alert(
    *, status: str | None, resolved_at: datetime | None, fired_at: datetime, rules: IncidentRules
) -> Placement:
    """Where a new firing alert goes, given its group's newest incident (``status=None``: none yet)."""
    if status is None:
        return Placement.NEW
    if status != IncidentStatus.RESOLVED:
        return Placement.JOIN
    if resolved_at is not None and fired_at - resolved_at <= rules.reopen_window:
        return Placement.REOPEN
    return Placement.NEW


def is_flapping(changes: Iterable[tuple[datetime, str]], *, now: datetime, rules: IncidentRules) -> bool:
    """More than ``flap_changes`` state changes of one thing (an alert or the incident) within
    ``flap_window`` before ``now``; ``changes`` are (time, what changed) pairs."""
    window_start = now - rules.flap_window
    counts: Counter[str] = Counter(key for at, key in changes if window_start <= at <= now)
    return any(count > rules.flap_changes for count in counts.values())
