"""The incident aggregate's reads (storage/incident_reads.py), on SQLite and PostgreSQL: lists with filters
and pages, one incident with its alerts and timeline, and the look-ups of Slack, explanations and drafts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import storage.incident_reads
from analytics.records import FeedbackKind, IncidentStatus, Severity, TimelineKind
from storage.db import Database
from storage.feedback import FeedbackRepository
from storage.incident_reads import IncidentFilter, IncidentReads
from storage.incident_rows import IncidentChange, NewEvent
from storage.incidents import IncidentRepository
from tests.support.payloads import T0
from tests.support.rows import add_alerts, add_incident, new_alert

MINUTE = timedelta(minutes=1)


def set_status(db: Database, incident_id: int, status: IncidentStatus) -> None:
    with db.write() as conn:
        IncidentRepository(conn).change(incident_id, IncidentChange(status=status), now=T0)


def rate(db: Database, incident_id: int, severity: str | None, *, at: datetime) -> None:
    """A person's word on the incident: a severity, or ``None`` for "not actionable"."""
    with db.write() as conn:
        FeedbackRepository(conn).add(
            incident_id=incident_id,
            kind=FeedbackKind.SEVERITY if severity else FeedbackKind.NOISE,
            alertname="CheckoutHighErrorRate",
            user="U1",
            old_severity="SEV2",
            new_severity=severity,
            reason=None,
            now=at,
        )


def add_events(db: Database, *events: tuple[int, TimelineKind, datetime, dict[str, object]]) -> None:
    with db.write() as conn:
        IncidentRepository(conn).add_events(
            [
                NewEvent(incident_id=i, at=at, kind=kind, data=data, created_at=T0)
                for i, kind, at, data in events
            ]
        )


def resolved_with(db: Database, incident_id: int, at: datetime, note: object) -> None:
    add_events(db, (incident_id, TimelineKind.INCIDENT_RESOLVED, at, {"by": "U1", "note": note}))


# --- lists ---------------------------------------------------------------------------------------------


def search(
    db: Database, filters: IncidentFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[int], int]:
    with db.read() as conn:
        found, total = IncidentReads(conn).search(filters, limit=limit, offset=offset)
    return [incident.id for incident in found], total


def test_search_without_filters_lists_every_incident_newest_first(db: Database) -> None:
    ids = [add_incident(db, group_key=f"g{n}") for n in range(3)]

    assert search(db, IncidentFilter()) == (ids[::-1], 3)


def test_search_filters_by_status_severity_service_and_opening_time(db: Database) -> None:
    old = add_incident(db, group_key="g1", service="checkout", severity=Severity.SEV1, opened_at=T0)
    acked = add_incident(
        db, group_key="g2", service="billing", severity=Severity.SEV1, opened_at=T0 + 10 * MINUTE
    )
    recent = add_incident(
        db, group_key="g3", service="checkout", severity=Severity.SEV3, opened_at=T0 + 20 * MINUTE
    )
    set_status(db, acked, IncidentStatus.ACKNOWLEDGED)

    assert search(db, IncidentFilter(status=IncidentStatus.OPEN)) == ([recent, old], 2)
    assert search(db, IncidentFilter(status=IncidentStatus.ACKNOWLEDGED)) == ([acked], 1)
    assert search(db, IncidentFilter(severity=Severity.SEV1)) == ([acked, old], 2)
    assert search(db, IncidentFilter(service="checkout")) == ([recent, old], 2)
    assert search(db, IncidentFilter(since=T0 + 10 * MINUTE)) == ([recent, acked], 2)  # from that moment on
    assert search(db, IncidentFilter(service="checkout", severity=Severity.SEV1)) == ([old], 1)
    assert search(db, IncidentFilter(status=IncidentStatus.RESOLVED)) == ([], 0)


def test_search_pages_through_the_list_and_counts_every_match(db: Database) -> None:
    ids = [add_incident(db, group_key=f"g{n}") for n in range(5)][::-1]
    add_incident(db, group_key="other", service="billing")

    checkout = IncidentFilter(service="checkout")
    assert search(db, checkout, limit=2, offset=0) == (ids[0:2], 5)
    assert search(db, checkout, limit=2, offset=2) == (ids[2:4], 5)
    assert search(db, checkout, limit=2, offset=4) == (ids[4:], 5)
    assert search(db, checkout, limit=2, offset=6) == ([], 5)


# --- one incident --------------------------------------------------------------------------------------


def test_get_gives_the_incident_with_its_columns_or_none(db: Database) -> None:
    incident_id = add_incident(db, title="Checkout down", labels={"env": "prod"})

    with db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(incident_id)
        assert reads.get(incident_id + 1) is None
        assert reads.exists(incident_id) and not reads.exists(incident_id + 1)

    assert incident is not None
    assert (incident.id, incident.title, incident.labels, incident.opened_at) == (
        incident_id,
        "Checkout down",
        {"env": "prod"},
        T0,
    )


def test_the_first_alert_is_the_one_that_opened_the_incident(db: Database) -> None:
    incident_id = add_incident(db)
    empty_id = add_incident(db, group_key="empty")
    add_alerts(
        db,
        new_alert(incident_id, fingerprint="opener", starts_at=T0 + 5 * MINUTE),
        new_alert(incident_id, fingerprint="joiner", starts_at=T0),  # started earlier, stored later
    )

    with db.read() as conn:
        reads = IncidentReads(conn)
        first = reads.first_alert(incident_id)
        alerts = reads.alerts_of(incident_id)
        assert reads.first_alert(empty_id) is None
        assert reads.alerts_of(empty_id) == []

    assert first is not None and first.fingerprint == "opener"
    assert [a.fingerprint for a in alerts] == ["opener", "joiner"]


def test_the_timeline_is_in_event_time_order_and_in_insertion_order_at_one_moment(db: Database) -> None:
    incident_id = add_incident(db)
    other_id = add_incident(db, group_key="other")
    add_events(
        db,
        (incident_id, TimelineKind.INCIDENT_RESOLVED, T0 + 10 * MINUTE, {"n": 1}),
        (incident_id, TimelineKind.INCIDENT_OPENED, T0, {"n": 2}),
        (incident_id, TimelineKind.ALERT_RESOLVED, T0 + 10 * MINUTE, {"n": 3}),
        (other_id, TimelineKind.INCIDENT_OPENED, T0 + MINUTE, {"n": 4}),
    )

    with db.read() as conn:
        timeline = IncidentReads(conn).timeline_of(incident_id)

    assert [(e.kind, e.data["n"]) for e in timeline] == [
        (TimelineKind.INCIDENT_OPENED, 2),
        (TimelineKind.INCIDENT_RESOLVED, 1),
        (TimelineKind.ALERT_RESOLVED, 3),
    ]


def test_a_slack_thread_leads_to_the_incident_whose_root_started_it(db: Database) -> None:
    incident_id = add_incident(db)
    add_incident(db, group_key="unposted")
    with db.write() as conn:
        root = {"slack_channel": "C0ALERTS", "slack_ts": "1700000000.000100"}
        IncidentRepository(conn).change(incident_id, IncidentChange(extra=root), now=T0)

    with db.read() as conn:
        reads = IncidentReads(conn)
        assert reads.by_thread("C0ALERTS", "1700000000.000100") == incident_id
        assert reads.by_thread("C0ALERTS", "1700000000.000200") is None
        assert reads.by_thread("C0OTHER", "1700000000.000100") is None


def test_only_a_noise_rating_of_the_incident_itself_marks_it_noise(db: Database) -> None:
    noisy = add_incident(db, group_key="g1")
    corrected = add_incident(db, group_key="g2")
    untouched = add_incident(db, group_key="g3")
    rate(db, noisy, None, at=T0)
    rate(db, corrected, "SEV4", at=T0)

    with db.read() as conn:
        reads = IncidentReads(conn)
        assert [reads.marked_noise(i) for i in (noisy, corrected, untouched)] == [True, False, False]


# --- similar incidents -----------------------------------------------------------------------------------


def candidates(db: Database, incident_id: int) -> list[int]:
    with db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(incident_id)
        assert incident is not None
        return [c.id for c in reads.similar_candidates(incident)]


def add_past(db: Database, **fields: Any) -> int:
    """A resolved incident: only those are similar *past* incidents."""
    incident_id = add_incident(db, **fields)
    set_status(db, incident_id, IncidentStatus.RESOLVED)
    return incident_id


def test_similar_candidates_leave_out_incidents_still_open_and_those_excluded(db: Database) -> None:
    past = add_past(db, group_key="a", opened_at=T0)
    add_incident(db, group_key="b", opened_at=T0 + MINUTE)  # still open
    sibling = add_past(db, group_key="c", opened_at=T0 + 2 * MINUTE)
    target = add_incident(db, group_key="d", opened_at=T0 + 3 * MINUTE)

    assert candidates(db, target) == [sibling, past]
    with db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(target)
        assert incident is not None
        assert [c.id for c in reads.similar_candidates(incident, exclude={sibling})] == [past]


def test_similar_candidates_are_earlier_incidents_of_the_same_name_then_of_the_same_service(
    db: Database,
) -> None:
    same_name = add_past(db, group_key="a", alertname="HighErrors", service="billing", opened_at=T0)
    both = add_past(db, group_key="b", alertname="HighErrors", service="checkout", opened_at=T0)
    same_service = add_past(db, group_key="c", alertname="DiskFull", service="checkout", opened_at=T0)
    add_past(db, group_key="d", alertname="DiskFull", service="billing", opened_at=T0)  # neither
    target = add_past(db, group_key="e", alertname="HighErrors", service="checkout", opened_at=T0 + MINUTE)
    add_past(db, group_key="f", alertname="HighErrors", service="checkout", opened_at=T0 + 2 * MINUTE)

    assert candidates(db, target) == [both, same_name, same_service]  # each part newest first, once each


def test_similar_candidates_leave_out_the_incident_itself_and_later_ones(db: Database) -> None:
    earlier = add_past(db, group_key="a", opened_at=T0)
    target = add_past(db, group_key="b", opened_at=T0 + 10 * MINUTE)
    add_past(db, group_key="c", opened_at=T0 + 11 * MINUTE)
    replayed_earlier = add_past(db, group_key="d", opened_at=T0 + 5 * MINUTE)  # stored later, opened before

    assert candidates(db, target) == [replayed_earlier, earlier]
    assert candidates(db, earlier) == []


def test_without_a_service_only_the_alert_name_finds_candidates(db: Database) -> None:
    same_name = add_past(db, group_key="a", alertname="HighErrors", service=None)
    add_past(db, group_key="b", alertname="Other", service=None)
    target = add_past(db, group_key="c", alertname="HighErrors", service=None, opened_at=T0 + MINUTE)

    assert candidates(db, target) == [same_name]


def test_similar_candidates_are_bounded_per_part_keeping_the_newest(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.incident_reads, "SIMILAR_CANDIDATES", 2)
    by_name = [add_past(db, group_key=f"n{i}", alertname="HighErrors", service="billing") for i in range(3)]
    by_service = [add_past(db, group_key=f"s{i}", alertname="DiskFull", service="checkout") for i in range(3)]
    target = add_past(db, group_key="t", alertname="HighErrors", service="checkout", opened_at=T0 + MINUTE)

    assert candidates(db, target) == [by_name[2], by_name[1], by_service[2], by_service[1]]


def test_a_candidate_carries_what_similarity_and_its_report_need(db: Database) -> None:
    earlier = add_incident(
        db, group_key="a", title="Checkout 5xx", labels={"env": "prod"}, severity=Severity.SEV1
    )
    set_status(db, earlier, IncidentStatus.RESOLVED)
    target = add_incident(db, group_key="b", opened_at=T0 + MINUTE)

    with db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(target)
        assert incident is not None
        (candidate,) = reads.similar_candidates(incident)

    assert (candidate.id, candidate.title, candidate.alertname, candidate.service) == (
        earlier,
        "Checkout 5xx",
        "CheckoutHighErrorRate",
        "checkout",
    )
    assert (candidate.labels, candidate.severity, candidate.status) == ({"env": "prod"}, "SEV1", "resolved")


# --- ratings and resolution notes ---------------------------------------------------------------------------


def test_the_latest_word_on_an_incident_wins_by_when_it_was_given(db: Database) -> None:
    changed_mind = add_incident(db, group_key="g1")
    noise_last = add_incident(db, group_key="g2")
    unrated = add_incident(db, group_key="g3")
    rate(db, changed_mind, "SEV3", at=T0)
    rate(db, changed_mind, None, at=T0 + MINUTE)
    rate(db, changed_mind, "SEV1", at=T0 + 2 * MINUTE)
    rate(db, noise_last, None, at=T0 + 5 * MINUTE)
    rate(db, noise_last, "SEV2", at=T0 + 4 * MINUTE)  # written later, but given earlier

    with db.read() as conn:
        reads = IncidentReads(conn)
        ratings = reads.latest_ratings([changed_mind, noise_last, unrated])
        assert reads.latest_ratings([]) == {}

    assert ratings == {changed_mind: "SEV1", noise_last: "noise"}


def test_the_resolution_note_is_the_newest_one_and_blank_notes_are_ignored(db: Database) -> None:
    twice = add_incident(db, group_key="g1")
    blank_last = add_incident(db, group_key="g2")
    no_note = add_incident(db, group_key="g3")
    resolved_with(db, twice, T0 + 10 * MINUTE, "  rolled back the deploy  ")
    resolved_with(db, twice, T0 + 5 * MINUTE, "restarted the pods")  # written later, resolved earlier
    resolved_with(db, blank_last, T0, "failed over to eu")
    resolved_with(db, blank_last, T0 + MINUTE, "   ")
    resolved_with(db, blank_last, T0 + 2 * MINUTE, None)
    add_events(db, (no_note, TimelineKind.INCIDENT_RESOLVED, T0, {"by": "U1"}))
    add_events(
        db, (no_note, TimelineKind.INCIDENT_ACKNOWLEDGED, T0, {"by": "U1", "note": "not a resolution"})
    )

    with db.read() as conn:
        reads = IncidentReads(conn)
        notes = reads.resolution_notes([twice, blank_last, no_note])
        assert reads.resolution_notes([]) == {}

    assert notes == {twice: "rolled back the deploy", blank_last: "failed over to eu"}
