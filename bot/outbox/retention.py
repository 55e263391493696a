"""Retention: finished outbox rows and LLM prompts older than ``SEVBOT_RETENTION_DAYS`` go, hourly.

Run by every process that delivers the outbox (``sevbot serve`` and ``sevbot worker``); several at once do
no harm (the deletes are idempotent). Pending and parked rows are never pruned, and LLM call records keep
their figures (model, tokens, latency, outcome) without the prompt text. Incidents and alerts are kept
until an operator prunes them (``sevbot db prune --before DATE``, :mod:`storage.retention`).
Work goes in small transactions so a large first prune never holds SQLite's write lock for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from bot.metrics import Metrics
from storage.db import Database
from storage.drafts import DraftRepository
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

CHECK_SECONDS = 3600.0
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Pruned:
    outbox_rows: int
    llm_prompts: int


def prune_once(db: Database, *, days: int, now: datetime, metrics: Metrics | None = None) -> Pruned:
    """Prune everything older than ``days`` (nothing when ``days`` is 0), in batches of ``BATCH``."""
    if days <= 0:
        return Pruned(0, 0)
    before = now - timedelta(days=days)
    rows = prompts = 0
    while True:
        with db.write() as conn:
            step = OutboxRepository(conn).prune_finished(before=before, limit=BATCH)
        rows += step
        if step < BATCH:
            break
    while True:
        with db.write() as conn:
            step = DraftRepository(conn).forget_prompts(before=before, limit=BATCH)
        prompts += step
        if step < BATCH:
            break
    if metrics is not None:
        metrics.retention_pruned.labels("outbox_rows").inc(rows)
        metrics.retention_pruned.labels("llm_prompts").inc(prompts)
    if rows or prompts:
        log.info("retention pruned old rows", extra={"outbox_rows": rows, "llm_prompts": prompts})
    return Pruned(outbox_rows=rows, llm_prompts=prompts)


async def keep_pruned(
    db: Database,
    *,
    days: int,
    stop: asyncio.Event,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
    interval: float = CHECK_SECONDS,
) -> None:
    """Prune at start, then every ``interval`` seconds, until ``stop`` is set."""
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(lambda: prune_once(db, days=days, now=clock(), metrics=metrics))
        except Exception:
            log.exception("retention pass failed; trying again later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
