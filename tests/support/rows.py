"""Rows of the incident aggregate for storage tests, with plain defaults (override what a test is about)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from analytics.records import Severity, SeveritySource
from storage.db import Database
from storage.incident_rows import NewAlert, NewIncident
from storage.incidents import IncidentRepository
from tests.support.payloads import T0


def new_incident(
    *,
    group_key: str = "checkout-prod",
    title: str = "Checkout returns many 5xx",
    alertname: str = "CheckoutHighErrorRate",
    service: str | None = "checkout",
    opened_at: datetime = T0,
    severity: Severity = Severity.SEV2,
    labels: dict[str, str] | None = None,
) -> NewIncident:
    return NewIncident(
        group_key=group_key,
        title=title,
        alertname=alertname,
        service=service,
        source="alertmanager",
        severity=severity,
        severity_source=SeveritySource.RULES,
        confidence=0.8,
        model_version="rules-1",
        reasons=[{"text": "severity label says critical", "weight": 0.5}],
        labels=labels if labels is not None else {"alertname": alertname, "env": "prod"},
        opened_at=opened_at,
        updated_at=opened_at,
    )


def new_alert(incident_id: int, *, fingerprint: str = "fp-1", **changes: Any) -> NewAlert:
    """A firing alert of ``incident_id``; ``changes`` override any other field of :class:`NewAlert`."""
    alert = NewAlert(
        incident_id=incident_id,
        source="alertmanager",
        group_key="checkout-prod",
        fingerprint=fingerprint,
        alertname="CheckoutHighErrorRate",
        title="Checkout returns many 5xx",
        service="checkout",
        labels={"alertname": "CheckoutHighErrorRate", "service": "checkout"},
        annotations={"summary": "Checkout returns many 5xx"},
        links={},
        values={},
        generator_url=None,
        expression=None,
        starts_at=T0,
        severity=Severity.SEV2,
        source_severity="critical",
        probabilities={"SEV2": 0.8},
        reasons=[],
        model_version="rules-1",
        received_at=T0,
    )
    return replace(alert, **changes)


def add_incident(db: Database, **fields: Any) -> int:
    """Insert one incident (``new_incident(**fields)``) in its own transaction; its id."""
    with db.write() as conn:
        return IncidentRepository(conn).insert_incident(new_incident(**fields))


def add_alerts(db: Database, *alerts: NewAlert) -> None:
    with db.write() as conn:
        IncidentRepository(conn).insert_alerts(alerts)
