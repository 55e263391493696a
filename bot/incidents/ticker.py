"""The ticker: the periodic task that runs escalation and the heartbeat watch, inside every process that
delivers the outbox (``sevbot serve``'s in-process worker, and each ``sevbot worker``).

Every ``SEVBOT_TICK_SECONDS`` (15 s) it runs each step in a worker thread, on the injected clock; steps
claim their work in the database (compare-and-set, row locks), so any number of tickers send each reminder
and open each heartbeat incident once. A step that queued outbox rows wakes the local worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from bot.incidents.escalation import EscalationPass, Escalator
from bot.incidents.heartbeat import HeartbeatPass, HeartbeatWatch
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Tick:
    escalation: EscalationPass
    heartbeat: HeartbeatPass

    @property
    def queued(self) -> bool:
        return self.escalation.queued or self.heartbeat.queued


class Ticker:
    def __init__(
        self,
        *,
        db: Database,
        escalator: Escalator,
        heartbeats: HeartbeatWatch,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.escalator = escalator
        self.heartbeats = heartbeats
        self.wake = wake

    def run_once(self) -> Tick:
        """One tick: heartbeats first (a silent pipeline's incident is escalated like any other)."""
        heartbeat = self._step("heartbeat", lambda: self.heartbeats.run(self.db), HeartbeatPass())
        escalation = self._step("escalation", self.escalator.run, EscalationPass())
        tick = Tick(escalation=escalation, heartbeat=heartbeat)
        if tick.queued and self.wake is not None:
            self.wake()
        return tick

    @staticmethod
    def _step(name: str, step: Callable[[], T], nothing: T) -> T:
        try:
            return step()
        except Exception:
            log.exception("ticker step failed; trying again at the next tick", extra={"step": name})
            return nothing

    async def run(self, stop: asyncio.Event, *, interval: float) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await anyio.to_thread.run_sync(self.run_once)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
