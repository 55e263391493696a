"""The outbox worker: delivers in order, retries with backoff, gives up on permanent errors, never twice."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy import delete, select

from bot.bootstrap import Services
from bot.errors import PermanentError, RetryAfter
from bot.normalize import normalize
from bot.outbox.console import ConsoleSink
from bot.outbox.worker import WORKER_THREADS, OutboxWorker, limit_threads
from storage.models import Incident, OutboxMessage
from storage.outbox import OutboxItem
from tests.support.clock import Clock
from tests.support.payloads import T0, am_alert, am_payload, body

GROUP_BY = ["alertname"]


def fire(services: Services, *alerts: dict[str, Any]) -> None:
    services.ingestor.ingest(normalize("alertmanager", body(am_payload(list(alerts))), GROUP_BY))
    with services.db.write() as conn:  # these tests are about delivery: drop the draft requests (tests/llm)
        conn.execute(delete(OutboxMessage).where(OutboxMessage.topic == "llm"))


def rows(services: Services) -> list[tuple[str, str, int, str | None]]:
    with services.db.read() as conn:
        result = conn.execute(
            select(
                OutboxMessage.kind, OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error
            ).order_by(OutboxMessage.id)
        )
        return [(r.kind, r.status, r.attempts, r.last_error) for r in result]


class RecordingSink:
    """Records what it is given; fails the way it is told to, a given number of times."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.delivered: list[tuple[int, str]] = []

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append((message.id, message.kind))
        return {"ok": True}


def worker(services: Services, sink: Any, clock: Clock, name: str = "w1") -> OutboxWorker:
    return OutboxWorker(db=services.db, sink=sink, clock=clock, name=name)


def test_console_sink_prints_what_it_would_post(services: Services, clock: Clock) -> None:
    lines: list[str] = []
    fire(services, am_alert(instance="a"))
    fire(services, am_alert(instance="b", starts_at=T0 + timedelta(minutes=1)))

    delivered = asyncio.run(worker(services, ConsoleSink(lines.append), clock).run_once())

    assert delivered == 2
    assert lines[0].startswith("[slack] NEW INCIDENT #1 SEV1 [open] CheckoutHighErrorRate on a")
    assert "why: source says critical +1.0" in lines[0]
    assert "+1 alert(s) joined: CheckoutHighErrorRate" in lines[1]
    assert [r[:2] for r in rows(services)] == [("incident.opened", "done"), ("incident.updated", "done")]


def test_a_failing_sink_is_retried_with_backoff_and_delivered_once(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    sink = RecordingSink([ConnectionError("slack down"), ConnectionError("still down")])
    outbox_worker = worker(services, sink, clock)

    assert asyncio.run(outbox_worker.run_once()) == 1
    assert asyncio.run(outbox_worker.run_once()) == 0  # backing off: not due yet
    clock.now += timedelta(seconds=1)
    asyncio.run(outbox_worker.run_once())
    clock.now += timedelta(seconds=2)
    asyncio.run(outbox_worker.run_once())

    assert sink.delivered == [(1, "incident.opened")]
    assert rows(services) == [("incident.opened", "done", 3, "ConnectionError('still down')")]


def test_retry_after_is_honoured(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    sink = RecordingSink([RetryAfter(30)])
    outbox_worker = worker(services, sink, clock)

    asyncio.run(outbox_worker.run_once())
    clock.now += timedelta(seconds=29)
    assert asyncio.run(outbox_worker.run_once()) == 0
    clock.now += timedelta(seconds=1)
    assert asyncio.run(outbox_worker.run_once()) == 1

    assert sink.delivered == [(1, "incident.opened")]


def test_a_permanent_error_is_recorded_and_not_retried(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    sink = RecordingSink([PermanentError("channel_not_found")])
    outbox_worker = worker(services, sink, clock)

    asyncio.run(outbox_worker.run_once())
    clock.now += timedelta(hours=1)

    assert asyncio.run(outbox_worker.run_once()) == 0
    assert rows(services) == [("incident.opened", "failed", 1, "channel_not_found")]


def test_a_claim_whose_worker_died_is_taken_over_after_its_lease(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    dead = worker(services, RecordingSink(), clock, name="dead")
    dead._claim()  # claimed, then the process "dies" before delivering
    survivor_sink = RecordingSink()
    survivor = worker(services, survivor_sink, clock, name="survivor")

    assert asyncio.run(survivor.run_once()) == 0
    clock.now += timedelta(seconds=61)
    assert asyncio.run(survivor.run_once()) == 1
    assert survivor_sink.delivered == [(1, "incident.opened")]


def test_concurrent_workers_never_claim_the_same_message(services: Services, clock: Clock) -> None:
    for i in range(30):
        fire(services, am_alert(name=f"Alert{i}", service=f"svc-{i}"))
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(name: str) -> None:
        outbox_worker = OutboxWorker(
            db=services.db, sink=RecordingSink(), clock=clock, name=name, batch_size=3
        )
        while items := outbox_worker._claim():
            with lock:
                claimed.extend(item.id for item in items)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with services.db.read() as conn:
        queued = list(conn.execute(select(OutboxMessage.id).order_by(OutboxMessage.id)).scalars())
    assert len(queued) == 30
    assert sorted(claimed) == queued


def test_while_webhooks_are_busy_the_in_process_worker_waits_then_takes_a_small_batch(
    services: Services, clock: Clock
) -> None:
    for n in range(5):
        fire(services, am_alert(f"Alert{n}"))
    sink = RecordingSink()
    looked: list[bool] = []

    def ingestion_busy() -> bool:  # busy for the first three looks, then quiet
        looked.append(True)
        return len(looked) <= 3

    outbox_worker = OutboxWorker(
        db=services.db, sink=sink, clock=clock, yield_to=ingestion_busy, max_yield_seconds=5
    )
    stop = asyncio.Event()
    assert asyncio.run(outbox_worker._make_way(stop)) == outbox_worker.batch_size  # waited until quiet
    assert len(looked) >= 4  # it looked again until ingestion had gone quiet

    always_busy = OutboxWorker(
        db=services.db, sink=sink, clock=clock, yield_to=lambda: True, max_yield_seconds=0, busy_batch_size=2
    )
    limit = asyncio.run(always_busy._make_way(stop))
    assert limit == 2  # never quiet: after the longest wait it still delivers, a little at a time
    assert asyncio.run(always_busy.run_once(limit)) == 2
    assert len(sink.delivered) == 2


def test_a_new_incidents_root_post_does_not_wait_for_a_pass_busy_with_another_incidents_reply(
    services: Services, clock: Clock
) -> None:
    fire(services, am_alert("Busy", instance="a"))
    assert asyncio.run(worker(services, RecordingSink(), clock).run_once()) == 1  # its root post
    fire(services, am_alert("Busy", instance="b"))  # a thread reply, which will hang

    class HangingReplies(RecordingSink):
        def __init__(self) -> None:
            super().__init__()
            self.hanging = asyncio.Event()
            self.release = asyncio.Event()
            self.root_posted = asyncio.Event()

        async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
            if message.kind == "incident.updated":
                self.hanging.set()
                await self.release.wait()
            result = await super().deliver(message, incident)
            if message.kind == "incident.opened":
                self.root_posted.set()
            return result

    async def scenario() -> list[str]:
        sink = HangingReplies()
        outbox_worker = worker(services, sink, clock)
        stop = asyncio.Event()
        running = asyncio.create_task(outbox_worker.run(stop))
        await asyncio.wait_for(sink.hanging.wait(), timeout=30)
        await asyncio.to_thread(fire, services, am_alert("New", instance="c"))
        outbox_worker.wake()
        await asyncio.wait_for(sink.root_posted.wait(), timeout=30)
        seen = [kind for _, kind in sink.delivered]  # while the reply still hangs
        sink.release.set()
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        return seen

    assert asyncio.run(scenario()) == ["incident.opened"]


def test_a_worker_process_runs_at_most_its_few_threads_at_once() -> None:
    """``sevbot worker`` limits its threads (WORKER_THREADS): the writer holding SQLite's lock gets the GIL
    back quickly. The others queue and all finish."""
    running, most = 0, 0
    guard = threading.Condition()

    def work() -> None:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
            guard.notify_all()
            # Stay until as many run as may (not a fixed pause, which a slow thread start could miss).
            guard.wait_for(lambda: running >= WORKER_THREADS, timeout=2.0)
            running -= 1

    async def main() -> None:
        limit_threads(WORKER_THREADS)
        await asyncio.gather(*(anyio.to_thread.run_sync(work) for _ in range(3 * WORKER_THREADS)))

    asyncio.run(main())
    assert most == WORKER_THREADS
