"""Helpers for the Slack tests: the real Slack sink on the fake Slack, and an outbox worker that runs it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.bootstrap import Services
from bot.metrics import Metrics
from bot.normalize import normalize
from bot.outbox.worker import OutboxWorker, TopicRouter
from bot.settings import FileConfig
from bot.slack.pacing import ChannelPacer
from bot.slack.sink import SlackOptions, SlackSink
from bot.slack.webapi import make_client
from storage.models import Incident, OutboxMessage
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import am_payload, body

BOT_TOKEN = "xoxb-test-bot-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GROUP_BY = ["alertname"]


def fire(services: Services, *alerts: dict[str, Any], group_key: str | None = None) -> None:
    services.ingestor.ingest(
        normalize("alertmanager", body(am_payload(list(alerts), group_key=group_key)), GROUP_BY)
    )


@dataclass
class Delivery:
    """The real Slack sink, wired to the fake, and a worker that runs it pass by pass."""

    services: Services
    slack: FakeSlack
    clock: Clock
    sink: SlackSink
    worker: OutboxWorker
    metrics: Metrics

    def run(self, passes: int = 1) -> int:
        return sum(asyncio.run(self.worker.run_once()) for _ in range(passes))

    def drain(self, *, step: timedelta = timedelta(seconds=1), limit: int = 200) -> None:
        """Run passes, moving the clock on, until nothing is pending (bounded)."""
        for _ in range(limit):
            if not self.pending():
                return
            self.run()
            self.clock.now += step
        raise AssertionError(f"outbox not drained: {self.rows()}")

    def pending(self) -> int:
        return sum(1 for row in self.rows() if row["status"] == "pending")

    def rows(self) -> list[dict[str, Any]]:
        with self.services.db.read() as conn:
            result = conn.execute(
                select(OutboxMessage).where(OutboxMessage.topic == "slack").order_by(OutboxMessage.id)
            )
            return [dict(r._mapping) for r in result]

    def incident(self, incident_id: int = 1) -> Incident:
        with self.services.db.read() as conn:
            row = conn.execute(select(Incident).where(Incident.id == incident_id)).one()
            return Incident(**row._mapping)


def make_delivery(
    services: Services,
    slack: FakeSlack,
    clock: Clock,
    *,
    config: FileConfig | None = None,
    pace: float = 0.0,
    pacer: ChannelPacer | None = None,
    reply_interval: timedelta = timedelta(seconds=30),
    name: str = "w1",
    mention: str | None = None,
    timeout: int = 30,
    lease: timedelta = timedelta(seconds=60),
) -> Delivery:
    metrics = Metrics()
    sink = SlackSink(
        db=services.db,
        client=make_client(token=BOT_TOKEN, base_url=slack.api_url, timeout=timeout),
        config=config or FileConfig(),
        options=SlackOptions(default_channel="#alerts", reply_interval=reply_interval, sev1_mention=mention),
        metrics=metrics,
        pacer=pacer or (ChannelPacer(services.db, interval=pace, max_sleep=5.0) if pace else None),
        clock=clock,
        lease=lease,
    )
    worker = OutboxWorker(
        db=services.db,
        sink=TopicRouter({"slack": sink}),
        metrics=metrics,
        clock=clock,
        name=name,
        lease=lease,
    )
    return Delivery(services, slack, clock, sink, worker, metrics)
