"""Group commit: webhooks waiting together share a transaction, keep their own results, and fail alone."""

from __future__ import annotations

import asyncio

import pytest

from analytics.records import AlertRecord
from analytics.scoring import RuleScorer, Score, ScoringContext
from bot.bootstrap import Services
from bot.errors import IngestFault
from bot.ingest.group_commit import GroupCommitter
from bot.ingest.pipeline import IngestResult
from bot.normalize import Batch, normalize
from tests.support.db import row_counts
from tests.support.payloads import am_alert, am_payload, body


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
