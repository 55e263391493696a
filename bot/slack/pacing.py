"""One Slack post per interval per channel, across every sevbot process (the schedule lives in SQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import anyio

from bot.errors import RetryAfter
from storage.db import Database
from storage.slack import SlackStateRepository


def wall_clock() -> datetime:
    return datetime.now(UTC)


class PaceWait(RetryAfter):
    """The channel's next turn is too far off to wait for here: the outbox brings the message back then."""

    def __str__(self) -> str:
        return f"paced: the channel's next turn is in {self.seconds:.1f}s"


class ChannelPacer:
    """Before each post, take the channel's next free slot.

    The slot is reserved in the database, so workers in other processes queue behind it. A turn at most
    ``max_sleep`` away is waited for here; a later one is not reserved, and the message goes back to the
    outbox until then (``PaceWait``), so one busy channel never holds up the worker for the others.
    Pacing uses the wall clock, whatever clock the rest of the worker uses.
    """

    def __init__(
        self,
        db: Database,
        *,
        interval: float,
        max_sleep: float = 0.25,
        now: Callable[[], datetime] = wall_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.interval = timedelta(seconds=interval)
        self.max_sleep = timedelta(seconds=max_sleep)
        self.now = now
        self.sleep = sleep

    async def wait_turn(self, channel: str, *, first: bool = False) -> None:
        """Wait for ``channel``'s turn (``first``: a new channel message, which goes ahead of replies and
        updates; see ``SlackStateRepository.reserve_slot``)."""
        if self.interval <= timedelta(0):
            return
        now = self.now()
        slot = await anyio.to_thread.run_sync(self._reserve, channel, now, first)
        delay = (slot - now).total_seconds()
        if slot - now > self.max_sleep:
            raise PaceWait(delay)
        if delay > 0:
            await self.sleep(delay)

    def _reserve(self, channel: str, now: datetime, first: bool) -> datetime:
        with self.db.write() as conn:
            return SlackStateRepository(conn).reserve_slot(
                channel, now=now, interval=self.interval, max_wait=self.max_sleep, first=first
            )
