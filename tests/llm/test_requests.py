"""When drafts are asked for: once when an incident opens, then only on material changes; never per alert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.bootstrap import Services
from bot.llm import alert_growth_is_material, request_draft
from bot.normalize import normalize
from bot.outbox.messages import draft_requested
from storage.models import OutboxMessage
from tests.support.payloads import T0, am_alert, am_payload, body

GROUP_BY = ["alertname"]


def send(services: Services, *alerts: dict[str, Any]) -> None:
    services.ingestor.ingest(normalize("alertmanager", body(am_payload(list(alerts))), GROUP_BY))


def requests(services: Services) -> list[tuple[int | None, str, str]]:
    with services.db.read() as conn:
        rows = conn.execute(
            select(OutboxMessage.incident_id, OutboxMessage.payload)
            .where(OutboxMessage.topic == "llm", OutboxMessage.kind == "draft.requested")
            .order_by(OutboxMessage.id)
        )
        return [(r.incident_id, r.payload["kind"], r.payload["reason"]) for r in rows]


def test_an_incident_opening_asks_for_one_summary_even_with_many_alerts(services: Services) -> None:
    send(services, *[am_alert(instance=f"checkout-{i}:8080") for i in range(5)])

    assert requests(services) == [(1, "summary", "opened")]


def test_alerts_joining_one_by_one_ask_again_only_at_the_growth_marks(services: Services) -> None:
    send(services, am_alert(instance="i0"))
    for i in range(1, 30):
        send(services, am_alert(instance=f"i{i}", starts_at=T0 + timedelta(minutes=i)))

    assert requests(services) == [
        (1, "summary", "opened"),
        (1, "summary", "alerts"),
        (1, "summary", "alerts"),
    ]


def test_a_severity_change_and_a_resolution_ask_for_drafts(services: Services) -> None:
    warning = am_alert(instance="a", severity="warning")
    send(services, warning)
    critical = am_alert(instance="b", severity="critical", starts_at=T0 + timedelta(minutes=1))
    send(services, critical)
    send(
        services,
        {**warning, "status": "resolved", "endsAt": "2026-11-20T09:00:00Z"},
        {**critical, "status": "resolved", "endsAt": "2026-11-20T09:00:00Z"},
    )

    assert requests(services) == [
        (1, "summary", "opened"),
        (1, "summary", "severity"),
        (1, "resolution", "resolved"),
    ]


def test_duplicates_and_partial_resolutions_ask_for_nothing(services: Services) -> None:
    first, second = am_alert(instance="a"), am_alert(instance="b")
    send(services, first, second)
    send(services, first)  # a resend
    send(services, {**first, "status": "resolved", "endsAt": "2026-11-20T09:00:00Z"})

    assert requests(services) == [(1, "summary", "opened")]


@pytest.mark.parametrize(
    ("before", "after", "material"),
    [(1, 10, False), (1, 11, True), (11, 21, False), (21, 22, True), (5, 500, True), (88, 175, False)],
)
def test_growth_marks(before: int, after: int, material: bool) -> None:
    assert alert_growth_is_material(before, after) is material


def test_request_draft_enqueues_the_contracted_row(services: Services) -> None:
    send(services, am_alert())
    with services.db.write() as conn:
        request_draft(conn, 1, "runbook", reason="command", requested_by="U42", now=T0)

    with services.db.read() as conn:
        row = conn.execute(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)).one()
    assert (row.topic, row.kind, row.incident_id, row.payload) == (
        "llm",
        "draft.requested",
        1,
        {"kind": "runbook", "reason": "command", "requested_by": "U42"},
    )


@pytest.mark.parametrize(("kind", "reason"), [("poem", "command"), ("summary", "whim")])
def test_a_bad_draft_request_is_refused_by_name(kind: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"poem|whim"):
        draft_requested(1, kind, reason=reason)  # type: ignore[arg-type]
