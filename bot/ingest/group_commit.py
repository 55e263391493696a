"""Group commit for the web path: webhooks that arrive while a commit runs share the next transaction.

At low load every webhook gets a transaction of its own at once. Under load, requests queue for the
writer anyway (SQLite has one), so the writer takes everything waiting, up to ``max_batches``, and commits
it together: one ``BEGIN``/``COMMIT`` and one round of lookups for many webhooks. Each request still gets
its own result, and a bad batch fails alone (see ``Ingestor.ingest_many``).
"""

from __future__ import annotations

import asyncio
import time

import anyio

from bot.ingest.pipeline import Ingestor, IngestResult
from bot.normalize import Batch

# Webhooks closer together than this count as one busy spell (the in-process worker waits it out).
QUIET_SECONDS = 0.05


class GroupCommitter:
    def __init__(self, ingestor: Ingestor, *, writers: int, max_batches: int = 64) -> None:
        self.ingestor = ingestor
        self.writers = writers
        self.max_batches = max_batches
        self._pending: list[tuple[Batch, asyncio.Future[IngestResult]]] = []
        self._running = 0
        self._last_submit = float("-inf")

    def busy(self, quiet_seconds: float = QUIET_SECONDS) -> bool:
        """Whether webhooks are being committed, or arrived within ``quiet_seconds``."""
        return bool(self._pending or self._running) or time.monotonic() - self._last_submit < quiet_seconds

    async def submit(self, batch: Batch) -> IngestResult:
        """Queue ``batch`` and wait until it is committed (or failed, nothing written)."""
        self._last_submit = time.monotonic()
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, future))
        if self._running < self.writers:
            self._running += 1
            asyncio.create_task(self._drain())  # noqa: RUF006 - it finishes when the queue is empty
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                taken = self._pending[: self.max_batches]
                del self._pending[: self.max_batches]
                try:
                    results = await anyio.to_thread.run_sync(
                        self.ingestor.ingest_many, [batch for batch, _ in taken]
                    )
                except BaseException as exc:  # the thread itself failed: fail every waiter
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for (_, future), result in zip(taken, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running -= 1
