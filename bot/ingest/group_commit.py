"""Group commit for the web path: webhooks that arrive while a commit runs share the next transaction.

At low load every webhook gets a transaction of its own at once. Under load, requests queue for the
writer anyway (SQLite has one), so the writer takes everything waiting, up to ``max_batches``, and commits
it together: one ``BEGIN``/``COMMIT`` and one round of lookups for many webhooks. Each request still gets
its own result, and a bad batch fails alone (see ``Ingestor.ingest_many``).

Only validated batches join (the webhook route normalizes first). Whatever still fails inside a commit
fails that request alone, translated here for HTTP: the database refusing the request's own data is its
422 (``RefusedByStorage``), anything else is a 503 (``IngestFault``; nothing was written, retry). The
writers are tasks that cannot die of a failed commit; should one die anyway, it is counted
(``sevbot_group_commit_restarts_total``), logged, and a new one takes over the queue, so no request waits
on a dead queue. At most ``max_queued`` webhooks wait; the next one is answered 503 at once (``Overloaded``,
with ``Retry-After``) rather than held while the queue grows without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time

import anyio
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.errors import IngestFault, Overloaded, RefusedByStorage, SevbotError
from bot.ingest.pipeline import Ingestor, IngestResult
from bot.metrics import Metrics
from bot.normalize import Batch

log = logging.getLogger(__name__)

# Webhooks closer together than this count as one busy spell (the in-process worker waits it out).
QUIET_SECONDS = 0.05
MAX_QUEUED = 256


class GroupCommitter:
    def __init__(
        self,
        ingestor: Ingestor,
        *,
        writers: int,
        max_batches: int = 64,
        max_queued: int = MAX_QUEUED,
        metrics: Metrics | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.writers = writers
        self.max_batches = max_batches
        self.max_queued = max_queued
        self.metrics = metrics
        self.restarts = 0  # writer tasks that died and were replaced
        self._pending: list[tuple[Batch, asyncio.Future[IngestResult]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_submit = float("-inf")

    def busy(self, quiet_seconds: float = QUIET_SECONDS) -> bool:
        """Whether webhooks are being committed, or arrived within ``quiet_seconds``."""
        return bool(self._pending or self._tasks) or time.monotonic() - self._last_submit < quiet_seconds

    async def submit(self, batch: Batch) -> IngestResult:
        """Queue ``batch`` and wait until it is committed (or failed, nothing written)."""
        if len(self._pending) >= self.max_queued:
            raise Overloaded(len(self._pending))
        self._last_submit = time.monotonic()
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, future))
        self._start_writers()
        return await future

    def _start_writers(self) -> None:
        while self._pending and len(self._tasks) < self.writers:
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._writer_done)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.restarts += 1
            if self.metrics:
                self.metrics.group_commit_restarts.inc()
            log.error("group commit writer died; starting another", exc_info=task.exception())
        if not task.cancelled():
            self._start_writers()

    async def _drain(self) -> None:
        while self._pending:
            taken = self._pending[: self.max_batches]
            del self._pending[: self.max_batches]
            try:
                results = await anyio.to_thread.run_sync(
                    self.ingestor.ingest_many, [batch for batch, _ in taken]
                )
            except BaseException as exc:  # the round itself failed (not one batch): fail its waiters
                for _, future in taken:
                    if not future.done():
                        future.set_exception(_for_http(exc))
                if not isinstance(exc, Exception):
                    raise  # cancelled, or worse: this writer ends, and another takes over the queue
                continue
            for (_, future), result in zip(taken, results, strict=True):
                if future.done():  # the client went away while it waited
                    continue
                if isinstance(result, Exception):
                    future.set_exception(_for_http(result))
                else:
                    future.set_result(result)


def _for_http(exc: BaseException) -> Exception:
    """What a failed commit means to the sender: its own data refused (422) or a retry later (503)."""
    if isinstance(exc, SevbotError | OperationalError | PoolTimeout):
        return exc  # answered by the app's handlers: PayloadError 4xx, the others 503
    if isinstance(exc, DataError):
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        return RefusedByStorage(detail[:200])
    log.error("webhook commit failed", exc_info=exc)
    return IngestFault(exc)
