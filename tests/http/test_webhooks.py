"""The webhook edge over HTTP: tokens, size limit, malformed and invalid bodies, and each source's shape."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from tests.support.clock import Clock
from tests.support.db import row_counts
from tests.support.payloads import am_alert, am_payload, body, grafana_payload
from tests.support.settings import LOOPBACK_CLIENT, make_settings

TOKEN = "s3cret-webhook-token"
GRAFANA_TOKEN = "grafana-only-token"


@pytest.fixture
def client(tmp_path: Path, sqlite_url: str, clock: Clock) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        sqlite_url,
        webhook_token=TOKEN,
        webhook_token_grafana=GRAFANA_TOKEN,
        max_body_bytes=64 * 1024,
    )
    with TestClient(create_app(settings, clock=clock), client=LOOPBACK_CLIENT) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def nothing_written(client: TestClient) -> bool:
    counts = row_counts(client.app.state.services.db)  # type: ignore[attr-defined]
    return all(n == 0 for n in counts.values())


def test_alertmanager_payload_is_accepted_after_commit(client: TestClient) -> None:
    response = client.post(
        "/webhooks/alertmanager", content=body(am_payload([am_alert()])), headers=bearer(TOKEN)
    )

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "incidents": [1],
        "opened": [1],
        "truncated": 0,
    }
    detail = client.get("/api/incidents/1").json()
    assert (
        detail["alerts"][0]["expression"]
        == 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.05'
    )


def test_alertmanager_truncated_alerts_are_reported(client: TestClient) -> None:
    payload = am_payload([am_alert()], truncated=7)

    response = client.post("/webhooks/alertmanager", content=body(payload), headers=bearer(TOKEN))

    assert response.json()["truncated"] == 7
    assert 'sevbot_alerts_truncated_total{source="alertmanager"} 7.0' in client.get("/metrics").text


def test_grafana_documented_payload_keeps_links_and_values(client: TestClient) -> None:
    response = client.post(
        "/webhooks/grafana", content=body(grafana_payload()), headers=bearer(GRAFANA_TOKEN)
    )

    assert response.status_code == 202
    alert = client.get("/api/incidents/1").json()["alerts"][0]
    assert alert["values"] == {"B": 93.5, "C": 1}
    assert set(alert["links"]) == {"source", "dashboard", "panel", "silence"}
    assert alert["annotations"]["value_string"].startswith("[ var='B'")


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        ("alertmanager", {}),
        ("alertmanager", bearer("wrong-token-value")),
        ("alertmanager", {"Authorization": f"Token {TOKEN}"}),
        ("grafana", bearer(TOKEN)),  # Grafana has its own token, which takes precedence
        ("generic", {"Authorization": "Basic " + base64.b64encode(b"sevbot:nope-nope").decode()}),
    ],
)
def test_missing_or_wrong_tokens_get_401_and_write_nothing(
    client: TestClient, source: str, headers: dict[str, str]
) -> None:
    payload: Any = {"title": "x"} if source == "generic" else am_payload([am_alert()])
    if source == "grafana":
        payload = grafana_payload()

    response = client.post(f"/webhooks/{source}", content=body(payload), headers=headers)

    assert response.status_code == 401
    assert nothing_written(client)


def test_basic_auth_password_is_accepted_as_the_token(client: TestClient) -> None:
    credentials = base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()

    response = client.post(
        "/webhooks/generic", content=body({"title": "x"}), headers={"Authorization": f"Basic {credentials}"}
    )

    assert response.status_code == 202


def test_oversize_body_gets_413_and_writes_nothing(client: TestClient) -> None:
    alerts = [am_alert(instance=f"i{i}", annotations={"description": "x" * 1000}) for i in range(100)]

    response = client.post("/webhooks/alertmanager", content=body(am_payload(alerts)), headers=bearer(TOKEN))

    assert response.status_code == 413
    assert "65536" in response.json()["error"]
    assert nothing_written(client)


def test_oversize_streamed_body_without_length_gets_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = client.post("/webhooks/generic", content=chunks(), headers=bearer(TOKEN))

    assert response.status_code == 413
    assert nothing_written(client)


def test_body_that_is_not_json_gets_400(client: TestClient) -> None:
    response = client.post("/webhooks/alertmanager", content=b'{"version": "4", ', headers=bearer(TOKEN))

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert nothing_written(client)


def test_invalid_payload_gets_422_naming_each_field(client: TestClient) -> None:
    good = am_alert(instance="good")
    bad = {**am_alert(instance="bad"), "startsAt": "yesterday"}
    payload = am_payload([good, bad])
    del payload["groupKey"]

    response = client.post("/webhooks/alertmanager", content=body(payload), headers=bearer(TOKEN))

    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["fields"]}
    assert fields == {"groupKey", "alerts.1.startsAt"}
    assert nothing_written(client)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x", "status": "open"}, "status"),
        ({"title": "x", "labels": {"a": 1}}, "labels.a"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"alerts": []}, "alerts"),
        (["not", "an", "object"], "(body)"),
    ],
)
def test_generic_validation_names_the_field(client: TestClient, payload: Any, field: str) -> None:
    response = client.post("/webhooks/generic", content=body(payload), headers=bearer(TOKEN))

    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["fields"]]


def test_wrong_alertmanager_version_is_refused(client: TestClient) -> None:
    payload = {**am_payload([am_alert()]), "version": "3"}

    response = client.post("/webhooks/alertmanager", content=body(payload), headers=bearer(TOKEN))

    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "version"


def test_nul_characters_and_huge_labels_do_not_break_storage(client: TestClient) -> None:
    alert = am_alert(extra_labels={"pod": "web\x00-1", "note": "y" * 20000})

    response = client.post("/webhooks/alertmanager", content=body(am_payload([alert])), headers=bearer(TOKEN))

    assert response.status_code == 202
    labels = client.get("/api/incidents/1").json()["alerts"][0]["labels"]
    assert labels["pod"] == "web-1"
    assert len(labels["note"]) == 4096


def test_unknown_source_is_refused(client: TestClient) -> None:
    response = client.post("/webhooks/nagios", content=b"{}", headers=bearer(TOKEN))

    assert response.status_code == 422
