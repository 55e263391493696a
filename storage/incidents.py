"""The incident aggregate in SQL: incidents, their alerts and timeline events (Core, on a connection)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from storage.models import Alert, Incident, TimelineEvent

INCIDENT_STATUSES = ("open", "acknowledged", "resolved")


@dataclass(slots=True)
class IncidentState:
    """The fields ingestion reads and changes; ``dirty`` marks what must be written back."""

    id: int
    group_key: str
    status: str
    severity: str
    severity_source: str
    confidence: float
    model_version: str | None
    reasons: list[Any]
    firing_count: int
    alert_count: int
    flapping: bool
    opened_at: datetime
    resolved_at: datetime | None
    last_alert_at: datetime
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class KnownAlert:
    id: int
    incident_id: int
    source: str
    group_key: str
    fingerprint: str
    starts_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: str | None = None
    severity: str | None = None
    service: str | None = None
    since: datetime | None = None


_STATE_COLUMNS = (
    Incident.id,
    Incident.group_key,
    Incident.status,
    Incident.severity,
    Incident.severity_source,
    Incident.confidence,
    Incident.model_version,
    Incident.reasons,
    Incident.firing_count,
    Incident.alert_count,
    Incident.flapping,
    Incident.opened_at,
    Incident.resolved_at,
    Incident.last_alert_at,
)
_WRITABLE_STATE = (
    "status",
    "severity",
    "severity_source",
    "confidence",
    "model_version",
    "reasons",
    "firing_count",
    "alert_count",
    "flapping",
    "resolved_at",
    "last_alert_at",
)


class IncidentRepository:
    """Reads and writes of incidents, alerts and timeline events inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._orm: Session | None = None

    # --- ingestion ---------------------------------------------------------------------------

    def latest_for_groups(self, group_keys: Iterable[str]) -> dict[str, IncidentState]:
        """The newest incident of each group key (open, acknowledged or resolved)."""
        rows = self.conn.execute(_hot().latest_for_groups, {"keys": sorted(set(group_keys))})
        return {row.group_key: IncidentState(**row._mapping) for row in rows}

    def states(self, incident_ids: Iterable[int]) -> dict[int, IncidentState]:
        rows = self.conn.execute(select(*_STATE_COLUMNS).where(Incident.id.in_(sorted(set(incident_ids)))))
        return {row.id: IncidentState(**row._mapping) for row in rows}

    def known_alerts(self, group_keys: Iterable[str], fingerprints: Iterable[str]) -> list[KnownAlert]:
        """Every stored firing of these fingerprints in these groups (callers match source and start time)."""
        params = {
            "keys": sorted(set(group_keys)),
            "fingerprints": sorted(set(fingerprints)),
        }
        return [KnownAlert(**row._mapping) for row in self.conn.execute(_hot().known_alerts, params)]

    def insert_incident(self, values: Mapping[str, Any]) -> int:
        new_id = self.conn.execute(_hot().insert_incident, dict(values)).scalar_one()
        return int(new_id)

    def save_states(self, states: Sequence[IncidentState], updated_at: datetime) -> None:
        if states:
            rows = [
                {"b_id": st.id, "updated_at": updated_at, **{n: getattr(st, n) for n in _WRITABLE_STATE}}
                for st in states
            ]
            self.conn.execute(_hot().save_state, rows)

    def insert_alerts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(_hot().insert_alert, list(rows))

    def resolve_alerts(self, resolutions: Mapping[int, datetime], now: datetime) -> None:
        if resolutions:
            rows = [{"b_id": i, "ends_at": at, "updated_at": now} for i, at in resolutions.items()]
            self.conn.execute(_hot().resolve_alert, rows)

    def count_duplicates(self, counts: Mapping[int, int]) -> None:
        if counts:
            self.conn.execute(_hot().count_duplicates, [{"b_id": i, "b_n": n} for i, n in counts.items()])

    def add_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(_hot().insert_event, list(rows))

    def events_since(
        self, incident_id: int, kinds: Sequence[str], since: datetime
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        """(at, kind, data) of the incident's timeline events of ``kinds`` at or after ``since``."""
        stmt = select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.data).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.kind.in_(kinds), TimelineEvent.at >= since
        )
        return [(at, kind, data) for at, kind, data in self.conn.execute(stmt)]

    # --- read side ---------------------------------------------------------------------------

    def search(self, filters: IncidentFilter, *, limit: int, offset: int) -> tuple[list[Incident], int]:
        conditions = []
        if filters.status:
            conditions.append(Incident.status == filters.status)
        if filters.severity:
            conditions.append(Incident.severity == filters.severity)
        if filters.service:
            conditions.append(Incident.service == filters.service)
        if filters.since:
            conditions.append(Incident.opened_at >= filters.since)
        total = self.conn.execute(select(func.count()).select_from(Incident).where(*conditions)).scalar_one()
        stmt = select(Incident).where(*conditions).order_by(Incident.id.desc()).limit(limit).offset(offset)
        return list(self._session.scalars(stmt)), int(total)

    def get(self, incident_id: int) -> Incident | None:
        return self._session.get(Incident, incident_id)

    def alerts_of(self, incident_id: int) -> list[Alert]:
        stmt = select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)
        return list(self._session.scalars(stmt))

    def timeline_of(self, incident_id: int) -> list[TimelineEvent]:
        stmt = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
        return list(self._session.scalars(stmt))

    @property
    def _session(self) -> Session:
        """An ORM session on the same connection, made on first use by the read side only."""
        if self._orm is None:
            self._orm = Session(bind=self.conn, expire_on_commit=False)
        return self._orm


@dataclass(frozen=True, slots=True)
class _HotStatements:
    """The ingest path's statements, built once: constructing SQLAlchemy expressions per call costs more
    than running them on SQLite."""

    latest_for_groups: Any
    known_alerts: Any
    insert_incident: Any
    save_state: Any
    insert_alert: Any
    resolve_alert: Any
    count_duplicates: Any
    insert_event: Any


@cache
def _hot() -> _HotStatements:
    newest = (
        select(func.max(Incident.id))
        .where(Incident.group_key.in_(bindparam("keys", expanding=True)))
        .group_by(Incident.group_key)
    )
    return _HotStatements(
        latest_for_groups=select(*_STATE_COLUMNS).where(Incident.id.in_(newest.scalar_subquery())),
        known_alerts=select(
            Alert.id,
            Alert.incident_id,
            Alert.source,
            Alert.group_key,
            Alert.fingerprint,
            Alert.starts_at,
            Alert.status,
        ).where(
            Alert.group_key.in_(bindparam("keys", expanding=True)),
            Alert.fingerprint.in_(bindparam("fingerprints", expanding=True)),
        ),
        insert_incident=insert(Incident).returning(Incident.id),
        save_state=update(Incident).where(Incident.id == bindparam("b_id")),
        insert_alert=insert(Alert),
        resolve_alert=update(Alert).where(Alert.id == bindparam("b_id")).values(status="resolved"),
        count_duplicates=update(Alert)
        .where(Alert.id == bindparam("b_id"))
        .values(duplicates=Alert.duplicates + bindparam("b_n")),
        insert_event=insert(TimelineEvent),
    )
