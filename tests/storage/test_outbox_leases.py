"""The outbox's fenced leases, parking and retention (storage/outbox.py), through real ingestion."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from bot.bootstrap import Services
from storage.models import OutboxMessage
from storage.outbox import NewMessage, OutboxItem, OutboxRepository
from tests.support.clock import Clock
from tests.support.payloads import am_alert
from tests.support.slack import fire

LEASE = timedelta(seconds=60)


def enqueue(services: Services, clock: Clock, *incidents: int | None) -> None:
    with services.db.write() as conn:
        OutboxRepository(conn).enqueue(
            [NewMessage("slack", "incident.opened", i, {}) for i in incidents], clock.now
        )


def claim(services: Services, clock: Clock, worker: str) -> list[OutboxItem]:
    with services.db.write() as conn:
        return OutboxRepository(conn).claim(worker=worker, now=clock.now, lease=LEASE, limit=10)


def row(services: Services, message_id: int = 1) -> dict[str, object]:
    with services.db.read() as conn:
        return dict(conn.execute(select(OutboxMessage).where(OutboxMessage.id == message_id)).one()._mapping)


def test_a_claim_whose_lease_was_taken_over_can_no_longer_complete_retry_fail_or_park(
    services: Services, clock: Clock
) -> None:
    enqueue(services, clock, None)
    [stale] = claim(services, clock, "slow")
    clock.now += LEASE + timedelta(seconds=1)
    [fresh] = claim(services, clock, "fast")
    assert fresh.lease_token != stale.lease_token

    with services.db.write() as conn:
        outbox = OutboxRepository(conn)
        assert not outbox.complete(stale.id, token=stale.lease_token, now=clock.now, result={"ts": "1"})
        assert not outbox.retry(stale.id, token=stale.lease_token, error="x", next_attempt_at=clock.now)
        assert not outbox.fail(stale.id, token=stale.lease_token, error="x", now=clock.now)
        assert not outbox.park(stale.id, token=stale.lease_token, reason="token_revoked", error="x")
        assert not outbox.release(stale.id, token=stale.lease_token)
        assert not outbox.save_progress(stale.id, token=stale.lease_token, result={}, lease_until=clock.now)
    before = row(services)
    assert (before["status"], before["claimed_by"], before["attempts"]) == ("pending", "fast", 0)

    with services.db.write() as conn:
        assert OutboxRepository(conn).complete(fresh.id, token=fresh.lease_token, now=clock.now, result={})
    assert row(services)["status"] == "done"


def test_saving_progress_extends_the_lease(services: Services, clock: Clock) -> None:
    enqueue(services, clock, None)
    [item] = claim(services, clock, "w1")
    clock.now += timedelta(seconds=50)
    with services.db.write() as conn:
        assert OutboxRepository(conn).save_progress(
            item.id, token=item.lease_token, result={"posting": {}}, lease_until=clock.now + LEASE
        )
    clock.now += timedelta(seconds=30)  # past the first lease, within the extended one

    assert claim(services, clock, "w2") == []


def test_a_parked_row_holds_back_its_incident_until_retried(services: Services, clock: Clock) -> None:
    fire(services, am_alert(name="A"))
    fire(services, am_alert(name="B"))
    with services.db.write() as conn:
        conn.execute(delete(OutboxMessage))
    enqueue(services, clock, 1, 2, 1)  # incident 1's root, incident 2's root, incident 1's next row
    root1, root2, later1 = claim(services, clock, "w1")
    with services.db.write() as conn:
        outbox = OutboxRepository(conn)
        assert outbox.park(root1.id, token=root1.lease_token, reason="not_in_channel", error="e")
        assert outbox.release(root2.id, token=root2.lease_token)
        assert outbox.release(later1.id, token=later1.lease_token)
        assert outbox.parked_reasons() == {"not_in_channel": 1}

    clock.now += timedelta(hours=1)
    assert [i.id for i in claim(services, clock, "w2")] == [root2.id]  # incident 1 waits, in order

    with services.db.write() as conn:
        assert OutboxRepository(conn).retry_now(now=clock.now, parked=True).unparked == 1
    assert [i.id for i in claim(services, clock, "w3")] == [root1.id, later1.id]


def test_retry_now_makes_backing_off_rows_due_but_leaves_live_claims_alone(
    services: Services, clock: Clock
) -> None:
    enqueue(services, clock, None, None)
    first, _second = claim(services, clock, "w1")
    with services.db.write() as conn:
        outbox = OutboxRepository(conn)
        outbox.retry(
            first.id, token=first.lease_token, error="5xx", next_attempt_at=clock.now + timedelta(hours=1)
        )
        counts = outbox.retry_now(now=clock.now, parked=False)

    assert (counts.due_now, counts.unparked) == (1, 0)
    assert [i.id for i in claim(services, clock, "w2")] == [first.id]  # second is still w1's


def test_finished_rows_are_pruned_by_age_pending_and_parked_ones_never(
    services: Services, clock: Clock
) -> None:
    enqueue(services, clock, None, None, None, None)
    done, failed, parked, pending = claim(services, clock, "w1")
    with services.db.write() as conn:
        outbox = OutboxRepository(conn)
        outbox.complete(done.id, token=done.lease_token, now=clock.now, result={})
        outbox.fail(failed.id, token=failed.lease_token, error="x", now=clock.now)
        outbox.park(parked.id, token=parked.lease_token, reason="token_revoked", error="x")
        outbox.release(pending.id, token=pending.lease_token)

    with services.db.write() as conn:
        assert OutboxRepository(conn).prune_finished(before=clock.now) == 0  # not old enough
    with services.db.write() as conn:
        assert OutboxRepository(conn).prune_finished(before=clock.now + timedelta(days=1), limit=1) == 1
        assert OutboxRepository(conn).prune_finished(before=clock.now + timedelta(days=1)) == 1
    with services.db.read() as conn:
        left = dict(conn.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
    assert left == {parked.id: "parked", pending.id: "pending"}
