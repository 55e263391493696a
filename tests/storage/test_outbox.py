"""The outbox queue (storage/outbox.py), on SQLite and PostgreSQL: claims with a lease, oldest first, order
kept per incident and topic, and what completing, retrying, failing and releasing a row do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from analytics.records import OutboxKind, OutboxStatus, OutboxTopic
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import NewMessage, OutboxItem, OutboxRepository
from tests.support.clock import Clock
from tests.support.db import row_counts
from tests.support.rows import add_incident

LEASE = timedelta(seconds=60)
SECOND = timedelta(seconds=1)


def enqueue(
    db: Database, clock: Clock, incident_id: int, topic: str = OutboxTopic.SLACK, **payload: Any
) -> int:
    """One row of ``incident_id`` due now; its id."""
    with db.write() as conn:
        OutboxRepository(conn).enqueue(
            [NewMessage(topic, OutboxKind.INCIDENT_UPDATED, incident_id, payload)], clock.now
        )
        return int(conn.execute(select(func.max(OutboxMessage.id))).scalar_one())


def claim(db: Database, clock: Clock, *, worker: str = "w1", limit: int = 10) -> list[int]:
    with db.write() as conn:
        items = OutboxRepository(conn).claim(worker=worker, now=clock.now, lease=LEASE, limit=limit)
    return [item.id for item in items]


def lease(db: Database, message_id: int) -> str:
    """The token of the row's current claim: every write after a claim needs it (fenced leases)."""
    token = row(db, message_id).lease_token
    assert token, f"row {message_id} is not claimed"
    return str(token)


def row(db: Database, message_id: int) -> Any:
    with db.read() as conn:
        return conn.execute(select(OutboxMessage).where(OutboxMessage.id == message_id)).one()


def test_enqueued_rows_are_pending_and_due_at_once(db: Database, clock: Clock) -> None:
    incident_id = add_incident(db)

    message_id = enqueue(db, clock, incident_id, changes=[], count=0)

    stored = row(db, message_id)
    assert (stored.status, stored.attempts, stored.next_attempt_at, stored.created_at) == (
        OutboxStatus.PENDING,
        0,
        clock.now,
        clock.now,
    )
    assert (stored.claimed_by, stored.claimed_until, stored.done_at, stored.result) == (None, None, None, {})


def test_enqueueing_nothing_writes_nothing(db: Database, clock: Clock) -> None:
    with db.write() as conn:
        OutboxRepository(conn).enqueue([], clock.now)

    assert row_counts(db)["outbox"] == 0


def test_a_claim_takes_the_oldest_due_rows_up_to_its_limit_with_what_to_deliver(
    db: Database, clock: Clock
) -> None:
    incidents = [add_incident(db, group_key=f"g{n}") for n in range(3)]
    ids = [enqueue(db, clock, incident_id, n=n) for n, incident_id in enumerate(incidents)]

    with db.write() as conn:
        items = OutboxRepository(conn).claim(worker="w1", now=clock.now, lease=LEASE, limit=2)

    tokens = [item.lease_token for item in items]
    assert items == [
        OutboxItem(
            ids[0], OutboxTopic.SLACK, OutboxKind.INCIDENT_UPDATED, incidents[0], {"n": 0}, 0, tokens[0]
        ),
        OutboxItem(
            ids[1], OutboxTopic.SLACK, OutboxKind.INCIDENT_UPDATED, incidents[1], {"n": 1}, 0, tokens[1]
        ),
    ]
    assert tokens[0] and tokens[0] == tokens[1]  # one token per claim
    assert (row(db, ids[0]).claimed_by, row(db, ids[0]).claimed_until) == ("w1", clock.now + LEASE)
    assert claim(db, clock, worker="w2") == [ids[2]]  # claimed rows are not claimed again
    assert lease(db, ids[2]) != tokens[0]  # and another claim has another token


def test_a_claim_of_an_empty_queue_is_empty(db: Database, clock: Clock) -> None:
    assert claim(db, clock) == []


def test_a_later_row_waits_while_an_earlier_row_of_its_incident_and_topic_backs_off(
    db: Database, clock: Clock
) -> None:
    incident_id = add_incident(db, group_key="g1")
    other_id = add_incident(db, group_key="g2")
    first = enqueue(db, clock, incident_id)
    second = enqueue(db, clock, incident_id)
    llm = enqueue(db, clock, incident_id, OutboxTopic.LLM)
    elsewhere = enqueue(db, clock, other_id)
    assert claim(db, clock, limit=1) == [first]
    with db.write() as conn:
        OutboxRepository(conn).retry(
            first, token=lease(db, first), error="slack down", next_attempt_at=clock.now + 30 * SECOND
        )

    assert claim(db, clock) == [llm, elsewhere]  # another topic and another incident do not wait

    clock.now += 30 * SECOND
    assert claim(db, clock, worker="w2") == [first, second]  # then both, in order


def test_a_later_row_waits_while_an_earlier_row_of_its_incident_and_topic_is_claimed(
    db: Database, clock: Clock
) -> None:
    incident_id = add_incident(db)
    first = enqueue(db, clock, incident_id)
    assert claim(db, clock, worker="w1") == [first]
    second = enqueue(db, clock, incident_id)

    assert claim(db, clock, worker="w2") == []

    with db.write() as conn:
        OutboxRepository(conn).complete(first, token=lease(db, first), now=clock.now, result={"ts": "1.1"})
    assert claim(db, clock, worker="w2") == [second]


def test_a_row_given_up_on_holds_back_nothing(db: Database, clock: Clock) -> None:
    incident_id = add_incident(db)
    first = enqueue(db, clock, incident_id)
    second = enqueue(db, clock, incident_id)
    claim(db, clock, limit=1)

    with db.write() as conn:
        OutboxRepository(conn).fail(first, token=lease(db, first), error="channel_not_found", now=clock.now)

    assert claim(db, clock) == [second]


def test_a_lease_that_ran_out_makes_the_row_claimable_again(db: Database, clock: Clock) -> None:
    incident_id = add_incident(db)
    message_id = enqueue(db, clock, incident_id)
    later = enqueue(db, clock, incident_id)
    assert claim(db, clock, worker="dead", limit=1) == [message_id]

    clock.now += LEASE
    assert claim(db, clock, worker="w2") == []  # the lease still holds at its last moment

    clock.now += SECOND
    with db.write() as conn:
        items = OutboxRepository(conn).claim(worker="w2", now=clock.now, lease=LEASE, limit=10)
    assert [item.id for item in items] == [message_id, later]
    assert items[0].attempts == 0  # a claim is not an attempt
    assert row(db, message_id).claimed_by == "w2"


def test_released_rows_are_due_again_at_once(db: Database, clock: Clock) -> None:
    incident_id = add_incident(db)
    ids = [enqueue(db, clock, incident_id), enqueue(db, clock, incident_id)]
    assert claim(db, clock, worker="w1") == ids

    with db.write() as conn:
        for message_id in ids:
            assert OutboxRepository(conn).release(message_id, token=lease(db, message_id))

    released = row(db, ids[0])
    assert (released.claimed_by, released.claimed_until, released.attempts) == (None, None, 0)
    assert claim(db, clock, worker="w2") == ids


def test_a_completed_row_is_done_with_its_result_and_never_claimed_again(db: Database, clock: Clock) -> None:
    incident_id = add_incident(db)
    message_id = enqueue(db, clock, incident_id)
    claim(db, clock)
    clock.now += 2 * SECOND

    with db.write() as conn:
        OutboxRepository(conn).complete(
            message_id, token=lease(db, message_id), now=clock.now, result={"channel": "C1", "ts": "1.1"}
        )

    done = row(db, message_id)
    assert (done.status, done.done_at, done.result, done.attempts, done.claimed_until) == (
        OutboxStatus.DONE,
        clock.now,
        {"channel": "C1", "ts": "1.1"},
        1,
        None,
    )
    clock.now += LEASE * 2
    assert claim(db, clock) == []


def test_a_retried_row_counts_the_attempt_and_waits_until_its_next_attempt(
    db: Database, clock: Clock
) -> None:
    incident_id = add_incident(db)
    message_id = enqueue(db, clock, incident_id)
    claim(db, clock)
    retry_at = clock.now + 10 * SECOND

    with db.write() as conn:
        OutboxRepository(conn).retry(
            message_id, token=lease(db, message_id), error="x" * 5000, next_attempt_at=retry_at
        )

    retried = row(db, message_id)
    assert (retried.status, retried.attempts, retried.next_attempt_at) == (OutboxStatus.PENDING, 1, retry_at)
    assert (retried.claimed_by, retried.claimed_until) == (None, None)
    assert retried.last_error == "x" * 2000  # errors are kept short
    clock.now = retry_at - SECOND
    assert claim(db, clock) == []
    clock.now = retry_at
    assert claim(db, clock) == [message_id]


def test_a_failed_row_keeps_its_error_for_inspection_and_is_not_claimed_again(
    db: Database, clock: Clock
) -> None:
    incident_id = add_incident(db)
    message_id = enqueue(db, clock, incident_id)
    claim(db, clock)

    with db.write() as conn:
        OutboxRepository(conn).fail(
            message_id, token=lease(db, message_id), error="invalid_blocks", now=clock.now
        )

    failed = row(db, message_id)
    assert (failed.status, failed.attempts, failed.last_error, failed.done_at) == (
        OutboxStatus.FAILED,
        1,
        "invalid_blocks",
        clock.now,
    )
    clock.now += LEASE * 2
    assert claim(db, clock) == []


def test_next_due_after_is_when_the_earliest_deferred_pending_row_becomes_due(
    db: Database, clock: Clock
) -> None:
    incident_id = add_incident(db)
    ids = [enqueue(db, clock, incident_id) for _ in range(4)]

    def next_due() -> datetime | None:
        with db.read() as conn:
            return OutboxRepository(conn).next_due_after(clock.now)

    assert next_due() is None  # everything is due already: nothing to wake for
    claim(db, clock)
    with db.write() as conn:
        outbox = OutboxRepository(conn)
        outbox.retry(ids[0], token=lease(db, ids[0]), error="later", next_attempt_at=clock.now + 20 * SECOND)
        outbox.retry(ids[1], token=lease(db, ids[1]), error="sooner", next_attempt_at=clock.now + 5 * SECOND)
        outbox.fail(
            ids[2], token=lease(db, ids[2]), error="gave up", now=clock.now
        )  # failed rows are not waited for
    assert next_due() == clock.now + 5 * SECOND

    clock.now += 5 * SECOND
    assert next_due() == clock.now + 15 * SECOND


def test_rows_are_counted_by_status(db: Database, clock: Clock) -> None:
    incident_id = add_incident(db)
    ids = [enqueue(db, clock, incident_id) for _ in range(4)]
    claim(db, clock)
    with db.write() as conn:
        outbox = OutboxRepository(conn)
        outbox.complete(ids[0], token=lease(db, ids[0]), now=clock.now, result={})
        outbox.fail(ids[1], token=lease(db, ids[1]), error="no", now=clock.now)
        outbox.retry(ids[2], token=lease(db, ids[2]), error="later", next_attempt_at=clock.now + SECOND)

    with db.read() as conn:
        outbox = OutboxRepository(conn)
        assert outbox.count_by_status() == {
            OutboxStatus.DONE: 1,
            OutboxStatus.FAILED: 1,
            OutboxStatus.PENDING: 2,
        }
        assert outbox.backlog() == 2


def test_a_claim_of_root_posts_takes_them_before_older_replies_and_keeps_each_incidents_order(
    db: Database, clock: Clock
) -> None:
    busy, new = add_incident(db, group_key="busy"), add_incident(db, group_key="new")
    replies = [enqueue(db, clock, busy, n=n) for n in range(3)]
    with db.write() as conn:
        OutboxRepository(conn).enqueue(
            [
                NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_OPENED, new, {}),
                NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_DRAFT, new, {}),
            ],
            clock.now,
        )
        root = replies[-1] + 1
        roots = OutboxRepository(conn).claim(
            worker="w1", now=clock.now, lease=LEASE, limit=1, kinds=[OutboxKind.INCIDENT_OPENED]
        )

    assert [item.id for item in roots] == [root]
    assert claim(db, clock, worker="w2") == replies  # the new incident's draft waits behind its claimed root


def test_a_claim_of_some_kinds_takes_only_those(db: Database, clock: Clock) -> None:
    incident = add_incident(db)
    reply = enqueue(db, clock, incident)
    with db.write() as conn:
        repo = OutboxRepository(conn)
        kinds = [OutboxKind.INCIDENT_OPENED]
        assert repo.claim(worker="w1", now=clock.now, lease=LEASE, limit=10, kinds=kinds) == []
    assert claim(db, clock) == [reply]
