"""Heartbeats: always-firing alerts (Watchdog, DeadMansSwitch) that prove the alerting pipeline works.

Ingestion takes them out of every batch before grouping (:meth:`HeartbeatWatch.take`): they never become
incidents; each firing one records, in the same transaction, when that (source, alert name) last arrived.
A ticker step (:meth:`HeartbeatWatch.run`) opens a SEV1 incident "Alerting pipeline silent" for each one not
seen for ``heartbeat.timeout``, and resolves it when the heartbeat comes back. Both run under a lock on the
heartbeat rows, so several processes open one incident per silence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from analytics.records import (
    AlertRecord,
    AlertStatus,
    ChangeKind,
    IncidentStatus,
    Severity,
    SeveritySource,
    TimelineKind,
)
from bot.outbox.messages import incident_opened, incident_updated
from bot.settings.escalation import HeartbeatConfig
from storage.db import Database
from storage.heartbeats import HeartbeatRepository, HeartbeatRow
from storage.incident_rows import IncidentChange, NewEvent, NewIncident
from storage.incidents import IncidentRepository
from storage.outbox import NewMessage, OutboxRepository

log = logging.getLogger(__name__)

SILENT_ALERTNAME = "AlertingPipelineSilent"
SILENT_TITLE = "Alerting pipeline silent"


@dataclass(frozen=True, slots=True)
class HeartbeatPass:
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)

    @property
    def queued(self) -> bool:
        return bool(self.opened or self.resolved)


def describe_gap(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


class HeartbeatWatch:
    def __init__(self, *, config: HeartbeatConfig, clock: Callable[[], datetime]) -> None:
        self.names = frozenset(config.alerts)
        self.timeout = config.timeout
        self.clock = clock

    def is_heartbeat(self, record: AlertRecord) -> bool:
        return record.labels.get("alertname") in self.names

    def take(
        self, conn: Connection, batches: Sequence[Sequence[AlertRecord]], now: datetime
    ) -> list[list[AlertRecord]]:
        """Record the heartbeats among ``batches`` (inside the ingest transaction); the other alerts."""
        if not self.names:
            return [list(batch) for batch in batches]
        kept: list[list[AlertRecord]] = []
        beats: set[tuple[str, str]] = set()
        for batch in batches:
            kept.append([r for r in batch if not self.is_heartbeat(r)])
            beats.update(
                (r.source, r.labels["alertname"])
                for r in batch
                if self.is_heartbeat(r) and r.status is AlertStatus.FIRING
            )
        HeartbeatRepository(conn).seen(beats, at=now)
        return kept

    def run(self, db: Database) -> HeartbeatPass:
        """Open an incident for each heartbeat silent past the timeout; resolve those that came back."""
        now = self.clock()
        result = HeartbeatPass()
        if not self.names:
            return result
        with db.write() as conn:
            beats = HeartbeatRepository(conn)
            incidents = IncidentRepository(conn)
            messages: list[NewMessage] = []
            for row in beats.all(lock=True):
                if row.alertname not in self.names:
                    continue  # no longer configured: neither watched nor alarmed about
                silent = now - row.last_seen_at >= self.timeout
                if silent and row.silent_incident_id is None:
                    incident_id = self._open(incidents, row, now, messages)
                    beats.mark_silent(row, incident_id)
                    result.opened.append(incident_id)
                elif not silent and row.silent_incident_id is not None:
                    if self._resolve(incidents, row, now, messages):
                        result.resolved.append(row.silent_incident_id)
                    beats.mark_silent(row, None)
            OutboxRepository(conn).enqueue(messages, now)
        return result

    def _open(
        self, incidents: IncidentRepository, row: HeartbeatRow, now: datetime, messages: list[NewMessage]
    ) -> int:
        seen = f"{row.last_seen_at:%Y-%m-%d %H:%M:%S} UTC"
        why = (
            f"no {row.alertname} heartbeat from {row.source} for {describe_gap(now - row.last_seen_at)}"
            f" (last seen {seen}; the timeout is {describe_gap(self.timeout)})"
        )
        incident_id = incidents.insert_incident(
            NewIncident(
                group_key=f"sevbot:heartbeat:{row.alertname}",
                title=f"{SILENT_TITLE}: no {row.alertname} from {row.source} since {seen}",
                alertname=SILENT_ALERTNAME,
                service=None,
                source=row.source,
                severity=Severity.SEV1,
                severity_source=SeveritySource.RULES,
                confidence=1.0,
                model_version="heartbeat",
                reasons=[{"text": why, "weight": 0.0}],
                labels={
                    "alertname": SILENT_ALERTNAME,
                    "heartbeat": row.alertname,
                    "heartbeat_source": row.source,
                    "last_seen": row.last_seen_at.isoformat(),
                },
                opened_at=now,
                updated_at=now,
            )
        )
        data = {"severity": Severity.SEV1.value, "heartbeat": row.alertname, "last_seen": seen}
        incidents.add_events([NewEvent(incident_id, now, TimelineKind.INCIDENT_OPENED, data, now)])
        messages.append(incident_opened(incident_id))
        log.warning(
            "heartbeat silent; incident opened",
            extra={"incident_id": incident_id, "source": row.source, "heartbeat": row.alertname},
        )
        return incident_id

    def _resolve(
        self, incidents: IncidentRepository, row: HeartbeatRow, now: datetime, messages: list[NewMessage]
    ) -> bool:
        assert row.silent_incident_id is not None
        current = incidents.lock(row.silent_incident_id)
        if current is None or current.status is IncidentStatus.RESOLVED:
            return False  # pruned, or resolved by a person meanwhile
        note = f"the {row.alertname} heartbeat from {row.source} is back ({row.last_seen_at:%H:%M:%S} UTC)"
        incidents.change(
            row.silent_incident_id, IncidentChange(status=IncidentStatus.RESOLVED, resolved_at=now), now=now
        )
        data = {"by": "heartbeat", "note": note}
        incidents.add_events(
            [NewEvent(row.silent_incident_id, now, TimelineKind.INCIDENT_RESOLVED, data, now)]
        )
        messages.append(
            incident_updated(
                row.silent_incident_id,
                [{"kind": ChangeKind.INCIDENT_RESOLVED, "by": "heartbeat", "note": note}],
            )
        )
        log.info("heartbeat back; incident resolved", extra={"incident_id": row.silent_incident_id})
        return True

    def last_seen(self, db: Database) -> dict[tuple[str, ...], float]:
        """(source, alert name) → when last seen, Unix time (``/metrics``)."""
        with db.read() as conn:
            return {
                (r.source, r.alertname): r.last_seen_at.timestamp() for r in HeartbeatRepository(conn).all()
            }
