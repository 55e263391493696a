"""The severity model in the service: which scorer serves, the registry CLI, feedback → training → scoring,
promotion picked up without a restart, drift in /metrics, and "why" with similar past incidents."""

from __future__ import annotations

from typing import Any

from bot.incidents.explain import explain_incident
from bot.normalize import normalize
from storage.feedback import FeedbackRepository
from tests.support.payloads import T0, am_alert, am_payload, body

GROUP_BY = ["alertname", "service|job", "namespace|cluster", "env"]


def ingest(services: Any, *alerts: dict[str, Any], group: str | None = None) -> list[int]:
    batch = normalize("alertmanager", body(am_payload(list(alerts), group_key=group)), GROUP_BY)
    result: list[int] = services.ingestor.ingest(batch).incidents
    return result


def test_why_names_similar_past_incidents_and_how_people_rated_them(services: Any) -> None:
    checkout = ingest(services, am_alert())[0]
    ingest(services, am_alert("DiskFull", service="billing", instance="db-1", severity="warning"))
    with services.db.write() as conn:
        FeedbackRepository(conn).add(
            incident_id=checkout,
            kind="noise",
            alertname="CheckoutHighErrorRate",
            user="U1",
            old_severity="SEV1",
            new_severity=None,
            reason=None,
            now=T0,
        )
    later = ingest(
        services, am_alert(instance="checkout-7:8080", extra_labels={"env": "staging"}), group="g2"
    )[0]
    assert later != checkout
    with services.db.read() as conn:
        why = explain_incident(conn, later)
        assert explain_incident(conn, 999) is None
    assert why is not None
    best = why["similar"][0]
    assert (best["id"], best["rated"]) == (checkout, "noise")
