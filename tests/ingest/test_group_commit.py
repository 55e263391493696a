"""Group commit: webhooks waiting together share a transaction, keep their own results, and fail alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event

from analytics.records import AlertRecord
from analytics.scoring import RuleScorer, Score, ScoringContext
from bot.bootstrap import Services, build_services
from bot.errors import IngestFault, Overloaded, RefusedByStorage
from bot.incidents.rules import IncidentRules
from bot.ingest.group_commit import GroupCommitter
from bot.ingest.pipeline import Ingestor, IngestResult
from bot.normalize import Batch, normalize
from storage.db import create_database
from tests.support.db import row_counts
from tests.support.payloads import am_alert, am_payload, body
from tests.support.settings import make_settings


class PoisonScorer:
    """Fails on any alert named "Poison", as a bug in a scorer would."""

    version = "rules-poison"

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        if alert.alertname == "Poison":
            raise RuntimeError("cannot score this one")
        return RuleScorer().score(alert, context)


def batch(name: str, instance: str) -> Batch:
    return normalize("alertmanager", body(am_payload([am_alert(name, instance=instance)])), ["alertname"])


def submit_together(committer: GroupCommitter, batches: list[Batch]) -> list[IngestResult | BaseException]:
    async def run() -> list[IngestResult | BaseException]:
        return await asyncio.gather(*(committer.submit(b) for b in batches), return_exceptions=True)

    return asyncio.run(run())


def test_batches_waiting_together_each_get_their_own_result(services: Services) -> None:
    committer = GroupCommitter(services.ingestor, writers=1)
    batches = [batch("A", "1"), batch("B", "1"), batch("A", "2"), batch("A", "1")]

    results = submit_together(committer, batches)

    assert all(isinstance(r, IngestResult) for r in results)
    opened = [r.opened for r in results if isinstance(r, IngestResult)]
    assert opened[0] and opened[1] and opened[0] != opened[1]
    assert opened[2:] == [[], []]
    assert [r.duplicates for r in results if isinstance(r, IngestResult)] == [0, 0, 0, 1]
    assert row_counts(services.db)["incidents"] == 2


def test_a_bad_batch_fails_alone_and_the_others_commit(services: Services) -> None:
    services.scorer.current = PoisonScorer()
    committer = GroupCommitter(services.ingestor, writers=1)

    results = submit_together(committer, [batch("A", "1"), batch("Poison", "1"), batch("B", "1")])

    assert isinstance(results[1], IngestFault)  # a fault on sevbot's side: 503, retry
    assert isinstance(results[1].cause, RuntimeError)
    assert isinstance(results[0], IngestResult) and isinstance(results[2], IngestResult)
    assert row_counts(services.db)["alerts"] == 2


def test_ingest_many_falls_back_to_one_transaction_per_batch(services: Services) -> None:
    services.scorer.current = PoisonScorer()

    results = services.ingestor.ingest_many([batch("Poison", "1"), batch("A", "1")])

    assert isinstance(results[0], RuntimeError)
    assert isinstance(results[1], IngestResult)
    with pytest.raises(RuntimeError):
        services.ingestor.ingest(batch("Poison", "2"))


# --- a failed round: split in halves, locks waited out, the writer never lost -----------------------------


def test_a_failed_round_is_split_in_halves_not_retried_one_by_one(services: Services) -> None:
    services.scorer.current = PoisonScorer()
    batches = [batch("A", str(i)) for i in range(63)] + [batch("Poison", "1")]
    transactions: list[object] = []
    event.listen(services.db.engine, "begin", transactions.append)

    results = services.ingestor.ingest_many(batches)
    tried = len(transactions)

    assert [type(r) for r in results] == [IngestResult] * 63 + [RuntimeError]
    assert row_counts(services.db)["alerts"] == 63
    # 64, then 32 + 32, 16 + 16, … 1 + 1: 13 transactions (one by one it would be 65).
    assert tried == 13


def test_a_locked_database_is_waited_out_not_failed(tmp_path: Path, sqlite_url: str) -> None:
    # SQLite's file lock held by another process (PostgreSQL writers wait on locks instead of failing).
    services = build_services(make_settings(tmp_path, sqlite_url))
    impatient = create_database(sqlite_url, busy_timeout_ms=20)
    ingestor = Ingestor(db=impatient, scorer=lambda: RuleScorer(), rules=IncidentRules())
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # another process's writer, holding the lock past the busy timeout
        other = sqlite3.connect(str(services.db.engine.url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(10)
    threading.Timer(0.3, release.set).start()  # released after a few of the ingestor's retries

    result = ingestor.ingest(batch("A", "1"))

    holder.join()
    impatient.dispose()
    assert result.accepted == 1 and release.is_set()
    assert row_counts(services.db)["alerts"] == 1
    services.close()


class Crash(BaseException):
    """Not an Exception: what no ``except Exception`` catches (a bug in the writer loop itself)."""


class CrashOnce:
    """An ingestor that kills the writer task on its first round, then commits as usual."""

    def __init__(self, real: Ingestor) -> None:
        self.real = real
        self.rounds = 0

    def ingest_many(self, batches: list[Batch]) -> list[IngestResult | Exception]:
        self.rounds += 1
        if self.rounds == 1:
            raise Crash()
        return self.real.ingest_many(batches)


def test_a_writer_that_dies_is_counted_and_replaced_and_nobody_waits_on_it(services: Services) -> None:
    committer = GroupCommitter(CrashOnce(services.ingestor), writers=1, metrics=services.metrics)  # type: ignore[arg-type]

    async def run() -> tuple[BaseException | IngestResult, IngestResult]:
        first = await asyncio.gather(committer.submit(batch("A", "1")), return_exceptions=True)
        return first[0], await asyncio.wait_for(committer.submit(batch("B", "1")), 30)

    first, second = asyncio.run(run())

    assert isinstance(first, IngestFault)  # its sender gets a 503 and retries
    assert second.opened == [1]
    assert committer.restarts == 1
    assert services.metrics.registry.get_sample_value("sevbot_group_commit_restarts_total") == 1


def test_a_full_queue_refuses_at_once_with_retry_after(services: Services) -> None:
    gate = threading.Event()
    scorer = GatedScorer(gate)
    services.scorer.current = scorer
    committer = GroupCommitter(services.ingestor, writers=1, max_queued=2)

    async def run() -> list[IngestResult | BaseException]:
        first = asyncio.ensure_future(committer.submit(batch("A", "1")))  # taken by the writer, held
        await asyncio.to_thread(scorer.entered.wait, 30)
        queued = [asyncio.ensure_future(committer.submit(batch("B", str(i)))) for i in range(2)]
        await asyncio.sleep(0)
        try:
            await committer.submit(batch("C", "1"))
        except Overloaded as exc:
            refused: BaseException = exc
        gate.set()
        return [refused, *await asyncio.gather(first, *queued, return_exceptions=True)]

    refused, *committed = asyncio.run(run())

    assert isinstance(refused, Overloaded) and refused.retry_after > 0
    assert all(isinstance(r, IngestResult) for r in committed)
    assert row_counts(services.db)["alerts"] == 3


class GatedScorer:
    """Scores like the rule scorer once ``gate`` is set: holds a commit open as a slow database would."""

    version = "rules-gated"

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.entered = threading.Event()

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        self.entered.set()
        self.gate.wait(30)
        return RuleScorer().score(alert, context)


def test_data_the_database_refuses_fails_its_request_alone_with_a_422(services: Services) -> None:
    good = batch("A", "1")
    # Past the edge's cleaning (a normalizer bug, say): PostgreSQL refuses NUL in text, SQLite stores it.
    bad = Batch(alerts=[replace(batch("B", "1").alerts[0], fingerprint="nul\x00here")])
    committer = GroupCommitter(services.ingestor, writers=1)

    results = submit_together(committer, [good, bad])

    assert isinstance(results[0], IngestResult)
    if services.db.is_sqlite:
        assert isinstance(results[1], IngestResult)
    else:
        assert isinstance(results[1], RefusedByStorage) and results[1].status_code == 422
        assert row_counts(services.db)["alerts"] == 1
