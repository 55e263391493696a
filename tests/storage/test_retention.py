"""`sevbot db prune`'s SQL: resolved incidents before a date go with everything of theirs; open ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.bootstrap import Services
from bot.incidents.actions import IncidentActions
from storage.models import Alert, Incident, LlmCall, OutboxMessage, TimelineEvent
from storage.retention import IncidentPrune, count_prunable, prune_incidents
from tests.support.clock import Clock
from tests.support.payloads import am_alert
from tests.support.slack import fire


def count(services: Services, model: type) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_resolved_incidents_before_the_date_go_with_their_rows_open_ones_stay(
    services: Services, clock: Clock
) -> None:
    fire(services, am_alert(name="Old"))
    fire(services, am_alert(name="StillOpen"))
    with services.db.write() as conn:
        IncidentActions(conn).resolve(1, user="U0ALICE", at=clock.now, now=clock.now)
        conn.execute(
            LlmCall.__table__.insert().values(
                incident_id=1, prompt_name="summary", prompt_version="1", outcome="ok", created_at=clock.now
            )
        )
    before = clock.now + timedelta(days=1)

    with services.db.read() as conn:
        expected = count_prunable(conn, before=before)
    with services.db.write() as conn:
        pruned = prune_incidents(conn, before=before, batch=10)
    with services.db.write() as conn:
        assert prune_incidents(conn, before=before) == IncidentPrune()

    assert pruned == expected
    assert (
        (pruned.incidents, pruned.alerts) == (1, 1)
        and pruned.timeline_events >= 2
        and pruned.outbox_rows >= 1
    )
    with services.db.read() as conn:
        assert list(conn.execute(select(Incident.alertname)).scalars()) == ["StillOpen"]
        assert list(conn.execute(select(LlmCall.incident_id)).scalars()) == [None]  # the call record stays
    assert count(services, Alert) == 1 and count(services, TimelineEvent) >= 1
    assert count(services, OutboxMessage) >= 1


def test_nothing_resolved_after_the_date_is_pruned(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    with services.db.write() as conn:
        IncidentActions(conn).resolve(1, user="U0ALICE", at=clock.now, now=clock.now)

    with services.db.write() as conn:
        assert prune_incidents(conn, before=clock.now - timedelta(seconds=1)).incidents == 0
    assert count(services, Incident) == 1
