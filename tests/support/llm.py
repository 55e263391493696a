"""Helpers for the LLM tests: a sevbot app pointed at the fake LLM, and a worker the test drives."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.bootstrap import Services
from bot.llm.sink import DraftSink
from bot.outbox.console import ConsoleSink
from bot.outbox.worker import OutboxWorker, TopicRouter
from storage.models import Draft, LlmCall, OutboxMessage
from tests.support.clock import Clock
from tests.support.payloads import am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings


@dataclass
class Bot:
    """A sevbot app (its worker not started: the test drives one), and what its console sink printed."""

    client: TestClient
    clock: Clock
    lines: list[str]

    @property
    def services(self) -> Services:
        services: Services = self.client.app.state.services  # type: ignore[attr-defined]
        return services

    @property
    def router(self) -> TopicRouter:
        router: TopicRouter = self.client.app.state.sinks  # type: ignore[attr-defined]
        return router

    @property
    def sink(self) -> DraftSink:
        sink = self.router.sinks["llm"]
        assert isinstance(sink, DraftSink)
        return sink

    def alert(self, *alerts: dict[str, Any], group_key: str | None = None) -> dict[str, Any]:
        response = self.client.post(
            "/webhooks/alertmanager", content=body(am_payload(list(alerts), group_key=group_key))
        )
        assert response.status_code == 202, response.text
        result: dict[str, Any] = response.json()
        return result

    def worker(self) -> OutboxWorker:
        return OutboxWorker(db=self.services.db, sink=self.router, clock=self.clock, name="test")

    async def drain(self) -> None:
        """Deliver every due row, waiting for drafts in flight, until nothing is due or in flight.

        A row handed back while another draft was in flight comes due after the sink's re-check: the
        clock moves on by that much when such a draft is ready.
        """
        worker = self.worker()
        while True:
            delivered = await worker.run_once()
            if self.sink.in_flight:
                await self.sink.drain()
            elif self.sink.ready:
                self.clock.now += timedelta(seconds=self.sink.recheck)
            elif not delivered:
                return

    def run(self) -> None:
        asyncio.run(self.drain())

    def outbox(self, topic: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, status, payload) of each outbox row, oldest first."""
        stmt = select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.payload).order_by(
            OutboxMessage.id
        )
        if topic:
            stmt = stmt.where(OutboxMessage.topic == topic)
        with self.services.db.read() as conn:
            return [(r.kind, r.status, r.payload) for r in conn.execute(stmt)]

    def results(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        """(status, result) of each outbox row of ``topic``, oldest first."""
        stmt = (
            select(OutboxMessage.status, OutboxMessage.result)
            .where(OutboxMessage.topic == topic)
            .order_by(OutboxMessage.id)
        )
        with self.services.db.read() as conn:
            return [(r.status, r.result) for r in conn.execute(stmt)]

    def calls(self) -> list[LlmCall]:
        with self.session() as session:
            return list(session.scalars(select(LlmCall).order_by(LlmCall.id)))

    def drafts(self) -> list[Draft]:
        with self.session() as session:
            return list(session.scalars(select(Draft).order_by(Draft.id)))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.services.db.read() as conn, Session(bind=conn, expire_on_commit=False) as session:
            yield session


@contextmanager
def running_bot(tmp_path: Path, database_url: str, clock: Clock, **settings: Any) -> Iterator[Bot]:
    lines: list[str] = []
    # Deliveries wait for their draft (the hand-off to a background task is tested on its own).
    settings.setdefault("llm_handoff_seconds", 30.0)
    app = create_app(
        make_settings(tmp_path, database_url, **settings), sink=ConsoleSink(lines.append), clock=clock
    )
    with TestClient(app, client=LOOPBACK_CLIENT) as client:
        yield Bot(client=client, clock=clock, lines=lines)
