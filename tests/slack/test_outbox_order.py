"""The outbox keeps each incident's messages in order, and the worker wakes for deferred rows on time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.bootstrap import Services
from bot.outbox.worker import OutboxWorker
from storage.models import OutboxMessage
from storage.outbox import NewMessage, OutboxRepository
from tests.support.clock import Clock
from tests.support.payloads import am_alert
from tests.support.slack import fire


def claim(services: Services, clock: Clock, worker: str = "w1") -> list[tuple[int, int | None]]:
    """Claim what is due; the Slack rows taken, as (id, incident id)."""
    with services.db.write() as conn:
        items = OutboxRepository(conn).claim(
            worker=worker, now=clock.now, lease=timedelta(seconds=60), limit=50
        )
    return [(item.id, item.incident_id) for item in items if item.topic == "slack"]


def back_off(services: Services, message_id: int, *, until: datetime) -> None:
    """Put a row in the state a failed attempt leaves it in: pending, due at ``until``."""
    with services.db.write() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(next_attempt_at=until, attempts=OutboxMessage.attempts + 1, last_error="slack down")
        )


def slack_row(services: Services, incident_id: int, kind: str) -> int:
    with services.db.read() as conn:
        return int(
            conn.execute(
                select(OutboxMessage.id).where(
                    OutboxMessage.topic == "slack",
                    OutboxMessage.incident_id == incident_id,
                    OutboxMessage.kind == kind,
                )
            ).scalar_one()
        )


def test_a_later_message_waits_while_an_earlier_one_of_its_incident_backs_off(
    services: Services, clock: Clock
) -> None:
    fire(services, am_alert(name="A"))
    fire(services, am_alert(name="B", service="payments"))
    with services.db.write() as conn:
        OutboxRepository(conn).enqueue(
            [NewMessage("slack", "incident.updated", 1, {"changes": []})], clock.now
        )
    back_off(services, slack_row(services, 1, "incident.opened"), until=clock.now + timedelta(seconds=30))

    claimed = claim(services, clock)

    assert [incident for _, incident in claimed] == [2]  # incident 1's update waits for its root
    clock.now += timedelta(seconds=30)
    assert [incident for _, incident in claim(services, clock, "w2")] == [1, 1]  # then both, in order


def test_rows_claimed_by_a_live_worker_hold_back_their_incidents_later_rows(
    services: Services, clock: Clock
) -> None:
    fire(services, am_alert(name="A"))
    first = claim(services, clock, "w1")
    with services.db.write() as conn:
        OutboxRepository(conn).enqueue(
            [NewMessage("slack", "incident.updated", 1, {"changes": []})], clock.now
        )

    assert claim(services, clock, "w2") == []
    assert [incident for _, incident in first] == [1]


def test_the_worker_wakes_when_a_deferred_row_is_due_not_a_whole_poll_later(
    services: Services, clock: Clock
) -> None:
    worker = OutboxWorker(db=services.db, sink=None, clock=clock, poll_seconds=60)  # type: ignore[arg-type]
    assert asyncio.run(worker._idle_seconds()) == 60
    fire(services, am_alert())
    back_off(services, 1, until=clock.now + timedelta(seconds=2.5))

    assert asyncio.run(worker._idle_seconds()) == 2.5
