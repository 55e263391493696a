"""Slack delivery state (storage/slack.py), on SQLite and PostgreSQL: event ids handled once, channel
slots, silences."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.bootstrap import Services
from storage.slack import SilenceRepository, SlackStateRepository
from tests.support.clock import Clock


def test_an_event_id_is_new_once(services: Services, clock: Clock) -> None:
    with services.db.write() as conn:
        state = SlackStateRepository(conn)
        first = state.remember_event("Ev0A", now=clock.now)
        again = state.remember_event("Ev0A", now=clock.now)
        other = state.remember_event("Ev0B", now=clock.now)
    with services.db.write() as conn:
        later = SlackStateRepository(conn).remember_event("Ev0A", now=clock.now)
        pruned = SlackStateRepository(conn).forget_events_before(clock.now + timedelta(seconds=1))

    assert (first, again, other, later, pruned) == (True, False, True, False, 2)


def test_channel_slots_follow_each_other_and_a_far_turn_is_not_reserved(
    services: Services, clock: Clock
) -> None:
    second = timedelta(seconds=1)
    slots = []
    for _ in range(3):
        with services.db.write() as conn:
            slots.append(
                SlackStateRepository(conn).reserve_slot(
                    "#alerts", now=clock.now, interval=second, max_wait=second * 5
                )
            )
    with services.db.write() as conn:
        other = SlackStateRepository(conn).reserve_slot(
            "#other", now=clock.now, interval=second, max_wait=second
        )
        far = SlackStateRepository(conn).reserve_slot(
            "#alerts", now=clock.now, interval=second, max_wait=second
        )
        again = SlackStateRepository(conn).reserve_slot(
            "#alerts", now=clock.now, interval=second, max_wait=second
        )

    assert slots == [clock.now, clock.now + second, clock.now + 2 * second]
    assert other == clock.now
    assert far == again == clock.now + 3 * second  # not taken: the next caller is told the same time


def test_a_new_channel_message_goes_ahead_of_replies_and_pushes_them_back(
    services: Services, clock: Clock
) -> None:
    second = timedelta(seconds=1)

    def reserve(first: bool) -> datetime:
        with services.db.write() as conn:
            return SlackStateRepository(conn).reserve_slot(
                "#alerts", now=clock.now, interval=second, max_wait=second * 10, first=first
            )

    replies = [reserve(first=False) for _ in range(3)]  # other incidents' drafts and updates, scheduled
    roots = [reserve(first=True) for _ in range(2)]  # two new incidents
    after = reserve(first=False)

    assert replies == [clock.now, clock.now + second, clock.now + 2 * second]
    assert roots == [clock.now, clock.now + second]  # behind each other only, not behind the replies
    assert after == clock.now + 3 * second  # replies still one per interval, after both roots
    with services.db.write() as conn:  # a quiet channel: its next reply waits one interval after a root
        quiet = SlackStateRepository(conn)
        root = quiet.reserve_slot("#db", now=clock.now, interval=second, max_wait=second * 10, first=True)
        reply = quiet.reserve_slot("#db", now=clock.now, interval=second, max_wait=second * 10)
    assert (root, reply) == (clock.now, clock.now + second)


def test_silences_expire_and_can_be_removed(services: Services, clock: Clock) -> None:
    matchers = [{"name": "service", "op": "=", "value": "checkout"}]
    with services.db.write() as conn:
        silences = SilenceRepository(conn)
        short = silences.add(
            matchers=matchers,
            reason=None,
            created_by="U1",
            now=clock.now,
            expires_at=clock.now + timedelta(hours=1),
        )
        long = silences.add(
            matchers=matchers,
            reason="maint",
            created_by="U1",
            now=clock.now,
            expires_at=clock.now + timedelta(days=1),
        )
    with services.db.write() as conn:
        silences = SilenceRepository(conn)
        assert [s.id for s in silences.active(clock.now)] == [short, long]
        assert [s.id for s in silences.active(clock.now + timedelta(hours=2))] == [long]
        assert silences.remove(long) and not silences.remove(long)
        assert silences.active(clock.now + timedelta(hours=2)) == []
