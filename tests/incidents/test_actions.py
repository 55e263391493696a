"""People's actions on an incident: who acked or resolved it and when, severity corrections, noise."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.bootstrap import Services
from bot.errors import IncidentNotFound
from bot.incidents.actions import IncidentActions
from bot.normalize import normalize
from storage.feedback import FeedbackRepository
from storage.incident_reads import IncidentReads
from storage.incidents import IncidentRepository
from storage.models import Feedback, OutboxMessage
from tests.support.payloads import T0, am_alert, am_payload


def open_incident(services: Services, name: str = "CheckoutHighErrorRate") -> int:
    body = json.dumps(am_payload([am_alert(name)])).encode()
    result = services.ingestor.ingest(normalize("alertmanager", body, services.config.grouping.by))
    return result.opened[0]


def test_acknowledge_then_resolve_records_who_and_when(services: Services) -> None:
    incident_id = open_incident(services)
    acked_at, resolved_at = T0 + timedelta(minutes=4), T0 + timedelta(minutes=30)

    with services.db.write() as conn:
        first = IncidentActions(conn).acknowledge(incident_id, user="U_ALICE", at=acked_at, now=acked_at)
        again = IncidentActions(conn).acknowledge(incident_id, user="U_BOB", at=resolved_at, now=resolved_at)
        done = IncidentActions(conn).resolve(incident_id, user="U_BOB", at=resolved_at, now=resolved_at)

    assert (first.changed, first.status) == (True, "acknowledged")
    assert (again.changed, again.status) == (False, "acknowledged")
    assert (done.changed, done.status) == (True, "resolved")
    with services.db.read() as conn:
        repo = IncidentReads(conn)
        incident = repo.get(incident_id)
        assert incident is not None
        assert (incident.status, incident.acknowledged_by, incident.acknowledged_at) == (
            "resolved",
            "U_ALICE",
            acked_at,
        )
        assert (incident.resolved_by, incident.resolved_at) == ("U_BOB", resolved_at)
        events = [(e.kind, e.actor) for e in repo.timeline_of(incident_id) if e.actor]
        assert events == [("incident.acknowledged", "U_ALICE"), ("incident.resolved", "U_BOB")]
        updates = conn.execute(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "incident.updated")
        ).scalars()
        assert [p["changes"][0]["kind"] for p in updates] == ["incident.acknowledged", "incident.resolved"]


def test_a_severity_correction_sticks_and_becomes_feedback(services: Services) -> None:
    incident_id = open_incident(services)
    with services.db.read() as conn:
        incident = IncidentReads(conn).get(incident_id)
        assert incident is not None
        said = incident.severity
    wanted = "SEV4" if said != "SEV4" else "SEV3"

    with services.db.write() as conn:
        result = IncidentActions(conn).set_severity(
            incident_id, severity=wanted, user="U_CAROL", at=T0, now=T0, reason="staging only"
        )
        IncidentActions(conn).mark_noise(incident_id, user="U_CAROL", at=T0, now=T0, reason=None)

    assert (result.changed, result.severity) == (True, wanted)
    with services.db.read() as conn:
        incident = IncidentReads(conn).get(incident_id)
        assert incident is not None
        assert (incident.severity, incident.severity_source) == (wanted, "human")
        rows = conn.execute(
            select(Feedback.kind, Feedback.old_severity, Feedback.new_severity).order_by(Feedback.id)
        ).all()
        assert [tuple(row) for row in rows] == [
            ("severity", said, wanted),
            ("noise", wanted, None),
        ]
        # Live scoring reads Carol's latest word (noise) as one vote: alone, it is not used.
        assert FeedbackRepository(conn).ratings(["CheckoutHighErrorRate"]) == {}
    # A later, more severe alert does not override a person's level.
    body = json.dumps(am_payload([am_alert(instance="checkout-2:8080", severity="critical")])).encode()
    services.ingestor.ingest(normalize("alertmanager", body, services.config.grouping.by))
    with services.db.read() as conn:
        incident = IncidentReads(conn).get(incident_id)
        assert incident is not None and incident.severity == wanted


def test_unknown_incidents_and_levels_are_refused_and_nothing_is_written(services: Services) -> None:
    incident_id = open_incident(services)
    with pytest.raises(IncidentNotFound), services.db.write() as conn:
        IncidentActions(conn).acknowledge(incident_id + 100, user="U_A", at=T0, now=T0)
    with pytest.raises(ValueError, match="severity must be one of"), services.db.write() as conn:
        IncidentActions(conn).set_severity(incident_id, severity="P1", user="U_A", at=T0, now=T0, reason=None)
    with services.db.read() as conn:
        assert conn.execute(select(Feedback)).first() is None
        repo = IncidentRepository(conn)
        assert repo.find_newest(at=T0, alertname="CheckoutHighErrorRate") == incident_id
        assert repo.find_newest(at=T0 - timedelta(seconds=1), alertname="CheckoutHighErrorRate") is None


def test_setting_the_level_an_incident_has_is_a_confirmation(services: Services) -> None:
    incident_id = open_incident(services)
    with services.db.read() as conn:
        incident = IncidentReads(conn).get(incident_id)
        assert incident is not None
        said, source = incident.severity, incident.severity_source

    with services.db.write() as conn:
        result = IncidentActions(conn).set_severity(
            incident_id, severity=said, user="U_DAVE", at=T0, now=T0, reason=None
        )

    assert (result.changed, result.severity) == (False, said)
    with services.db.read() as conn:
        incident = IncidentReads(conn).get(incident_id)
        assert incident is not None and incident.severity_source == source  # still the model's call
        rows = conn.execute(select(Feedback.kind, Feedback.old_severity, Feedback.new_severity)).all()
        assert [tuple(row) for row in rows] == [("severity", said, said)]
        kinds = [e.kind for e in IncidentReads(conn).timeline_of(incident_id)]
        assert kinds[-1] == "severity.confirmed"
