"""People's ratings (storage/feedback.py), on SQLite and PostgreSQL: counted per alert name for scoring, and
read back with the alert that opened each incident as labelled training examples."""

from __future__ import annotations

from datetime import datetime, timedelta

from analytics.records import FeedbackKind
from storage.db import Database
from storage.feedback import FeedbackRepository, LabelledAlert
from tests.support.payloads import T0
from tests.support.rows import add_alerts, add_incident, new_alert

MINUTE = timedelta(minutes=1)


def rate(
    db: Database,
    incident_id: int,
    severity: str | None,
    *,
    alertname: str,
    at: datetime = T0,
    user: str = "U1",
) -> None:
    """A person's word: a severity, or ``None`` for "not actionable"."""
    with db.write() as conn:
        FeedbackRepository(conn).add(
            incident_id=incident_id,
            kind=FeedbackKind.SEVERITY if severity else FeedbackKind.NOISE,
            alertname=alertname,
            user=user,
            old_severity="SEV2",
            new_severity=severity,
            reason="because",
            now=at,
        )


def test_ratings_count_agreeing_votes_of_each_severity_and_noise_per_alert_name(db: Database) -> None:
    incident_id = add_incident(db)
    rate(db, incident_id, "SEV2", alertname="HighErrors", user="U1")
    rate(db, incident_id, "SEV2", alertname="HighErrors", user="U2")
    rate(db, incident_id, None, alertname="HighErrors", user="U3")
    rate(db, incident_id, None, alertname="HighErrors", user="U4")
    rate(db, incident_id, "SEV4", alertname="DiskFull", user="U1")
    rate(db, incident_id, "SEV4", alertname="DiskFull", user="U2")
    rate(db, incident_id, "SEV1", alertname="NotAsked", user="U1")
    rate(db, incident_id, "SEV1", alertname="NotAsked", user="U2")

    with db.read() as conn:
        ratings = FeedbackRepository(conn).ratings(["HighErrors", "DiskFull", "Unrated", "HighErrors"])

    assert ratings == {"HighErrors": {"SEV2": 2, "noise": 2}, "DiskFull": {"SEV4": 2}}


def test_ratings_of_no_alert_names_are_empty(db: Database) -> None:
    rate(db, add_incident(db), "SEV2", alertname="HighErrors")

    with db.read() as conn:
        assert FeedbackRepository(conn).ratings([]) == {}


def test_labelled_alerts_pair_each_rating_with_the_alert_that_opened_the_incident_oldest_first(
    db: Database,
) -> None:
    first = add_incident(db, group_key="g1")
    second = add_incident(db, group_key="g2")
    add_alerts(
        db,
        new_alert(first, fingerprint="opener", labels={"pod": "web-1"}, expression="rate(x[5m]) > 1"),
        new_alert(first, fingerprint="joiner", labels={"pod": "web-2"}),
        new_alert(second, group_key="g2", fingerprint="other", labels={"pod": "db-1"}),
    )
    rate(db, first, "SEV3", alertname="CheckoutHighErrorRate", at=T0 + 2 * MINUTE, user="U2")
    rate(db, second, None, alertname="CheckoutHighErrorRate", at=T0 + MINUTE)
    rate(db, first, "SEV1", alertname="CheckoutHighErrorRate", at=T0 + 3 * MINUTE)

    with db.read() as conn:
        labelled = FeedbackRepository(conn).labelled_alerts()

    assert [(a.incident_id, a.kind, a.severity, a.labels["pod"]) for a in labelled] == [
        (second, "noise", None, "db-1"),
        (first, "severity", "SEV3", "web-1"),
        (first, "severity", "SEV1", "web-1"),
    ]
    assert labelled[1] == LabelledAlert(
        incident_id=first,
        kind="severity",
        severity="SEV3",
        user="U2",
        created_at=T0 + 2 * MINUTE,
        labels={"pod": "web-1"},
        annotations={"summary": "Checkout returns many 5xx"},
        expression="rate(x[5m]) > 1",
        source="alertmanager",
    )


def test_a_rating_of_an_incident_without_alerts_is_no_training_example(db: Database) -> None:
    rate(db, add_incident(db), "SEV2", alertname="CheckoutHighErrorRate")

    with db.read() as conn:
        assert FeedbackRepository(conn).labelled_alerts() == []
