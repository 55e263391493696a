"""The incident aggregate's writes (storage/incidents.py), on SQLite and PostgreSQL: what ingestion loads and
writes in bulk, what people's actions lock and change, and text cut to the column widths."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from analytics.records import AlertStatus, IncidentStatus, Severity, SeveritySource, TimelineKind
from storage.db import Database
from storage.incident_rows import CurrentIncident, IncidentChange, NewEvent
from storage.incidents import IncidentRepository, clip
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
from tests.support.db import row_counts
from tests.support.payloads import T0
from tests.support.rows import add_alerts, add_incident, new_alert, new_incident

MINUTE = timedelta(minutes=1)


def event(incident_id: int, kind: TimelineKind, at_minute: int, **data: object) -> NewEvent:
    return NewEvent(incident_id=incident_id, at=T0 + at_minute * MINUTE, kind=kind, data=data, created_at=T0)


# --- clip ------------------------------------------------------------------------------------------


def test_clip_cuts_text_to_the_width_and_keeps_absent_text_absent() -> None:
    assert clip("abcdef", 3) == "abc"
    assert clip("abc", 3) == "abc"
    assert clip("", 3) is None
    assert clip(None, 3) is None


# --- inserting and loading incidents ----------------------------------------------------------------


def test_a_new_incident_starts_open_with_no_alerts_and_its_last_alert_at_its_opening(db: Database) -> None:
    incident_id = add_incident(db, opened_at=T0)

    with db.read() as conn:
        state = IncidentRepository(conn).states([incident_id])[incident_id]

    assert (state.status, state.alert_count, state.firing_count, state.flapping) == (
        IncidentStatus.OPEN,
        0,
        0,
        False,
    )
    assert (state.opened_at, state.last_alert_at, state.resolved_at) == (T0, T0, None)
    assert (state.severity, state.severity_source, state.model_version) == ("SEV2", "rules", "rules-1")
    assert state.reasons == [{"text": "severity label says critical", "weight": 0.5}]
    assert state.dirty is False


def test_text_longer_than_its_column_is_cut_so_postgresql_accepts_it(db: Database) -> None:
    with db.write() as conn:
        incident_id = IncidentRepository(conn).insert_incident(
            new_incident(title="t" * (TITLE_LENGTH + 100), alertname="a" * 400, service="s" * 400)
        )

    with db.read() as conn:
        title, alertname, service = conn.execute(
            select(Incident.title, Incident.alertname, Incident.service).where(Incident.id == incident_id)
        ).one()
    assert (len(title), len(alertname), len(service)) == (TITLE_LENGTH, ALERTNAME_LENGTH, SERVICE_LENGTH)
    assert title == "t" * TITLE_LENGTH  # the start is kept


def test_an_alerts_long_texts_are_cut_to_their_columns(db: Database) -> None:
    incident_id = add_incident(db)

    add_alerts(
        db,
        new_alert(
            incident_id,
            title="t" * 1000,
            alertname="a" * 1000,
            service="s" * 1000,
            source_severity="v" * 1000,
        ),
    )

    with db.read() as conn:
        row = conn.execute(select(Alert.title, Alert.alertname, Alert.service, Alert.source_severity)).one()
    assert [len(value) for value in row] == [
        TITLE_LENGTH,
        ALERTNAME_LENGTH,
        SERVICE_LENGTH,
        SOURCE_SEVERITY_LENGTH,
    ]


def test_people_names_longer_than_the_column_are_cut_in_events_and_changes(db: Database) -> None:
    incident_id = add_incident(db)
    long_name = "U" * (USER_LENGTH + 50)

    with db.write() as conn:
        repo = IncidentRepository(conn)
        repo.add_events([replace(event(incident_id, TimelineKind.INCIDENT_ACKNOWLEDGED, 1), actor=long_name)])
        repo.change(
            incident_id,
            IncidentChange(acknowledged_by=long_name, resolved_by=long_name),
            now=T0,
        )

    with db.read() as conn:
        actor = conn.execute(select(TimelineEvent.actor)).scalar_one()
        by = conn.execute(select(Incident.acknowledged_by, Incident.resolved_by)).one()
    assert len(actor) == USER_LENGTH
    assert [len(name) for name in by] == [USER_LENGTH, USER_LENGTH]


def test_blank_service_and_texts_are_stored_as_absent_or_empty(db: Database) -> None:
    incident_id = add_incident(db, service="", title="")
    add_alerts(db, new_alert(incident_id, service="", source_severity=""))

    with db.read() as conn:
        assert conn.execute(select(Incident.service, Incident.title)).one() == (None, "")
        assert conn.execute(select(Alert.service, Alert.source_severity)).one() == (None, None)


def test_latest_for_groups_gives_each_groups_newest_incident_and_skips_groups_without_one(
    db: Database,
) -> None:
    older = add_incident(db, group_key="g1", opened_at=T0)
    newer = add_incident(db, group_key="g1", opened_at=T0 + 60 * MINUTE)
    other = add_incident(db, group_key="g2")
    with db.write() as conn:
        repo = IncidentRepository(conn)
        resolved = replace(repo.states([older])[older], status=IncidentStatus.RESOLVED, resolved_at=T0)
        repo.save_states([resolved], T0)

    with db.read() as conn:
        groups = [
            ("alertmanager", "g1"),
            ("alertmanager", "g2"),
            ("alertmanager", "g1"),
            ("alertmanager", "g3"),
        ]
        latest = IncidentRepository(conn).latest_for_groups(groups)
        grafana = IncidentRepository(conn).latest_for_groups([("grafana", "g1")])

    assert {key: state.id for key, state in latest.items()} == {
        ("alertmanager", "g1"): newer,
        ("alertmanager", "g2"): other,
    }
    assert grafana == {}  # group keys are per source
    assert older not in {state.id for state in latest.values()}


def test_latest_for_groups_of_nothing_is_empty(db: Database) -> None:
    add_incident(db, group_key="g1")
    with db.read() as conn:
        assert IncidentRepository(conn).latest_for_groups([]) == {}


def test_states_reads_exactly_the_incidents_asked_for(db: Database) -> None:
    first = add_incident(db, group_key="g1")
    add_incident(db, group_key="g2")
    third = add_incident(db, group_key="g3")

    with db.read() as conn:
        states = IncidentRepository(conn).states([third, first, first, 999])

    assert sorted(states) == [first, third]
    assert states[third].group_key == "g3"


def test_saved_states_read_back_as_written_and_leave_other_incidents_alone(db: Database) -> None:
    changed_id = add_incident(db, group_key="g1")
    untouched_id = add_incident(db, group_key="g2")
    later = T0 + 10 * MINUTE
    with db.read() as conn:
        before = IncidentRepository(conn).states([changed_id, untouched_id])

    changed = replace(
        before[changed_id],
        status=IncidentStatus.RESOLVED,
        severity=Severity.SEV1,
        severity_source=SeveritySource.MODEL,
        confidence=0.97,
        model_version="sevlr-2",
        reasons=[{"text": "checkout is critical", "weight": 1.25}],
        firing_count=0,
        alert_count=7,
        flapping=True,
        resolved_at=later,
        last_alert_at=later - MINUTE,
    )
    with db.write() as conn:
        IncidentRepository(conn).save_states([changed], later)

    with db.read() as conn:
        after = IncidentRepository(conn).states([changed_id, untouched_id])
        updated_at = conn.execute(select(Incident.updated_at).where(Incident.id == changed_id)).scalar_one()
    assert after[changed_id] == changed
    assert after[untouched_id] == before[untouched_id]
    assert updated_at == later


# --- alerts ------------------------------------------------------------------------------------------


def test_known_alerts_are_every_firing_of_those_fingerprints_in_those_groups(db: Database) -> None:
    first = add_incident(db, group_key="g1")
    second = add_incident(db, group_key="g2")
    add_alerts(
        db,
        new_alert(first, group_key="g1", fingerprint="fp1", starts_at=T0),
        new_alert(first, group_key="g1", fingerprint="fp1", starts_at=T0 + 30 * MINUTE),  # it fired again
        new_alert(first, group_key="g1", fingerprint="fp2"),  # another alert of the group
        new_alert(second, group_key="g2", fingerprint="fp1"),  # the same fingerprint in another group
    )

    with db.read() as conn:
        known = IncidentRepository(conn).known_alerts(["g1"], ["fp1", "fp1", "fp9"])

    assert sorted((k.group_key, k.fingerprint, k.starts_at, k.incident_id) for k in known) == [
        ("g1", "fp1", T0, first),
        ("g1", "fp1", T0 + 30 * MINUTE, first),
    ]
    assert {k.status for k in known} == {AlertStatus.FIRING}
    assert {k.source for k in known} == {"alertmanager"}


def test_the_same_firing_cannot_be_stored_twice(db: Database) -> None:
    incident_id = add_incident(db)
    add_alerts(db, new_alert(incident_id, fingerprint="fp1", starts_at=T0))

    with pytest.raises(IntegrityError):
        add_alerts(db, new_alert(incident_id, fingerprint="fp1", starts_at=T0))
    add_alerts(db, new_alert(incident_id, fingerprint="fp1", starts_at=T0 + MINUTE))  # a new firing is

    assert row_counts(db)["alerts"] == 2


def test_a_resolved_alert_gets_its_end_and_the_others_keep_firing(db: Database) -> None:
    incident_id = add_incident(db)
    add_alerts(db, new_alert(incident_id, fingerprint="fp1"), new_alert(incident_id, fingerprint="fp2"))
    with db.read() as conn:
        ids = {k.fingerprint: k.id for k in IncidentRepository(conn).known_alerts(["checkout-prod"], ["fp1"])}
    ended = T0 + 5 * MINUTE

    with db.write() as conn:
        IncidentRepository(conn).resolve_alerts({ids["fp1"]: ended}, T0 + 6 * MINUTE)

    with db.read() as conn:
        rows = conn.execute(
            select(Alert.fingerprint, Alert.status, Alert.ends_at, Alert.updated_at).order_by(Alert.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("fp1", AlertStatus.RESOLVED, ended, T0 + 6 * MINUTE),
        ("fp2", AlertStatus.FIRING, None, T0),
    ]


def test_duplicates_add_up_over_batches(db: Database) -> None:
    incident_id = add_incident(db)
    add_alerts(db, new_alert(incident_id, fingerprint="fp1", duplicates=1))
    with db.read() as conn:
        (known,) = IncidentRepository(conn).known_alerts(["checkout-prod"], ["fp1"])

    with db.write() as conn:
        IncidentRepository(conn).count_duplicates({known.id: 2})
    with db.write() as conn:
        IncidentRepository(conn).count_duplicates({known.id: 3})

    with db.read() as conn:
        assert conn.execute(select(Alert.duplicates)).scalar_one() == 6


def test_an_alerts_json_fields_round_trip(db: Database) -> None:
    incident_id = add_incident(db)
    alert = new_alert(
        incident_id,
        labels={"alertname": "X", "pod": "web-1"},
        annotations={"summary": "ünïcode ✓"},
        links={"runbook": "https://runbooks.internal/x"},
        values={"B": 93.5, "C": 1},
        probabilities={"SEV1": 0.1, "SEV2": 0.9},
        reasons=[{"text": "pod label", "weight": -0.25}],
    )

    add_alerts(db, alert)

    with db.read() as conn:
        row = conn.execute(
            select(
                Alert.labels, Alert.annotations, Alert.links, Alert.values, Alert.probabilities, Alert.reasons
            )
        ).one()
    assert tuple(row) == (
        alert.labels,
        alert.annotations,
        alert.links,
        alert.values,
        alert.probabilities,
        alert.reasons,
    )


# --- timeline events ---------------------------------------------------------------------------------


def test_events_since_gives_the_kinds_asked_for_from_that_moment_on_of_that_incident(db: Database) -> None:
    incident_id = add_incident(db)
    other_id = add_incident(db, group_key="other")
    with db.write() as conn:
        IncidentRepository(conn).add_events(
            [
                event(incident_id, TimelineKind.ALERT_RESOLVED, 5, fingerprint="early"),  # before the moment
                event(incident_id, TimelineKind.ALERT_RESOLVED, 10, fingerprint="fp1"),  # at it: included
                event(incident_id, TimelineKind.ALERT_REFIRED, 20, fingerprint="fp1"),
                event(incident_id, TimelineKind.ALERT_FIRING, 25, fingerprint="fp2"),  # another kind
                event(other_id, TimelineKind.ALERT_RESOLVED, 30, fingerprint="fp3"),  # another incident
            ]
        )

    with db.read() as conn:
        found = IncidentRepository(conn).events_since(
            incident_id, [TimelineKind.ALERT_RESOLVED, TimelineKind.ALERT_REFIRED], T0 + 10 * MINUTE
        )

    assert sorted(found, key=lambda e: e[0]) == [
        (T0 + 10 * MINUTE, TimelineKind.ALERT_RESOLVED, {"fingerprint": "fp1"}),
        (T0 + 20 * MINUTE, TimelineKind.ALERT_REFIRED, {"fingerprint": "fp1"}),
    ]


def test_empty_batches_write_nothing(db: Database) -> None:
    incident_id = add_incident(db)
    before = row_counts(db)

    with db.write() as conn:
        repo = IncidentRepository(conn)
        repo.insert_alerts([])
        repo.add_events([])
        repo.save_states([], T0)
        repo.resolve_alerts({}, T0)
        repo.count_duplicates({})

    assert row_counts(db) == before
    with db.read() as conn:
        assert conn.execute(select(Incident.updated_at).where(Incident.id == incident_id)).scalar_one() == T0


# --- people's actions ----------------------------------------------------------------------------------


def test_lock_gives_the_current_status_and_severity_as_vocabulary_or_none(db: Database) -> None:
    incident_id = add_incident(db, severity=Severity.SEV3, alertname="DiskFull")

    with db.write() as conn:
        current = IncidentRepository(conn).lock(incident_id)
        missing = IncidentRepository(conn).lock(incident_id + 1)

    assert current == CurrentIncident(
        id=incident_id, status=IncidentStatus.OPEN, severity=Severity.SEV3, alertname="DiskFull", opened_at=T0
    )
    assert current is not None
    assert current.status is IncidentStatus.OPEN and current.severity is Severity.SEV3
    assert missing is None


def test_a_change_sets_what_it_names_and_leaves_the_rest(db: Database) -> None:
    incident_id = add_incident(db, severity=Severity.SEV2)
    acked_at = T0 + 3 * MINUTE

    with db.write() as conn:
        IncidentRepository(conn).change(
            incident_id,
            IncidentChange(
                status=IncidentStatus.ACKNOWLEDGED, acknowledged_at=acked_at, acknowledged_by="U1"
            ),
            now=acked_at + MINUTE,
        )

    with db.read() as conn:
        row = conn.execute(select(Incident).where(Incident.id == incident_id)).one()
    assert (row.status, row.acknowledged_at, row.acknowledged_by) == ("acknowledged", acked_at, "U1")
    assert (row.severity, row.severity_source, row.confidence) == ("SEV2", "rules", 0.8)
    assert (row.resolved_at, row.resolved_by) == (None, None)
    assert row.updated_at == acked_at + MINUTE


def test_a_change_can_set_other_columns_through_extra(db: Database) -> None:
    incident_id = add_incident(db)

    with db.write() as conn:
        IncidentRepository(conn).change(
            incident_id,
            IncidentChange(
                severity=Severity.SEV1,
                severity_source=SeveritySource.HUMAN,
                confidence=1.0,
                extra={"slack_channel": "C0ALERTS", "slack_ts": "1700000000.000100"},
            ),
            now=T0,
        )

    with db.read() as conn:
        row = conn.execute(
            select(
                Incident.severity,
                Incident.severity_source,
                Incident.confidence,
                Incident.slack_channel,
                Incident.slack_ts,
                Incident.status,
            )
        ).one()
    assert tuple(row) == ("SEV1", "human", 1.0, "C0ALERTS", "1700000000.000100", "open")


def test_find_newest_is_the_latest_incident_opened_by_then_with_those_values(db: Database) -> None:
    first = add_incident(db, alertname="X", service="s1", group_key="g1", opened_at=T0)
    second = add_incident(db, alertname="X", service="s2", group_key="g2", opened_at=T0 + 60 * MINUTE)
    third = add_incident(db, alertname="Y", service="s1", group_key="g1", opened_at=T0 + 120 * MINUTE)

    with db.read() as conn:
        repo = IncidentRepository(conn)
        assert repo.find_newest(at=T0 + 90 * MINUTE, alertname="X") == second
        assert repo.find_newest(at=T0 + 60 * MINUTE, alertname="X") == second  # opened at that moment
        assert repo.find_newest(at=T0 + 59 * MINUTE, alertname="X") == first
        assert repo.find_newest(at=T0 + 180 * MINUTE, service="s1") == third
        assert repo.find_newest(at=T0 + 180 * MINUTE, alertname="X", service="s1") == first
        assert repo.find_newest(at=T0 + 180 * MINUTE, group_key="g2") == second
        assert repo.find_newest(at=T0 + 180 * MINUTE) == third
        assert repo.find_newest(at=T0 - MINUTE) is None
        assert repo.find_newest(at=T0 + 180 * MINUTE, alertname="Z") is None


def test_find_newest_takes_the_later_of_two_opened_at_the_same_moment(db: Database) -> None:
    add_incident(db, group_key="g1", opened_at=T0)
    later = add_incident(db, group_key="g2", opened_at=T0)

    with db.read() as conn:
        assert IncidentRepository(conn).find_newest(at=T0, alertname="CheckoutHighErrorRate") == later
