"""The incident aggregate's writes in SQL: incidents, their alerts and timeline events (Core).

Ingestion loads the state it decides on (:meth:`IncidentRepository.latest_for_groups`,
:meth:`~IncidentRepository.known_alerts`) and writes what it decided in bulk; people's actions lock one
incident (:meth:`~IncidentRepository.lock`) and change it. The read side is ``storage.incident_reads``.
Text is cut to the column widths here, the one place that knows them (``storage.models``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from analytics.records import AlertStatus, IncidentStatus, Severity
from storage.incident_rows import (
    CurrentIncident,
    IncidentChange,
    IncidentState,
    KnownAlert,
    NewAlert,
    NewEvent,
    NewIncident,
)
from storage.models import (
    ALERTNAME_LENGTH,
    SERVICE_LENGTH,
    SOURCE_SEVERITY_LENGTH,
    TITLE_LENGTH,
    USER_LENGTH,
    Alert,
    Incident,
    TimelineEvent,
)

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


def clip(text: str | None, width: int) -> str | None:
    """``text`` within a column's width (``None`` and "" stay absent)."""
    return text[:width] if text else None


class IncidentRepository:
    """Writes of incidents, alerts and timeline events inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- ingestion ---------------------------------------------------------------------------

    def latest_for_groups(self, groups: Iterable[tuple[str, str]]) -> dict[tuple[str, str], IncidentState]:
        """The newest incident of each (source, group key) (open, acknowledged or resolved).

        Group keys are namespaced by source: an Alertmanager ``groupKey`` equal to a Grafana one (or to the
        key Grafana and generic build from labels) names a different group.
        """
        wanted = set(groups)
        if not wanted:
            return {}
        params = {"keys": sorted({key for _, key in wanted}), "sources": sorted({src for src, _ in wanted})}
        found: dict[tuple[str, str], IncidentState] = {}
        for row in self.conn.execute(_hot().latest_for_groups, params):
            values = dict(row._mapping)
            group = (values.pop("source"), row.group_key)
            if group in wanted:
                found[group] = IncidentState(**values)
        return found

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

    def insert_incident(self, new: NewIncident) -> int:
        values = {
            "group_key": new.group_key,
            "title": clip(new.title, TITLE_LENGTH) or "",
            "alertname": clip(new.alertname, ALERTNAME_LENGTH) or "",
            "service": clip(new.service, SERVICE_LENGTH),
            "source": new.source,
            "status": IncidentStatus.OPEN,
            "severity": new.severity,
            "severity_source": new.severity_source,
            "confidence": new.confidence,
            "model_version": new.model_version,
            "reasons": new.reasons,
            "labels": new.labels,
            "alert_count": 0,
            "firing_count": 0,
            "flapping": False,
            "opened_at": new.opened_at,
            "last_alert_at": new.opened_at,
            "updated_at": new.updated_at,
        }
        return int(self.conn.execute(_hot().insert_incident, values).scalar_one())

    def save_states(self, states: Sequence[IncidentState], updated_at: datetime) -> None:
        if states:
            rows = [
                {"b_id": st.id, "updated_at": updated_at, **{n: getattr(st, n) for n in _WRITABLE_STATE}}
                for st in states
            ]
            self.conn.execute(_hot().save_state, rows)

    def insert_alerts(self, alerts: Sequence[NewAlert]) -> None:
        if alerts:
            self.conn.execute(_hot().insert_alert, [_alert_row(a) for a in alerts])

    def resolve_alerts(self, resolutions: Mapping[int, datetime], now: datetime) -> None:
        if resolutions:
            rows = [{"b_id": i, "ends_at": at, "updated_at": now} for i, at in resolutions.items()]
            self.conn.execute(_hot().resolve_alert, rows)

    def count_duplicates(self, counts: Mapping[int, int]) -> None:
        if counts:
            self.conn.execute(_hot().count_duplicates, [{"b_id": i, "b_n": n} for i, n in counts.items()])

    def add_events(self, events: Sequence[NewEvent]) -> None:
        if events:
            rows = [
                {
                    "incident_id": e.incident_id,
                    "at": e.at,
                    "kind": e.kind,
                    "actor": clip(e.actor, USER_LENGTH),
                    "data": dict(e.data),
                    "created_at": e.created_at,
                }
                for e in events
            ]
            self.conn.execute(_hot().insert_event, rows)

    def events_since(
        self, incident_id: int, kinds: Sequence[str], since: datetime
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        """(at, kind, data) of the incident's timeline events of ``kinds`` at or after ``since``."""
        stmt = select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.data).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.kind.in_(kinds), TimelineEvent.at >= since
        )
        return [(at, kind, data) for at, kind, data in self.conn.execute(stmt)]

    # --- people's actions ----------------------------------------------------------------------

    def lock(self, incident_id: int) -> CurrentIncident | None:
        """The incident's status and severity, locked until the transaction ends (None: no such incident)."""
        row = self.conn.execute(
            select(
                Incident.id,
                Incident.status,
                Incident.severity,
                Incident.alertname,
                Incident.opened_at,
                Incident.firing_count,
            )
            .where(Incident.id == incident_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            return None
        return CurrentIncident(
            id=row.id,
            status=IncidentStatus(row.status),
            severity=Severity(row.severity),
            alertname=row.alertname,
            opened_at=row.opened_at,
            firing_count=int(row.firing_count or 0),
        )

    def change(self, incident_id: int, change: IncidentChange, *, now: datetime) -> None:
        values: dict[str, object] = {
            name: getattr(change, name)
            for name in (
                "status",
                "severity",
                "severity_source",
                "confidence",
                "acknowledged_at",
                "resolved_at",
            )
            if getattr(change, name) is not None
        }
        for name in ("acknowledged_by", "resolved_by"):
            if getattr(change, name) is not None:
                values[name] = clip(getattr(change, name), USER_LENGTH)
        values.update(change.extra)
        self.conn.execute(update(Incident).where(Incident.id == incident_id).values(updated_at=now, **values))

    def find_newest(
        self,
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
        found = self.conn.execute(
            select(Incident.id).where(*conditions).order_by(*newest).limit(1)
        ).scalar_one_or_none()
        return int(found) if found is not None else None


def _alert_row(a: NewAlert) -> dict[str, object]:
    return {
        "incident_id": a.incident_id,
        "source": a.source,
        "group_key": a.group_key,
        "fingerprint": a.fingerprint,
        "status": a.status,
        "alertname": clip(a.alertname, ALERTNAME_LENGTH) or "",
        "title": clip(a.title, TITLE_LENGTH) or "",
        "service": clip(a.service, SERVICE_LENGTH),
        "labels": a.labels,
        "annotations": a.annotations,
        "links": a.links,
        "values": a.values,
        "generator_url": a.generator_url,
        "expression": a.expression,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "severity": a.severity,
        "source_severity": clip(a.source_severity, SOURCE_SEVERITY_LENGTH),
        "probabilities": a.probabilities,
        "reasons": a.reasons,
        "model_version": a.model_version,
        "duplicates": a.duplicates,
        "received_at": a.received_at,
        "updated_at": a.received_at,
    }


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
        .where(
            Incident.group_key.in_(bindparam("keys", expanding=True)),
            Incident.source.in_(bindparam("sources", expanding=True)),
        )
        .group_by(Incident.source, Incident.group_key)
    )
    return _HotStatements(
        latest_for_groups=select(*_STATE_COLUMNS, Incident.source).where(
            Incident.id.in_(newest.scalar_subquery())
        ),
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
        resolve_alert=update(Alert)
        .where(Alert.id == bindparam("b_id"))
        .values(status=AlertStatus.RESOLVED.value),
        count_duplicates=update(Alert)
        .where(Alert.id == bindparam("b_id"))
        .values(duplicates=Alert.duplicates + bindparam("b_n")),
        insert_event=insert(TimelineEvent),
    )
