"""Heartbeat rows: an upsert per (source, alert name) where the later arrival wins (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from bot.bootstrap import Services
from storage.heartbeats import HeartbeatRepository
from tests.support.payloads import T0


def test_the_latest_arrival_is_kept_per_source_and_name(services: Services) -> None:
    later = T0 + timedelta(minutes=3)
    with services.db.write() as conn:
        HeartbeatRepository(conn).seen([("alertmanager", "Watchdog"), ("grafana", "Watchdog")], at=later)
    with services.db.write() as conn:
        HeartbeatRepository(conn).seen([("alertmanager", "Watchdog")], at=T0)  # older: ignored
        HeartbeatRepository(conn).seen([("alertmanager", "DeadMansSwitch")], at=T0)
    with services.db.read() as conn:
        rows = HeartbeatRepository(conn).all()
    assert [(r.source, r.alertname, r.last_seen_at) for r in rows] == [
        ("alertmanager", "DeadMansSwitch", T0),
        ("alertmanager", "Watchdog", later),
        ("grafana", "Watchdog", later),
    ]
