"""Alert statistics (storage/alerts.py), on SQLite and PostgreSQL: counts by start time in a window and its
recent part, per group and per service; a service's alerts between two moments; the newest received."""

from __future__ import annotations

import itertools
from datetime import timedelta

from storage.alerts import AlertStats, RecentAlert, WindowCounts
from storage.db import Database
from tests.support.payloads import T0
from tests.support.rows import add_alerts, add_incident, new_alert

MINUTE = timedelta(minutes=1)
WINDOW = timedelta(minutes=60)
RECENT = timedelta(minutes=5)
AT = T0 + 2 * WINDOW

_fingerprints = itertools.count()


def started(
    db: Database, *minutes_before_at: int, group_key: str = "g1", service: str | None = "checkout"
) -> None:
    """Alerts of a group and service that started these many minutes before ``AT`` (negative: after)."""
    incident_id = add_incident(db, group_key=group_key, service=service)
    add_alerts(
        db,
        *(
            new_alert(
                incident_id,
                fingerprint=f"fp{next(_fingerprints)}",
                group_key=group_key,
                service=service,
                starts_at=AT - minutes * MINUTE,
            )
            for minutes in minutes_before_at
        ),
    )


def test_group_counts_are_of_alerts_started_in_the_window_and_in_its_recent_part(db: Database) -> None:
    started(db, 0, 5, 6, 60, group_key="g1")  # the window's edges count: at the moment and its start
    started(db, 61, -1, group_key="g1")  # before the window, after the moment
    started(db, 1, group_key="g2")

    with db.read() as conn:
        counts = AlertStats(conn).by_group(["g1", "g2", "g1"], at=AT, window=WINDOW, recent=RECENT)

    assert counts == {"g1": WindowCounts(recent=2, window=4), "g2": WindowCounts(recent=1, window=1)}


def test_groups_without_alerts_in_the_window_are_left_out(db: Database) -> None:
    started(db, 90, group_key="g1")

    with db.read() as conn:
        stats = AlertStats(conn)
        assert stats.by_group(["g1", "g9"], at=AT, window=WINDOW, recent=RECENT) == {}
        assert stats.by_group([], at=AT, window=WINDOW, recent=RECENT) == {}


def test_service_counts_gather_every_group_of_the_service(db: Database) -> None:
    started(db, 1, 30, group_key="g1", service="checkout")
    started(db, 2, group_key="g2", service="checkout")
    started(db, 20, group_key="g3", service="billing")
    started(db, 1, group_key="g4", service=None)  # no service: counted for none

    with db.read() as conn:
        counts = AlertStats(conn).by_service(
            ["checkout", "billing", "ledger"], at=AT, window=WINDOW, recent=RECENT
        )

    assert counts == {
        "checkout": WindowCounts(recent=2, window=3),
        "billing": WindowCounts(recent=0, window=1),
    }


def test_alerts_per_service_between_two_moments_count_from_the_start_up_to_the_end(db: Database) -> None:
    started(db, 60, 30, 1, group_key="g1", service="checkout")  # 60 is the start; 0 would be the end
    started(db, 0, 61, group_key="g2", service="checkout")
    started(db, 45, group_key="g3", service="billing")

    with db.read() as conn:
        stats = AlertStats(conn)
        counts = stats.per_service_between(["checkout", "billing", "ledger"], start=AT - WINDOW, end=AT)
        assert stats.per_service_between([], start=AT - WINDOW, end=AT) == {}

    assert counts == {"checkout": 3, "billing": 1, "ledger": 0}  # services without alerts: zero


def test_received_since_gives_the_newest_alerts_first_up_to_the_limit(db: Database) -> None:
    incident_id = add_incident(db)
    add_alerts(
        db,
        new_alert(incident_id, fingerprint="old", received_at=T0 - MINUTE),
        new_alert(incident_id, fingerprint="a", received_at=T0),  # at the moment: included
        new_alert(incident_id, fingerprint="b", received_at=T0 + MINUTE, expression="up == 0"),
        new_alert(incident_id, fingerprint="c", received_at=T0 + 2 * MINUTE),
    )

    with db.read() as conn:
        stats = AlertStats(conn)
        everything = stats.received_since(T0, limit=10)
        newest_two = stats.received_since(T0, limit=2)

    assert [a.fingerprint for a in everything] == ["c", "b", "a"]
    assert [a.fingerprint for a in newest_two] == ["c", "b"]
    assert everything[1] == RecentAlert(
        source="alertmanager",
        fingerprint="b",
        labels={"alertname": "CheckoutHighErrorRate", "service": "checkout"},
        annotations={"summary": "Checkout returns many 5xx"},
        expression="up == 0",
        severity="SEV2",
    )
