"""Heartbeats in SQL: when each always-firing alert last arrived per source, and the incident its
silence opened (Core; the caller's transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import ALERTNAME_LENGTH, Heartbeat


@dataclass(frozen=True, slots=True)
class HeartbeatRow:
    source: str
    alertname: str
    last_seen_at: datetime
    silent_incident_id: int | None


class HeartbeatRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def seen(self, beats: Iterable[tuple[str, str]], *, at: datetime) -> None:
        """Record that these (source, alert name) heartbeats arrived at ``at`` (later times win)."""
        rows = [
            {"source": source, "alertname": name[:ALERTNAME_LENGTH], "last_seen_at": at}
            for source, name in sorted(set(beats))
        ]
        if not rows:
            return
        insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(Heartbeat).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Heartbeat.source, Heartbeat.alertname],
            set_={"last_seen_at": stmt.excluded.last_seen_at},
            where=Heartbeat.last_seen_at < stmt.excluded.last_seen_at,
        )
        self.conn.execute(stmt)

    def all(self, *, lock: bool = False) -> list[HeartbeatRow]:
        """Every heartbeat; with ``lock``, locked until the transaction ends (PostgreSQL: ingestion's
        updates of them wait; SQLite's one writer needs no lock)."""
        stmt = select(
            Heartbeat.source, Heartbeat.alertname, Heartbeat.last_seen_at, Heartbeat.silent_incident_id
        ).order_by(Heartbeat.source, Heartbeat.alertname)
        if lock:
            stmt = stmt.with_for_update()
        return [HeartbeatRow(**row._mapping) for row in self.conn.execute(stmt)]

    def mark_silent(self, row: HeartbeatRow, incident_id: int | None) -> bool:
        """Set (or clear, with ``None``) the silence's incident, if the row is still as read."""
        stmt = (
            update(Heartbeat)
            .where(
                Heartbeat.source == row.source,
                Heartbeat.alertname == row.alertname,
                Heartbeat.last_seen_at == row.last_seen_at,
                Heartbeat.silent_incident_id.is_(None)
                if row.silent_incident_id is None
                else Heartbeat.silent_incident_id == row.silent_incident_id,
            )
            .values(silent_incident_id=incident_id)
        )
        return bool(self.conn.execute(stmt).rowcount)
