"""The ingest pipeline: normalized batches in, one write transaction per commit round, results out.

Everything one webhook changes (alerts, incidents, timeline events, outbox rows) is written in a single
transaction, so a 2xx answer means all of it is durable and an error means none of it was written.
What goes into that transaction is decided by :class:`bot.ingest.apply.Apply`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.scoring import Scorer
from bot.clock import utcnow
from bot.incidents.heartbeat import HeartbeatWatch
from bot.incidents.rules import IncidentRules
from bot.ingest.apply import Apply, Outcome
from bot.ingest.context import ContextProvider
from bot.metrics import Metrics
from bot.normalize import Batch
from storage.db import Database, is_retryable
from storage.incidents import IncidentRepository
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

# Seconds to wait before each new try of a transaction that failed on a lock (SQLite's "database is
# locked" after its busy timeout, PostgreSQL's deadlocks and serialization failures): a locked database
# is waited out, within about four seconds more, not reported as a failure.
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    incidents: list[int]
    opened: list[int]
    truncated: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "incidents": self.incidents,
            "opened": self.opened,
            "truncated": self.truncated,
        }


class Ingestor:
    """Turns normalized batches into committed incidents; one instance per app, safe across threads."""

    def __init__(
        self,
        *,
        db: Database,
        scorer: Callable[[], Scorer],
        rules: IncidentRules,
        context: ContextProvider | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_commit: Callable[[], None] | None = None,
        heartbeats: HeartbeatWatch | None = None,
    ) -> None:
        self.db = db
        self.context = context or ContextProvider(catalog={})
        self.scorer = scorer
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        self.on_commit = on_commit
        self.heartbeats = heartbeats

    def ingest(self, batch: Batch) -> IngestResult:
        """Commit one batch; raises whatever stopped it, in which case nothing was written."""
        result = self.ingest_many([batch])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def ingest_many(self, batches: Sequence[Batch]) -> list[IngestResult | Exception]:
        """Commit several batches in one transaction (group commit), each with its own result.

        A transaction that fails on a lock is tried again after a pause (``RETRY_DELAYS``). One that fails
        otherwise is split in halves and each half tried on its own, down to single batches: one bad batch
        among 64 costs about a dozen transactions, not 64, fails by itself, and the others commit.
        """
        results: list[IngestResult | Exception | None] = [None] * len(batches)
        self._commit_or_split(list(enumerate(batches)), results)
        return [r if r is not None else RuntimeError("batch was not committed") for r in results]

    def _commit_or_split(
        self, items: list[tuple[int, Batch]], results: list[IngestResult | Exception | None]
    ) -> None:
        try:
            committed = self._commit_retrying([batch for _, batch in items])
        except Exception as exc:
            if len(items) == 1 or is_retryable(exc):  # a lock still held is every batch's problem
                for index, _ in items:
                    results[index] = exc
                return
            log.warning(
                "group commit failed; trying its halves", extra={"batches": len(items), "error": repr(exc)}
            )
            middle = len(items) // 2
            self._commit_or_split(items[:middle], results)
            self._commit_or_split(items[middle:], results)
            return
        for (index, _), result in zip(items, committed, strict=True):
            results[index] = result

    def _commit_retrying(self, batches: Sequence[Batch]) -> list[IngestResult]:
        for delay in RETRY_DELAYS:
            try:
                return self._commit(batches)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                log.warning("database locked; trying again", extra={"delay_s": delay, "error": repr(exc)})
            time.sleep(delay)
        return self._commit(batches)

    def _commit(self, batches: Sequence[Batch]) -> list[IngestResult]:
        work = [batch for batch in batches if batch.alerts]
        outcomes: list[Outcome] = []
        if work:
            records = [alert for batch in work for alert in batch.alerts]
            now = self.clock()
            with self.db.write(first=True) as conn:  # webhooks go ahead of the outbox worker's writes
                keys = [alert.group_key for alert in records]
                keys += [k for r in records if (k := self.rules.relation.lock_key(r.service))]  # stories
                self.db.lock_groups(conn, keys)
                alerts = [batch.alerts for batch in work]
                if self.heartbeats is not None:  # Watchdog & co. are recorded, never incidents
                    alerts = self.heartbeats.take(conn, alerts, now)
                    records = [alert for batch in alerts for alert in batch]
                apply = Apply(
                    incidents=IncidentRepository(conn),
                    outbox=OutboxRepository(conn),
                    scorer=self.scorer(),
                    context=self.context.for_batch(conn, records, now),
                    rules=self.rules,
                    now=now,
                )
                outcomes = apply.run(alerts)
                queued = apply.queued
            self._count(work, outcomes)
            if self.on_commit and queued:
                self.on_commit()
        self._count_truncated(batches)
        by_batch = iter(outcomes)
        return [self._result(batch, next(by_batch) if batch.alerts else Outcome()) for batch in batches]

    def _count_truncated(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            if self.metrics and batch.truncated:
                source = batch.alerts[0].source if batch.alerts else "unknown"
                self.metrics.alerts_truncated.labels(source).inc(batch.truncated)
                log.warning("sender truncated alerts", extra={"truncated": batch.truncated})

    def _count(self, batches: list[Batch], outcomes: list[Outcome]) -> None:
        if not self.metrics:
            return
        for batch, outcome in zip(batches, outcomes, strict=True):
            for name, count in outcome.counts.items():
                if count:
                    self.metrics.alerts_received.labels(batch.alerts[0].source, name).inc(count)
            if outcome.opened:
                self.metrics.incidents_opened.inc(len(outcome.opened))

    @staticmethod
    def _result(batch: Batch, outcome: Outcome) -> IngestResult:
        return IngestResult(
            accepted=len(batch.alerts) - outcome.counts["duplicate"],
            duplicates=outcome.counts["duplicate"],
            incidents=sorted(outcome.touched),
            opened=outcome.opened,
            truncated=batch.truncated,
        )
