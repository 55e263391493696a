"""Ingestion links related incidents in its transaction and orders their posts (real SQLite/PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.normalize import normalize
from storage.models import Incident, OutboxMessage
from tests.support.payloads import body, generic_alert


def test_several_incidents_in_one_webhook_are_one_story_led_by_the_most_severe(services: Any) -> None:
    alerts = [
        generic_alert(
            "Search latency high", severity="warning", dedup_key="lat", labels={"service": "search"}
        ),
        generic_alert("Search down", severity="critical", dedup_key="down", labels={"service": "search"}),
        generic_alert("Billing slow", severity="warning", dedup_key="bill", labels={"service": "billing"}),
    ]
    batch = normalize("generic", body({"alerts": alerts}), ["alertname", "service"])
    result = services.ingestor.ingest(batch)

    with services.db.read() as conn:
        incidents = {i.title: i for i in conn.execute(select(Incident)).all()}
        opened = [
            (row.incident_id, row.payload)
            for row in conn.execute(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "incident.opened")
                .order_by(OutboxMessage.id)
            )
        ]
    down, latency, billing = (
        incidents["Search down"],
        incidents["Search latency high"],
        incidents["Billing slow"],
    )
    assert len(result.opened) == 3
    assert (down.related_to, latency.related_to, billing.related_to) == (None, down.id, None)
    assert opened == [  # roots in severity order; the related one goes into the primary's thread
        (down.id, {}),
        (latency.id, {"related_to": down.id, "page": False}),
        (billing.id, {}),
    ]
