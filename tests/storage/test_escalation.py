"""Escalation's compare-and-set claims: a claim made on a stale read matches nothing (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from analytics.records import PagerState
from bot.bootstrap import Services
from storage.escalation import EscalationRepository
from tests.support.payloads import T0, am_alert
from tests.support.slack import fire


def test_two_claims_from_the_same_read_give_one_reminder_and_one_page(services: Services) -> None:
    fire(services, am_alert())
    with services.db.read() as conn:
        [first_read] = EscalationRepository(conn).open_incidents(["SEV1"])
        [second_read] = EscalationRepository(conn).open_incidents(["SEV1"])
    now = T0 + timedelta(minutes=10)
    with services.db.write() as conn:
        assert EscalationRepository(conn).claim_reminder(first_read, now=now)
    with services.db.write() as conn:
        repo = EscalationRepository(conn)
        assert not repo.claim_reminder(second_read, now=now)  # the other process's read is stale
        assert not repo.claim_pager(second_read, PagerState.TRIGGERED)
        [fresh] = repo.open_incidents(["SEV1"])
        assert (fresh.renotify_count, fresh.renotified_at) == (1, now)
        assert repo.claim_pager(fresh, PagerState.TRIGGERED)
        assert not repo.claim_pager(fresh, PagerState.TRIGGERED)


def test_only_open_incidents_of_the_asked_levels_are_looked_at(services: Services) -> None:
    fire(services, am_alert())
    fire(services, am_alert("Other", severity="warning"))
    with services.db.read() as conn:
        repo = EscalationRepository(conn)
        assert [w.severity for w in repo.open_incidents(["SEV1"])] == ["SEV1"]
        assert repo.open_incidents([]) == []
        assert repo.pager_behind() == []
