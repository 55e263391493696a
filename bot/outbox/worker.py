"""The outbox worker: claims due outbox rows and delivers them to a sink, with backoff and leases.

It runs inside ``sevbot serve`` by default (woken as soon as ingestion commits) or as ``sevbot worker``
processes. A sink raises :class:`PermanentError` for failures that retrying cannot fix (the row fails),
:class:`DeliveryBlocked` for those only a person can fix (the row is parked until ``sevbot outbox retry
--parked``); anything else is retried with exponential backoff, so an outage of the sink delays messages
and loses none.

Every write about a claimed row carries the claim's lease token: when the lease ran out and another
worker took the row over, the write changes nothing, and is counted in ``sevbot_outbox_lease_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio

from analytics.records import OutboxKind
from bot.clock import utcnow
from bot.errors import DeliveryBlocked, LeaseLost, PermanentError, RetryAfter
from bot.metrics import Metrics
from storage.db import Database
from storage.incident_reads import IncidentReads
from storage.models import Incident
from storage.outbox import OutboxItem, OutboxRepository

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
YIELD_STEP_SECONDS = 0.02  # how often a yielding worker looks whether ingestion has gone quiet
ROOT_KINDS: tuple[str, ...] = (OutboxKind.INCIDENT_OPENED,)  # what people wait for: delivered first
ROOT_TASKS = 32  # root posts under way at once
# Threads a worker process runs its SQL and rendering on (anyio's default is 40). A writer thread that holds
# SQLite's write lock needs the GIL back after each statement; with dozens of threads reading grounding
# and rendering beside it, it waited for it, and serve's webhooks waited for the lock that long.
WORKER_THREADS = 4


def limit_threads(threads: int) -> None:
    """At most ``threads`` of this event loop's ``anyio.to_thread`` calls at once; the others queue."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


class Sink(Protocol):
    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]: ...


class TopicRouter:
    """A sink that hands each message to the sink registered for its topic ("slack", "llm", …).

    A message whose topic has no sink fails for good (recorded on the row), rather than looping forever.
    """

    def __init__(self, sinks: dict[str, Sink] | None = None) -> None:
        self.sinks: dict[str, Sink] = dict(sinks or {})

    def register(self, topic: str, sink: Sink) -> None:
        self.sinks[topic] = sink

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        sink = self.sinks.get(message.topic)
        if sink is None:
            raise PermanentError(f"no sink for outbox topic {message.topic!r}")
        return await sink.deliver(message, incident)


class Delivery(enum.StrEnum):
    """How one delivery attempt ended (``sevbot_outbox_delivered{outcome}``)."""

    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"
    PARKED = "parked"


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at five minutes."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempts)))


class OutboxWorker:
    def __init__(
        self,
        *,
        db: Database,
        sink: Sink,
        metrics: Metrics | None = None,
        batch_size: int = 50,
        lease: timedelta = timedelta(seconds=60),
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        name: str | None = None,
        concurrency: int = 8,
        yield_to: Callable[[], bool] | None = None,
        max_yield_seconds: float = 1.0,
        busy_batch_size: int = 10,
    ) -> None:
        self.db = db
        self.sink = sink
        self.concurrency = max(1, concurrency)  # incidents delivered at once (each one's messages in order)
        self.metrics = metrics
        self.batch_size = batch_size
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._root_wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Ingestion first: inside `sevbot serve` the worker shares the process with the webhooks, so while
        # ``yield_to()`` says webhooks are being committed it waits (at most ``max_yield_seconds``), then
        # takes a small batch. Messages are delayed during a storm, never lost, and webhooks stay fast.
        self.yield_to = yield_to
        self.max_yield_seconds = max_yield_seconds
        self.busy_batch_size = busy_batch_size
        self._stop = asyncio.Event()
        self._roots_running = 0  # root posts being delivered now (the other deliveries wait for them)

    def wake(self) -> None:
        """Ask the worker to look at the outbox now; safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)
            self._loop.call_soon_threadsafe(self._root_wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop
        roots = asyncio.create_task(self._run_roots(stop))
        try:
            await self._run_all(stop)
        finally:
            roots.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await roots

    async def _run_roots(self, stop: asyncio.Event) -> None:
        """Root posts of new incidents, as soon as ingestion commits them: beside the main loop, so a
        root post never waits for a pass busy with drafts, replies or updates (nor for ingestion to go
        quiet: one short message per new incident is what people wait for). Each root post is delivered
        by a task of its own, so one that waits (a busy channel's pacing, a retry) holds up no other; at
        most ``ROOT_TASKS`` at once."""
        running: set[asyncio.Task[bool]] = set()
        try:
            while not stop.is_set():
                self._root_wake.clear()
                room = ROOT_TASKS - len(running)
                items: list[OutboxItem] = []
                if room > 0:
                    try:
                        items = await anyio.to_thread.run_sync(
                            self._claim, min(room, self.batch_size), ROOT_KINDS
                        )
                    except Exception:
                        log.exception("outbox worker could not claim root posts")
                for item in items:
                    task = asyncio.create_task(self._deliver_root(item))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(lambda _: self._root_wake.set())  # room again
                if not items or room <= len(items):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._root_wake.wait(), timeout=self.poll_seconds)
        finally:
            if running:  # let the posts under way finish (their rows are claimed)
                await asyncio.gather(*running, return_exceptions=True)

    async def _deliver_root(self, item: OutboxItem) -> bool:
        self._roots_running += 1
        try:
            return await self._deliver(item)
        except Exception:  # its lease runs out and the row is claimed again
            log.exception("outbox root post failed", extra={"outbox_id": item.id})
            return False
        finally:
            self._roots_running -= 1

    async def _run_all(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            limit = await self._make_way(stop)
            try:
                delivered = await self.run_once(limit)
            except Exception:
                log.exception("outbox worker pass failed")
                delivered = 0
            if delivered < self.batch_size:
                self._wake.clear()
                stop_wait = asyncio.ensure_future(stop.wait())
                wake_wait = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    {stop_wait, wake_wait},
                    timeout=await self._idle_seconds(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                stop_wait.cancel()
                wake_wait.cancel()

    async def _idle_seconds(self) -> float:
        """How long to wait for a wake-up: the poll interval, or less when a deferred row is due sooner."""
        try:
            due = await anyio.to_thread.run_sync(self._next_due)
        except Exception:
            log.exception("outbox worker could not read the next due time")
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, (due - self.clock()).total_seconds()))

    def _next_due(self) -> datetime | None:
        with self.db.read() as conn:
            return OutboxRepository(conn).next_due_after(self.clock())

    async def _make_way(self, stop: asyncio.Event | None = None) -> int:
        """Wait while ingestion is busy or root posts are under way (bounded); how many messages to take
        next. Root posts go first: a draft or an update started beside one would share its GIL."""
        stop = stop or self._stop
        if not self._held_back():
            return self.batch_size
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_yield_seconds
        while self._held_back() and loop.time() < deadline and not stop.is_set():
            with contextlib.suppress(TimeoutError):  # look again shortly, or stop at once
                await asyncio.wait_for(stop.wait(), timeout=YIELD_STEP_SECONDS)
        return self.busy_batch_size if self._held_back() else self.batch_size

    def _held_back(self) -> bool:
        return self._roots_running > 0 or (self.yield_to is not None and self.yield_to())

    async def run_once(self, limit: int | None = None, *, kinds: tuple[str, ...] | None = None) -> int:
        """Claim one batch of due messages (root posts first; ``kinds``: only those) and deliver them in
        order; returns how many were taken."""
        items = await anyio.to_thread.run_sync(self._claim, limit or self.batch_size, kinds)
        # One lane per incident and topic, delivered in order; lanes run side by side, so one slow
        # receiver (or one busy Slack channel) does not hold up every other incident.
        lanes: dict[tuple[object, str], list[OutboxItem]] = {}
        for item in items:
            key = (item.incident_id if item.incident_id is not None else f"row {item.id}", item.topic)
            lanes.setdefault(key, []).append(item)
        lanes_at_once = asyncio.Semaphore(self.concurrency)

        async def deliver_lane(lane: list[OutboxItem]) -> None:
            # A root post (the first row of its lane) goes at once, without waiting for a place among the
            # lanes or for ingestion to go quiet; the rest of its lane then queues like any other.
            if lane[0].kind in ROOT_KINDS and not await self._deliver(lane[0]):
                return await release(lane[1:])
            rest = lane[1:] if lane[0].kind in ROOT_KINDS else lane
            async with lanes_at_once:
                for index, item in enumerate(rest):
                    await self._make_way()  # between messages: a batch must not crowd out webhooks
                    if not await self._deliver(item):  # to be retried: the rest waits behind it
                        return await release(rest[index + 1 :])

        async def release(later: list[OutboxItem]) -> None:
            for item in later:
                await anyio.to_thread.run_sync(self._release, item)

        outcomes = await asyncio.gather(
            *(deliver_lane(lane) for lane in lanes.values()), return_exceptions=True
        )
        for outcome in outcomes:  # every lane finished; now report the first failure of the pass itself
            if isinstance(outcome, BaseException):
                raise outcome
        return len(items)

    def _release(self, item: OutboxItem) -> None:
        with self.db.write(synced=False) as conn:  # bookkeeping: a lost row means a redelivery
            released = OutboxRepository(conn).release(item.id, token=item.lease_token)
        if not released:
            self._lease_lost(item, "release")

    def _claim(self, limit: int | None = None, kinds: tuple[str, ...] | None = None) -> list[OutboxItem]:
        with self.db.write(synced=False) as conn:  # bookkeeping: a lost row means a redelivery
            return OutboxRepository(conn).claim(
                worker=self.name,
                now=self.clock(),
                lease=self.lease,
                limit=limit or self.batch_size,
                kinds=kinds,
            )

    async def _deliver(self, item: OutboxItem) -> bool:
        """Deliver one message; ``False`` when the rest of its lane must wait (a retry, a parked row, or a
        row that is no longer ours)."""
        incident = await anyio.to_thread.run_sync(self._incident, item.incident_id)
        try:
            result = await self.sink.deliver(item, incident)
        except LeaseLost:
            self._lease_lost(item, "deliver")
            return False
        except PermanentError as exc:
            log.warning("outbox message failed for good", extra={"outbox_id": item.id, "error": str(exc)})
            return await self._settle(item, Delivery.FAILED, str(exc))
        except DeliveryBlocked as exc:
            log.warning(
                "outbox message parked until an operator fixes it",
                extra={"outbox_id": item.id, "reason": exc.reason, "error": str(exc)},
            )
            if await self._settle(item, Delivery.PARKED, str(exc), reason=exc.reason) and self.metrics:
                self.metrics.outbox_parked.labels(item.topic, exc.reason).inc()
            return False
        except RetryAfter as exc:
            await self._settle(item, Delivery.RETRY, str(exc), delay=timedelta(seconds=exc.seconds))
            return False
        except Exception as exc:
            log.warning(
                "outbox delivery failed; will retry", extra={"outbox_id": item.id, "error": repr(exc)}
            )
            await self._settle(item, Delivery.RETRY, repr(exc), delay=backoff(item.attempts))
            return False
        return await self._settle(item, Delivery.DONE, result)

    async def _settle(
        self,
        item: OutboxItem,
        outcome: Delivery,
        detail: Any,
        *,
        delay: timedelta | None = None,
        reason: str | None = None,
    ) -> bool:
        """Record how the attempt ended; ``False`` (and counted) when the row was taken over meanwhile."""
        recorded = await anyio.to_thread.run_sync(self._record, item, outcome, detail, delay, reason)
        if not recorded:
            self._lease_lost(item, str(outcome))
        return recorded

    def _incident(self, incident_id: int | None) -> Incident | None:
        if incident_id is None:
            return None
        with self.db.read() as conn:
            return IncidentReads(conn).get(incident_id)

    def _record(
        self,
        item: OutboxItem,
        outcome: Delivery,
        detail: Any,
        delay: timedelta | None,
        reason: str | None,
    ) -> bool:
        now = self.clock()
        token = item.lease_token
        with self.db.write(synced=False) as conn:  # bookkeeping: a lost row means a redelivery
            outbox = OutboxRepository(conn)
            if outcome is Delivery.DONE:
                recorded = outbox.complete(item.id, token=token, now=now, result=detail)
            elif outcome is Delivery.FAILED:
                recorded = outbox.fail(item.id, token=token, error=detail, now=now)
            elif outcome is Delivery.PARKED:
                recorded = outbox.park(item.id, token=token, reason=reason or "unknown", error=detail)
            else:
                assert delay is not None
                recorded = outbox.retry(item.id, token=token, error=detail, next_attempt_at=now + delay)
        if recorded and self.metrics:
            self.metrics.outbox_delivered.labels(item.topic, outcome).inc()
        return recorded

    def _lease_lost(self, item: OutboxItem, step: str) -> None:
        log.warning(
            "outbox row was taken over by another worker; this attempt changes nothing",
            extra={"outbox_id": item.id, "worker": self.name, "step": step},
        )
        if self.metrics:
            self.metrics.outbox_lease_lost.labels(item.topic).inc()
