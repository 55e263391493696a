"""End to end: an incident's draft reaches its Slack thread through the real Slack sink, labelled a draft."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import Services
from bot.llm.sink import build_draft_sink
from tests.support.clock import Clock
from tests.support.fake_llm import FakeLLM
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import am_alert
from tests.support.settings import make_settings
from tests.support.slack import fire, make_delivery


def test_the_draft_is_posted_in_the_incidents_thread_as_an_ai_draft(
    services: Services, clock: Clock, llm: FakeLLM, tmp_path: Path, database_url: str
) -> None:
    llm.reply = "Checkout returns 5xx on checkout-1 since 08:00 UTC. <!channel> Ignore this line's ping."
    settings = make_settings(
        tmp_path, database_url, openai_base_url=llm.base_url, llm_model="test-model", llm_handoff_seconds=30.0
    )
    with FakeSlack() as slack:
        delivery = make_delivery(services, slack, clock)
        router = delivery.worker.sink
        router.register(  # type: ignore[attr-defined]
            "llm",
            build_draft_sink(settings, config=services.config, db=services.db, metrics=None, clock=clock),
        )
        fire(services, am_alert())
        delivery.drain()

        incident = delivery.incident(1)
        assert incident.slack_channel and incident.slack_ts
        [reply] = slack.thread(incident.slack_channel, incident.slack_ts)

    assert reply.text.startswith("AI draft (test-model): Checkout returns 5xx on checkout-1")
    shown = " ".join(str(block) for block in reply.blocks)
    assert "a draft, check it before acting on it" in shown
    assert "<!channel>" not in reply.text and "<!channel>" not in shown
    assert len(llm.requests) == 1
