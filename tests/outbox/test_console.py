"""Without a Slack token the console shows people's actions the way the thread would."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.bootstrap import Services, build_ticker
from bot.incidents.actions import IncidentActions
from bot.outbox.console import ConsoleSink
from bot.outbox.worker import OutboxWorker, TopicRouter
from tests.support.clock import Clock
from tests.support.payloads import am_alert
from tests.support.slack import fire


def test_actions_are_printed_with_who_and_why(services: Services, clock: Clock) -> None:
    lines: list[str] = []
    fire(services, am_alert())
    with services.db.write() as conn:
        actions = IncidentActions(conn)
        actions.acknowledge(1, user="U0ALICE", at=clock.now, now=clock.now)
        actions.set_severity(
            1, severity="SEV2", user="U0ALICE", at=clock.now, now=clock.now, reason="one region"
        )
        actions.resolve(1, user="U0BOB", at=clock.now, now=clock.now, note="rolled back")
    worker = OutboxWorker(db=services.db, sink=TopicRouter({"slack": ConsoleSink(lines.append)}), clock=clock)

    while asyncio.run(worker.run_once()):
        pass

    text = "\n".join(lines)
    assert "acknowledged by U0ALICE" in text
    assert "severity SEV1 → SEV2 by U0ALICE: one region" in text
    assert "resolved by U0BOB: rolled back" in text


def test_a_reminder_is_printed_with_how_long_the_incident_waited(services: Services, clock: Clock) -> None:
    lines: list[str] = []
    fire(services, am_alert())
    clock.now += timedelta(minutes=10)
    assert build_ticker(services).run_once().escalation.reminded == [1]
    worker = OutboxWorker(db=services.db, sink=TopicRouter({"slack": ConsoleSink(lines.append)}), clock=clock)

    while asyncio.run(worker.run_once()):
        pass

    assert "[slack] REMINDER #1 SEV1 [open]" in "\n".join(lines)
    assert "no acknowledgement after 10 min (reminder 1)" in "\n".join(lines)
