"""End to end: a real Alertmanager notifies a running ``sevbot serve`` over HTTP with a bearer token.

Alerts go into Alertmanager through its API v2, exactly as Prometheus sends them; Alertmanager groups
them and posts its webhook to sevbot; the tests read the outcome back from sevbot's JSON API. Each test
uses its own alertname, so each has its own Alertmanager group and its own incident.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.payloads import iso
from tests.support.processes import (
    RunningProcess,
    WebhookReceiver,
    alertmanager_binary,
    alertmanager_config,
    start_alertmanager,
    start_sevbot,
    wait_until,
)
from tests.support.requirements import missing

pytestmark = pytest.mark.e2e

TOKEN = "e2e-webhook-token-5f2c9a"
WRONG_TOKEN = "not-the-token-0000"
GENERATOR_URL = "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
PROMQL = "up == 0"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-alertmanager")


@pytest.fixture(scope="module")
def am_binary() -> str:
    binary = alertmanager_binary()
    if binary is None:
        missing(
            "Alertmanager not found (apt install prometheus-alertmanager, or set SEVBOT_ALERTMANAGER_BIN)"
        )
    assert binary is not None
    return binary


@pytest.fixture(scope="module")
def sevbot(workdir: Path) -> Iterator[RunningProcess]:
    with start_sevbot(data_dir=workdir / "sevbot", token=TOKEN, stdout=workdir / "sevbot.out") as running:
        yield running


@pytest.fixture(scope="module")
def alertmanager(am_binary: str, workdir: Path, sevbot: RunningProcess) -> Iterator[RunningProcess]:
    webhook = f"{sevbot.url}/webhooks/alertmanager"
    config = alertmanager_config(
        receivers=[
            WebhookReceiver(name="sevbot", url=webhook, token=TOKEN),
            WebhookReceiver(name="wrong-token", url=webhook, token=WRONG_TOKEN, match={"route": "wrong"}),
        ],
        group_by=["alertname"],
    )
    with start_alertmanager(binary=am_binary, config=config, workdir=workdir / "alertmanager") as running:
        yield running


@pytest.fixture
def api(sevbot: RunningProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sevbot.url, timeout=5.0) as client:
        yield client


# --- helpers ----------------------------------------------------------------------------------------


def instance_down(
    alertname: str, instance: str, *, starts_at: datetime, ends_at: datetime | None = None, **labels: str
) -> dict[str, Any]:
    """One alert as Prometheus posts it to Alertmanager's API v2."""
    alert: dict[str, Any] = {
        "labels": {"alertname": alertname, "instance": instance, "job": "node", "severity": "critical"}
        | labels,
        "annotations": {"summary": f"{instance} is down", "description": "the scrape target is not up"},
        "startsAt": iso(starts_at),
        "generatorURL": GENERATOR_URL,
    }
    if ends_at is not None:
        alert["endsAt"] = iso(ends_at)
    return alert


def post_to_alertmanager(alertmanager: RunningProcess, alerts: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=5.0)
    assert response.status_code == 200, response.text


def incidents_for(api: httpx.Client, alertname: str) -> list[dict[str, Any]]:
    response = api.get("/api/incidents", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [i for i in response.json()["items"] if i["labels"].get("alertname") == alertname]


def only_incident_when(
    api: httpx.Client, alertname: str, *, alert_count: int | None = None, status: str | None = None
) -> dict[str, Any]:
    """Wait until the group's incident has ``alert_count`` alerts / ``status``; there must be one only."""

    def reached() -> dict[str, Any] | None:
        found = incidents_for(api, alertname)
        assert len(found) <= 1, f"the group was split into {len(found)} incidents: {found}"
        if not found:
            return None
        incident = found[0]
        if alert_count is not None and incident["alert_count"] != alert_count:
            return None
        if status is not None and incident["status"] != status:
            return None
        return incident

    wanted = f"alert_count={alert_count}" if alert_count is not None else f"status={status}"
    return wait_until(reached, what=f"one {alertname} incident with {wanted}")


def detail(api: httpx.Client, incident_id: int) -> dict[str, Any]:
    response = api.get(f"/api/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def webhook_answers(sevbot: RunningProcess, code: str) -> float:
    """How many Alertmanager webhooks sevbot answered with ``code`` (from its /metrics)."""
    text = httpx.get(f"{sevbot.url}/metrics", timeout=5.0).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "sevbot_webhook_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels == {"source": "alertmanager", "code": code}
    )


def instances(incident_detail: dict[str, Any]) -> list[str]:
    return sorted(a["labels"]["instance"] for a in incident_detail["alerts"])


# --- the specification ------------------------------------------------------------------------------


def test_alerts_of_one_alertmanager_group_arrive_as_one_incident_with_their_promql(
    alertmanager: RunningProcess, sevbot: RunningProcess, api: httpx.Client
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=2)
    name = "NodeDownGrouped"

    post_to_alertmanager(
        alertmanager,
        [instance_down(name, f"web-{n}:9100", starts_at=started) for n in (1, 2)],
    )
    only_incident_when(api, name, alert_count=2)
    post_to_alertmanager(alertmanager, [instance_down(name, "web-3:9100", starts_at=started)])
    incident = only_incident_when(api, name, alert_count=3)

    assert incident["status"] == "open"
    assert incident["source"] == "alertmanager"
    assert f'alertname="{name}"' in incident["group_key"]
    doc = detail(api, incident["id"])
    assert instances(doc) == ["web-1:9100", "web-2:9100", "web-3:9100"]
    assert {a["expression"] for a in doc["alerts"]} == {PROMQL}
    assert {a["generator_url"] for a in doc["alerts"]} == {GENERATOR_URL}
    assert {a["status"] for a in doc["alerts"]} == {"firing"}
    # Alertmanager sent the whole group again with web-3: the first two came back as duplicates.
    resent = [a for a in doc["alerts"] if a["labels"]["instance"] != "web-3:9100"]
    assert all(a["duplicates"] >= 1 for a in resent)
    announcement = re.compile(rf"^\[slack\] NEW INCIDENT #{incident['id']} ", re.MULTILINE)
    wait_until(
        lambda: announcement.search(sevbot.stdout()),
        what=f"the worker to announce incident #{incident['id']}",
    )
    assert len(announcement.findall(sevbot.stdout())) == 1


def test_resolving_the_alerts_in_alertmanager_resolves_the_incident(
    alertmanager: RunningProcess, api: httpx.Client
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=2)
    name = "NodeDownResolved"
    hosts = ["db-1:9100", "db-2:9100"]
    post_to_alertmanager(alertmanager, [instance_down(name, host, starts_at=started) for host in hosts])
    firing = only_incident_when(api, name, alert_count=2)
    assert firing["status"] == "open"

    ended = datetime.now(UTC) - timedelta(seconds=1)
    post_to_alertmanager(
        alertmanager, [instance_down(name, host, starts_at=started, ends_at=ended) for host in hosts]
    )
    resolved = only_incident_when(api, name, status="resolved")

    assert resolved["id"] == firing["id"]
    assert resolved["resolved_at"] is not None
    assert resolved["firing_count"] == 0
    doc = detail(api, resolved["id"])
    assert instances(doc) == hosts
    assert {a["status"] for a in doc["alerts"]} == {"resolved"}
    assert all(a["ends_at"] is not None for a in doc["alerts"])
    assert "incident.resolved" in [event["kind"] for event in doc["timeline"]]


def test_a_webhook_with_the_wrong_token_is_refused_and_nothing_is_stored(
    alertmanager: RunningProcess, sevbot: RunningProcess, api: httpx.Client
) -> None:
    refused_before = webhook_answers(sevbot, "401")
    name = "NodeDownWrongToken"

    post_to_alertmanager(
        alertmanager,
        [instance_down(name, "edge-1:9100", starts_at=datetime.now(UTC), route="wrong")],
    )
    wait_until(
        lambda: webhook_answers(sevbot, "401") > refused_before,
        what="sevbot to refuse Alertmanager's webhook sent with the wrong token",
    )

    assert incidents_for(api, name) == []
    payload = {"version": "4", "groupKey": "{}", "status": "firing", "alerts": []}
    for headers in ({"Authorization": f"Bearer {WRONG_TOKEN}"}, {}):
        response = api.post("/webhooks/alertmanager", json=payload, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    right = api.post("/webhooks/alertmanager", json=payload, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 202, "the same body with the right token is accepted"
