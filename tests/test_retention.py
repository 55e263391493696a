"""Retention: finished outbox rows and LLM prompts older than SEVBOT_RETENTION_DAYS go; figures stay."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import generate_latest
from sqlalchemy import select, update

from bot.bootstrap import Services
from bot.metrics import Metrics
from bot.outbox.retention import prune_once
from storage.models import LlmCall, OutboxMessage
from tests.support.clock import Clock
from tests.support.payloads import am_alert
from tests.support.slack import fire


def test_old_finished_rows_and_prompts_go_and_the_call_figures_stay(services: Services, clock: Clock) -> None:
    fire(services, am_alert(name="A"))
    fire(services, am_alert(name="B"))
    with services.db.write() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == 1)
            .values(status="done", done_at=clock.now - timedelta(days=31))
        )
        conn.execute(
            LlmCall.__table__.insert(),
            [
                {
                    "incident_id": 1,
                    "prompt_name": "summary",
                    "prompt_version": "1",
                    "outcome": "ok",
                    "tokens_in": 900,
                    "prompt": "the whole redacted prompt",
                    "created_at": clock.now - timedelta(days=days),
                }
                for days in (0, 40)
            ],
        )
    metrics = Metrics()

    pruned = prune_once(services.db, days=30, now=clock.now, metrics=metrics)

    assert (pruned.outbox_rows, pruned.llm_prompts) == (1, 1)
    with services.db.read() as conn:
        assert 1 not in set(conn.execute(select(OutboxMessage.id)).scalars())  # done 31 days ago
        calls = conn.execute(select(LlmCall.prompt, LlmCall.tokens_in).order_by(LlmCall.id)).all()
    assert [tuple(c) for c in calls] == [("the whole redacted prompt", 900), (None, 900)]
    text = generate_latest(metrics.registry).decode()
    assert 'sevbot_retention_pruned_total{what="outbox_rows"} 1.0' in text
    assert 'sevbot_retention_pruned_total{what="llm_prompts"} 1.0' in text


def test_zero_days_keeps_everything(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    with services.db.write() as conn:
        conn.execute(update(OutboxMessage).values(status="done", done_at=clock.now - timedelta(days=999)))

    assert prune_once(services.db, days=0, now=clock.now).outbox_rows == 0
