"""Drafts and the record of LLM calls (storage/drafts.py), on SQLite and PostgreSQL: the cache by input hash,
the newest draft of a kind, what counts against the budgets, and whether a newer request is waiting."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from analytics.records import (
    DraftKind,
    DraftReason,
    DraftSource,
    LlmOutcome,
    OutboxKind,
    OutboxTopic,
)
from bot.outbox.messages import draft_requested
from storage.db import Database
from storage.drafts import DraftRepository, StoredDraft
from storage.models import OutboxMessage
from storage.outbox import NewMessage, OutboxRepository
from tests.support.payloads import T0
from tests.support.rows import add_incident

MINUTE = timedelta(minutes=1)


def add_draft(
    db: Database,
    incident_id: int,
    kind: DraftKind = DraftKind.SUMMARY,
    *,
    input_hash: str = "h1",
    text: str = "x",
) -> int:
    with db.write() as conn:
        return DraftRepository(conn).add_draft(
            {
                "incident_id": incident_id,
                "kind": kind,
                "source": DraftSource.LLM,
                "model": "gpt-test",
                "prompt_name": "summary",
                "prompt_version": "3",
                "input_hash": input_hash,
                "text": text,
                "created_at": T0,
            }
        )


def add_call(db: Database, outcome: LlmOutcome, *, at: datetime, tokens: tuple[int, int] = (0, 0)) -> None:
    with db.write() as conn:
        DraftRepository(conn).add_call(
            {
                "incident_id": None,
                "prompt_name": "summary",
                "prompt_version": "3",
                "model": "gpt-test",
                "latency_ms": 12.5,
                "tokens_in": tokens[0],
                "tokens_out": tokens[1],
                "outcome": outcome,
                "error": None,
                "input_hash": "h1",
                "prompt": "redacted prompt",
                "created_at": at,
            }
        )


def test_a_stored_draft_reads_back_as_written(db: Database) -> None:
    incident_id = add_incident(db)

    draft_id = add_draft(db, incident_id, DraftKind.RUNBOOK, input_hash="abc", text="Check the pods.")

    with db.read() as conn:
        repo = DraftRepository(conn)
        assert repo.get(draft_id + 1) is None
        assert repo.get(draft_id) == StoredDraft(
            id=draft_id,
            incident_id=incident_id,
            kind=DraftKind.RUNBOOK,
            source=DraftSource.LLM,
            model="gpt-test",
            prompt_name="summary",
            prompt_version="3",
            input_hash="abc",
            text="Check the pods.",
            created_at=T0,
        )


def test_the_cache_finds_the_newest_draft_of_exactly_this_incident_kind_and_input(db: Database) -> None:
    incident_id = add_incident(db, group_key="g1")
    other_id = add_incident(db, group_key="g2")
    add_draft(db, incident_id, input_hash="h1", text="first")
    newest = add_draft(db, incident_id, input_hash="h1", text="second")
    add_draft(db, incident_id, input_hash="h2")
    add_draft(db, incident_id, DraftKind.RUNBOOK, input_hash="h3")
    add_draft(db, other_id, input_hash="h3")

    with db.read() as conn:
        repo = DraftRepository(conn)
        found = repo.by_hash(incident_id, DraftKind.SUMMARY, "h1")
        assert repo.by_hash(incident_id, DraftKind.SUMMARY, "h3") is None  # another kind's input
        assert repo.by_hash(incident_id, DraftKind.RESOLUTION, "h1") is None

    assert found is not None and (found.id, found.text) == (newest, "second")


def test_latest_is_the_newest_draft_of_a_kind_and_of_incident_lists_them_all_in_order(db: Database) -> None:
    incident_id = add_incident(db, group_key="g1")
    other_id = add_incident(db, group_key="g2")
    summary = add_draft(db, incident_id, input_hash="h1")
    runbook = add_draft(db, incident_id, DraftKind.RUNBOOK)
    resummary = add_draft(db, incident_id, input_hash="h2")
    add_draft(db, other_id)

    with db.read() as conn:
        repo = DraftRepository(conn)
        latest = repo.latest(incident_id, DraftKind.SUMMARY)
        assert repo.latest(incident_id, DraftKind.RESOLUTION) is None
        listed = [d.id for d in repo.of_incident(incident_id)]

    assert latest is not None and latest.id == resummary
    assert listed == [summary, runbook, resummary]


def test_only_calls_that_reached_the_endpoint_count_against_the_hourly_budget(db: Database) -> None:
    add_call(db, LlmOutcome.OK, at=T0 - MINUTE)  # before the moment
    add_call(db, LlmOutcome.OK, at=T0)  # at it: counts
    add_call(db, LlmOutcome.TIMEOUT, at=T0 + MINUTE)
    add_call(db, LlmOutcome.ERROR, at=T0 + MINUTE)
    for outcome in (LlmOutcome.CACHED, LlmOutcome.BUDGET, LlmOutcome.DISABLED):
        add_call(db, outcome, at=T0 + MINUTE)

    with db.read() as conn:
        repo = DraftRepository(conn)
        assert repo.calls_since(T0) == 3
        assert repo.outcomes() == {"ok": 2, "timeout": 1, "error": 1, "cached": 1, "budget": 1, "disabled": 1}


def test_tokens_since_add_up_what_went_in_and_came_out_and_are_zero_without_calls(db: Database) -> None:
    with db.read() as conn:
        assert DraftRepository(conn).tokens_since(T0) == 0
    add_call(db, LlmOutcome.OK, at=T0 - MINUTE, tokens=(1000, 1000))
    add_call(db, LlmOutcome.OK, at=T0, tokens=(300, 40))
    add_call(db, LlmOutcome.TIMEOUT, at=T0 + MINUTE, tokens=(200, 0))

    with db.read() as conn:
        assert DraftRepository(conn).tokens_since(T0) == 540


def test_a_newer_pending_request_for_the_same_incident_and_kind_is_seen(db: Database) -> None:
    incident_id = add_incident(db, group_key="g1")
    other_id = add_incident(db, group_key="g2")

    def request(incident: int, kind: DraftKind) -> NewMessage:
        return draft_requested(incident, kind, reason=DraftReason.ALERTS)

    with db.write() as conn:
        OutboxRepository(conn).enqueue(
            [
                request(incident_id, DraftKind.SUMMARY),  # 1: the one asking
                request(incident_id, DraftKind.RUNBOOK),  # 2: another kind
                request(other_id, DraftKind.SUMMARY),  # 3: another incident
                NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_UPDATED, incident_id, {"kind": "summary"}),
            ],
            T0,
        )
    with db.read() as conn:
        ids = [int(i) for i in conn.execute(select(OutboxMessage.id).order_by(OutboxMessage.id)).scalars()]
        repo = DraftRepository(conn)
        assert not repo.newer_request_pending(ids[0], incident_id, DraftKind.SUMMARY)
        assert repo.newer_request_pending(ids[0], incident_id, DraftKind.RUNBOOK)
        assert not repo.newer_request_pending(ids[1], incident_id, DraftKind.RUNBOOK)  # not newer than itself

    with db.write() as conn:
        OutboxRepository(conn).enqueue([request(incident_id, DraftKind.SUMMARY)], T0)
    with db.read() as conn:
        assert DraftRepository(conn).newer_request_pending(ids[0], incident_id, DraftKind.SUMMARY)
        newest = int(conn.execute(select(func.max(OutboxMessage.id))).scalar_one())
    with db.write() as conn:
        outbox = OutboxRepository(conn)
        [claimed] = [
            item
            for item in outbox.claim(worker="w", now=T0, lease=timedelta(minutes=1), limit=10)
            if item.id == newest
        ]
        outbox.complete(newest, token=claimed.lease_token, now=T0, result={})
    with db.read() as conn:
        assert not DraftRepository(conn).newer_request_pending(ids[0], incident_id, DraftKind.SUMMARY)  # done
