"""The heartbeat over real HTTP: Watchdog webhooks are recorded, never incidents; a silent pipeline opens a
SEV1 incident posted to the fake Slack, resolved when Watchdog returns; ``/metrics`` shows the last-seen
time (the app's webhook route, the real Slack sink, the ticker on the test clock; SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.bootstrap import Services, build_ticker
from bot.incidents.ticker import Ticker
from bot.outbox.worker import OutboxWorker
from bot.settings.escalation import HeartbeatConfig
from storage.incident_reads import IncidentReads
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert, am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings
from tests.support.slack import BOT_TOKEN

TOKEN = "heartbeat-webhook-token"


@dataclass
class Pipeline:
    client: TestClient
    services: Services
    ticker: Ticker
    worker: OutboxWorker
    clock: Clock

    def send(self, *alerts: dict[str, object]) -> None:
        response = self.client.post(
            "/webhooks/alertmanager",
            content=body(am_payload(list(alerts))),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 202, response.text

    def tick_and_deliver(self) -> tuple[list[int], list[int]]:
        tick = self.ticker.run_once()
        for _ in range(3):
            asyncio.run(self.worker.run_once())
        return tick.heartbeat.opened, tick.heartbeat.resolved

    def incidents(self) -> list[dict[str, object]]:
        return list(self.client.get("/api/incidents").json()["items"])


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack) -> Iterator[Pipeline]:
    settings = make_settings(
        tmp_path,
        database_url,
        webhook_token=TOKEN,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        slack_channel="#alerts",
        slack_channel_interval=0,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app, client=LOOPBACK_CLIENT) as client:
        services = app.state.services
        worker = OutboxWorker(db=services.db, sink=app.state.sinks, clock=clock, name="w-hb")
        yield Pipeline(client, services, build_ticker(services), worker, clock)


def watchdog() -> dict[str, object]:
    return am_alert("Watchdog", severity="none", service="prometheus", instance="prom-0", starts_at=T0)


def test_a_silent_pipeline_opens_a_sev1_incident_resolved_when_the_heartbeat_returns(
    pipeline: Pipeline, clock: Clock, slack: FakeSlack
) -> None:
    pipeline.send(watchdog())
    assert pipeline.incidents() == []  # Watchdog is not an incident
    metrics = pipeline.client.get("/metrics").text
    expected = 'sevbot_heartbeat_last_seen_timestamp_seconds{alertname="Watchdog",source="alertmanager"}'
    [line] = [line for line in metrics.splitlines() if line.startswith(expected)]
    assert float(line.split()[-1]) == T0.timestamp()

    clock.now = T0 + timedelta(minutes=9)
    pipeline.send(watchdog())  # Alertmanager's repeat: the heartbeat goes on
    clock.now = T0 + timedelta(minutes=18, seconds=59)
    assert pipeline.tick_and_deliver() == ([], [])
    clock.now = T0 + timedelta(minutes=19)
    assert pipeline.tick_and_deliver() == ([1], [])
    assert pipeline.tick_and_deliver() == ([], [])  # one incident per silence

    with pipeline.services.db.read() as conn:
        incident = IncidentReads(conn).get(1)
    assert incident is not None and incident.severity == "SEV1" and incident.status == "open"
    assert (
        incident.title
        == "Alerting pipeline silent: no Watchdog from alertmanager since 2026-11-20 08:09:00 UTC"
    )
    assert incident.alertname == "AlertingPipelineSilent"
    [root] = slack.calls_to("chat.postMessage", ok=True)
    assert "Alerting pipeline silent" in root.args["text"]
    assert "last seen 2026-11-20 08:09:00 UTC" in json.dumps(root.args["blocks"])

    clock.now = T0 + timedelta(minutes=25)
    pipeline.send(watchdog())
    assert pipeline.tick_and_deliver() == ([], [1])
    with pipeline.services.db.read() as conn:
        resolved = IncidentReads(conn).get(1)
    assert resolved is not None and resolved.status == "resolved"
    posts = slack.calls_to("chat.postMessage", ok=True)
    reply = posts[-1]
    assert reply.args["thread_ts"] == root.response["ts"]
    assert "Resolved by heartbeat" in reply.args["text"] and "is back" in reply.args["text"]
    assert len(pipeline.incidents()) == 1  # however many Watchdogs arrived

    clock.now = T0 + timedelta(minutes=35)  # silent again: a new incident
    assert pipeline.tick_and_deliver() == ([2], [])


def test_a_resolved_watchdog_is_not_a_heartbeat_and_not_an_incident(pipeline: Pipeline, clock: Clock) -> None:
    pipeline.send(watchdog())
    clock.now = T0 + timedelta(minutes=8)
    pipeline.send({**watchdog(), "status": "resolved", "endsAt": "2026-11-20T08:08:00Z"})
    assert pipeline.incidents() == []
    clock.now = T0 + timedelta(minutes=10)
    assert pipeline.tick_and_deliver() == ([1], [])  # counted from the last firing one


def test_heartbeat_names_and_timeout_are_validated() -> None:
    assert HeartbeatConfig().alerts == ["Watchdog", "DeadMansSwitch"]
    assert HeartbeatConfig().timeout == timedelta(minutes=10)
    with pytest.raises(ValueError, match="between 1m and 7d"):
        HeartbeatConfig(timeout="10s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        HeartbeatConfig(alerts=["Watchdog", " "])
