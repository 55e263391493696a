"""The read side: listing with filters and pages, one incident in full, health, readiness and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from tests.support.clock import Clock
from tests.support.payloads import T0, am_alert, am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings


@pytest.fixture
def client(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[TestClient]:
    with TestClient(
        create_app(make_settings(tmp_path, database_url), clock=clock), client=LOOPBACK_CLIENT
    ) as test_client:
        yield test_client


def post(client: TestClient, alerts: list[dict[str, object]], group_key: str) -> None:
    response = client.post("/webhooks/alertmanager", content=body(am_payload(alerts, group_key=group_key)))
    assert response.status_code == 202


@pytest.fixture
def populated(client: TestClient, clock: Clock) -> TestClient:
    clock.now = T0 + timedelta(days=3)
    post(client, [am_alert("DiskFull", service="db", severity="warning", starts_at=T0)], "g1")
    post(client, [am_alert("ApiDown", service="api", starts_at=T0 + timedelta(days=2))], "g2")
    resolved = am_alert(
        "QueueSlow", service="api", severity="info", starts_at=T0 + timedelta(days=2, hours=1)
    )
    post(client, [resolved], "g3")
    post(client, [{**resolved, "status": "resolved", "endsAt": "2026-11-22T10:00:00Z"}], "g3")
    return client


def ids(response_json: dict[str, object]) -> list[int]:
    return [item["id"] for item in response_json["items"]]  # type: ignore[attr-defined, index]


def test_list_is_newest_first_and_filters_by_status_severity_service_since(populated: TestClient) -> None:
    assert ids(populated.get("/api/incidents").json()) == [3, 2, 1]
    assert ids(populated.get("/api/incidents", params={"status": "resolved"}).json()) == [3]
    assert ids(populated.get("/api/incidents", params={"severity": "SEV1"}).json()) == [2]
    assert ids(populated.get("/api/incidents", params={"service": "api"}).json()) == [3, 2]
    assert ids(populated.get("/api/incidents", params={"since": "2d"}).json()) == [3, 2]
    assert ids(populated.get("/api/incidents", params={"since": "2026-11-22T08:30:00Z"}).json()) == [3]


def test_list_is_paginated(populated: TestClient) -> None:
    page = populated.get("/api/incidents", params={"limit": 2, "offset": 2}).json()

    assert (ids(page), page["total"], page["limit"], page["offset"]) == ([1], 3, 2, 2)


@pytest.mark.parametrize(
    "params", [{"status": "closed"}, {"severity": "SEV9"}, {"since": "last week"}, {"limit": 0}]
)
def test_bad_filters_get_422(client: TestClient, params: dict[str, object]) -> None:
    assert client.get("/api/incidents", params=params).status_code == 422


def test_one_incident_has_its_alerts_timeline_and_explained_severity(populated: TestClient) -> None:
    detail = populated.get("/api/incidents/3").json()

    assert detail["incident"]["status"] == "resolved"
    assert detail["incident"]["severity"]["level"] == "SEV4"
    assert detail["incident"]["severity"]["explanation"] == [{"text": "source says info", "weight": 1.0}]
    assert [a["status"] for a in detail["alerts"]] == ["resolved"]
    assert [e["kind"] for e in detail["timeline"]] == [
        "incident.opened",
        "alert.firing",
        "alert.resolved",
        "incident.resolved",
    ]


def test_unknown_incident_is_404(client: TestClient) -> None:
    assert client.get("/api/incidents/999").status_code == 404


def test_health_readiness_and_metrics(populated: TestClient) -> None:
    assert populated.get("/healthz").json() == {"status": "ok"}
    ready = populated.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "current"
    metrics = populated.get("/metrics").text
    assert 'sevbot_alerts_received_total{outcome="new",source="alertmanager"} 3.0' in metrics
    assert "sevbot_incidents_opened_total 3.0" in metrics
    assert 'sevbot_outbox_messages{status="pending"} 8.0' in metrics  # 4 Slack posts, 4 LLM draft requests
    assert 'sevbot_ingest_seconds_count{source="alertmanager"} 4.0' in metrics


def test_readiness_fails_when_migrations_are_behind(client: TestClient) -> None:
    from alembic import command

    from storage.migrate import alembic_config

    command.downgrade(alembic_config(client.app.state.services.db.engine), "base")  # type: ignore[attr-defined]

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["migrations"] == "behind"
