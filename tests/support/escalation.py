"""Helpers for the escalation and heartbeat tests: services built from a YAML file, the real Slack sink on
the fake Slack, the real pager sinks, one outbox worker for every topic, and the ticker on the test clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.bootstrap import Services, build_services, build_ticker, outbox_sinks
from bot.incidents.actions import IncidentActions
from bot.incidents.ticker import Tick, Ticker
from bot.outbox.worker import OutboxWorker
from storage.models import Incident, OutboxMessage
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.settings import make_settings
from tests.support.slack import Delivery, make_delivery


@dataclass
class Escalation:
    services: Services
    delivery: Delivery  # the Slack sink on the fake Slack
    ticker: Ticker
    worker: OutboxWorker  # every topic: slack (the fake), llm, and the configured pagers
    clock: Clock

    def tick(self) -> Tick:
        return self.ticker.run_once()

    def deliver(self, passes: int = 3) -> None:
        for _ in range(passes):
            asyncio.run(self.worker.run_once())

    def ack(self, incident_id: int = 1, user: str = "U0ALICE") -> None:
        with self.services.db.write() as conn:
            IncidentActions(conn).acknowledge(incident_id, user=user, at=self.clock.now, now=self.clock.now)

    def resolve(self, incident_id: int = 1, user: str = "U0ALICE") -> None:
        with self.services.db.write() as conn:
            IncidentActions(conn).resolve(incident_id, user=user, at=self.clock.now, now=self.clock.now)

    def rows(self, topic: str) -> list[dict[str, Any]]:
        with self.services.db.read() as conn:
            stmt = select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def incidents(self) -> list[Incident]:
        with self.services.db.read() as conn:
            return [Incident(**r._mapping) for r in conn.execute(select(Incident).order_by(Incident.id))]


@contextmanager
def escalation(
    tmp_path: Path,
    database_url: str,
    clock: Clock,
    slack: FakeSlack,
    yaml_text: str,
    *,
    mention: str | None = None,
    **settings: Any,
) -> Iterator[Escalation]:
    config = tmp_path / "sevbot.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    services = build_services(make_settings(tmp_path, database_url, config=config, **settings), clock=clock)
    try:
        delivery = make_delivery(services, slack, clock, config=services.config, mention=mention)
        worker = OutboxWorker(
            db=services.db, sink=outbox_sinks(services, slack=delivery.sink), clock=clock, name="w-esc"
        )
        yield Escalation(services, delivery, build_ticker(services), worker, clock)
    finally:
        services.close()
