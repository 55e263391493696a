"""The ingest pipeline: normalized batches in, one write transaction per commit round, results out.

Everything one webhook changes (alerts, incidents, timeline events, outbox rows) is written in a single
transaction, so a 2xx answer means all of it is durable and an error means none of it was written.
What goes into that transaction is decided by :class:`bot.ingest.apply.Apply`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.scoring import Scorer
from bot.clock import utcnow
from bot.incidents.rules import IncidentRules
from bot.ingest.apply import Apply, Outcome
from bot.ingest.context import ContextProvider
from bot.metrics import Metrics
from bot.normalize import Batch
from storage.db import Database
from storage.incidents import IncidentRepository
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)


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
    ) -> None:
        self.db = db
        self.context = context or ContextProvider(catalog={})
        self.scorer = scorer
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        self.on_commit = on_commit

    def ingest(self, batch: Batch) -> IngestResult:
        """Commit one batch; raises whatever stopped it, in which case nothing was written."""
        result = self.ingest_many([batch])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def ingest_many(self, batches: Sequence[Batch]) -> list[IngestResult | Exception]:
        """Commit several batches in one transaction (group commit), each with its own result.

        If the shared transaction fails, each batch is tried again alone, so one bad batch fails
        by itself and the others still commit.
        """
        for batch in batches:
            if self.metrics and batch.truncated:
                source = batch.alerts[0].source if batch.alerts else "unknown"
                self.metrics.alerts_truncated.labels(source).inc(batch.truncated)
                log.warning("sender truncated alerts", extra={"truncated": batch.truncated})
        try:
            return list(self._commit(batches))
        except Exception as exc:
            if len(batches) == 1:
                return [exc]
        results: list[IngestResult | Exception] = []
        for batch in batches:
            try:
                results.extend(self._commit([batch]))
            except Exception as exc:
                results.append(exc)
        return results

    def _commit(self, batches: Sequence[Batch]) -> list[IngestResult]:
        work = [batch for batch in batches if batch.alerts]
        outcomes: list[Outcome] = []
        if work:
            records = [alert for batch in work for alert in batch.alerts]
            now = self.clock()
            with self.db.write() as conn:
                self.db.lock_groups(conn, [alert.group_key for alert in records])
                apply = Apply(
                    incidents=IncidentRepository(conn),
                    outbox=OutboxRepository(conn),
                    scorer=self.scorer(),
                    context=self.context.for_batch(conn, records, now),
                    rules=self.rules,
                    now=now,
                )
                outcomes = apply.run([batch.alerts for batch in work])
                queued = apply.queued
            self._count(work, outcomes)
            if self.on_commit and queued:
                self.on_commit()
        by_batch = iter(outcomes)
        return [self._result(batch, next(by_batch) if batch.alerts else Outcome()) for batch in batches]

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
