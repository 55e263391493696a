"""Drafts through the real openai client and a fake OpenAI-compatible server over real HTTP, via the outbox.

A draft is posted to the thread and listed by the API; a timeout, a 500 or a malformed answer gives the
template draft and loses nothing; a 429 is retried; the same input makes no second call; a spent budget
gives the template; a slow model never holds up the incident's Slack messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.errors import RetryAfter
from bot.llm import request_draft
from storage.models import Alert
from tests.support.clock import Clock
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.llm import Bot, running_bot
from tests.support.payloads import T0, am_alert, iso

MODEL = "test-model"


@pytest.fixture
def settings(llm: FakeLLM) -> dict[str, Any]:
    return {
        "openai_base_url": llm.base_url,
        "llm_model": MODEL,
        "llm_timeout_seconds": 5.0,
        "llm_max_retries": 1,
        "llm_handoff_seconds": 30.0,
    }


@pytest.fixture
def bot(tmp_path: Path, database_url: str, clock: Clock, settings: dict[str, Any]) -> Iterator[Bot]:
    with running_bot(tmp_path, database_url, clock, **settings) as running:
        yield running


def ask(bot: Bot, incident_id: int, kind: str = "summary") -> None:
    with bot.services.db.write() as conn:
        request_draft(conn, incident_id, kind, reason="command", requested_by="U123", now=bot.clock())  # type: ignore[arg-type]


def test_a_draft_is_posted_to_the_thread_and_listed_by_the_api(bot: Bot, llm: FakeLLM) -> None:
    opened = bot.alert(am_alert())["opened"]
    bot.run()

    [request] = llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == MODEL
    system, user = request.messages
    assert system["role"] == "system" and "never an instruction" in system["content"]
    assert "CheckoutHighErrorRate" in user["content"]
    assert bot.outbox("llm") == [("draft.requested", "done", bot.outbox("llm")[0][2])]
    [(_, status, payload)] = [row for row in bot.outbox("slack") if row[0] == "incident.draft"]
    assert (status, payload["label"], payload["source"], payload["text"]) == (
        "done",
        f"AI draft ({MODEL})",
        "llm",
        llm.reply,
    )
    printed = bot.lines[-1]
    assert f"AI draft ({MODEL}) · summary" in printed and llm.reply in printed
    drafts = bot.client.get(f"/api/incidents/{opened[0]}").json()["drafts"]
    assert [(d["kind"], d["source"], d["model"], d["text"]) for d in drafts] == [
        ("summary", "llm", MODEL, llm.reply)
    ]
    [call] = bot.calls()
    assert (call.outcome, call.model, call.prompt_name, call.tokens_out) == (
        "ok",
        MODEL,
        "incident_summary",
        40,
    )
    assert call.prompt_version == "2+system1" and call.tokens_in > 0
    metrics = bot.client.get("/metrics").text
    assert 'sevbot_llm_calls_total{outcome="ok"} 1.0' in metrics
    assert "sevbot_llm_latency_seconds_count 1.0" in metrics


def test_a_timeout_gives_the_template_draft_and_loses_nothing(
    tmp_path: Path, database_url: str, clock: Clock, llm: FakeLLM, settings: dict[str, Any]
) -> None:
    llm.script(Answer(hold=True))
    quick = {**settings, "llm_timeout_seconds": 0.3, "llm_max_retries": 0}
    with running_bot(tmp_path, database_url, clock, **quick) as bot:
        bot.alert(am_alert(), am_alert(instance="checkout-2:8080"))
        bot.run()

        assert len(llm.requests) == 1
        [draft] = bot.drafts()
        assert (draft.source, draft.model) == ("template", None)
        assert draft.text.startswith("#1 SEV1 [open] CheckoutHighErrorRate")
        assert [c.outcome for c in bot.calls()] == ["timeout"]
        assert {status for _, status, _ in bot.outbox()} == {"done"}
        assert [kind for kind, _, _ in bot.outbox("slack")] == ["incident.opened", "incident.draft"]
        assert "Template draft · summary" in bot.lines[-1]
        with bot.services.db.read() as conn:
            assert len(conn.execute(select(Alert.id)).all()) == 2


@pytest.mark.parametrize(
    "answer", [Answer(status=500), Answer(body="<html>bad gateway</html>"), Answer(text=" ")]
)
def test_a_server_error_or_malformed_answer_gives_the_template_draft(
    bot: Bot, llm: FakeLLM, answer: Answer
) -> None:
    llm.script(answer, answer)  # the client retries once
    bot.alert(am_alert())
    bot.run()

    assert [d.source for d in bot.drafts()] == ["template"]
    [call] = bot.calls()
    assert call.outcome == "error" and call.error
    assert {status for _, status, _ in bot.outbox()} == {"done"}


def test_a_429_is_retried_and_then_drafted(bot: Bot, llm: FakeLLM) -> None:
    llm.script(Answer(status=429, retry_after="0.01"))
    bot.alert(am_alert())
    bot.run()

    assert len(llm.requests) == 2
    assert llm.requests[0].body == llm.requests[1].body
    assert [d.source for d in bot.drafts()] == ["llm"]
    assert [c.outcome for c in bot.calls()] == ["ok"]


def test_the_same_input_gives_the_cached_draft_without_a_call(bot: Bot, llm: FakeLLM) -> None:
    bot.alert(am_alert())
    bot.run()
    ask(bot, 1)  # a person asks again: nothing changed, so the same draft is posted again, with no call
    bot.run()

    assert len(llm.requests) == 1
    assert [c.outcome for c in bot.calls()] == ["ok", "cached"]
    assert len(bot.drafts()) == 1
    posted = [payload for kind, _, payload in bot.outbox("slack") if kind == "incident.draft"]
    assert [p["draft_id"] for p in posted] == [1, 1]
    assert posted[1]["requested_by"] == "U123"

    ask(bot, 1, "runbook")  # another kind is another input
    bot.run()
    assert len(llm.requests) == 2
    assert llm.requests[1].messages[1]["content"] != llm.requests[0].messages[1]["content"]


@pytest.mark.parametrize(
    ("limits", "expected_outcomes"),
    [({"llm_calls_per_hour": 1}, ["ok", "budget"]), ({"llm_tokens_per_day": 1000}, ["ok", "budget"])],
)
def test_an_exhausted_budget_gives_the_template_draft(
    tmp_path: Path,
    database_url: str,
    clock: Clock,
    llm: FakeLLM,
    settings: dict[str, Any],
    limits: dict[str, int],
    expected_outcomes: list[str],
) -> None:
    with running_bot(
        tmp_path, database_url, clock, **{**settings, **limits, "llm_max_output_tokens": 200}
    ) as bot:
        bot.alert(am_alert("ApiDown", service="api"), group_key="g1")
        bot.run()
        bot.alert(am_alert("DiskFull", service="db"), group_key="g2")
        bot.run()

        assert len(llm.requests) == 1
        assert [c.outcome for c in bot.calls()] == expected_outcomes
        assert [(d.incident_id, d.source) for d in bot.drafts()] == [(1, "llm"), (2, "template")]
        assert "sevbot_llm_budget_fallbacks_total 1.0" in bot.client.get("/metrics").text
        assert bot.calls()[1].prompt  # what would have been sent is recorded, redacted


def test_a_slow_model_never_holds_up_the_incidents_slack_messages(
    tmp_path: Path, database_url: str, clock: Clock, llm: FakeLLM, settings: dict[str, Any]
) -> None:
    llm.script(Answer(hold=True))
    with running_bot(tmp_path, database_url, clock, **{**settings, "llm_handoff_seconds": 0.05}) as bot:
        bot.alert(am_alert())  # outbox: incident.opened (slack), draft.requested (llm)

        async def scenario() -> None:
            worker = bot.worker()
            assert await worker.run_once() == 2
            # The model has the request and has not answered, yet the incident is already posted.
            assert len(await asyncio.to_thread(llm.wait_for, 1)) == 1
            assert bot.sink.in_flight == 1
            assert bot.lines[0].startswith("[slack] NEW INCIDENT #1")
            assert [(k, s) for k, s, _ in bot.outbox()] == [
                ("incident.opened", "done"),
                ("draft.requested", "pending"),
            ]
            llm.release()
            await bot.sink.drain()
            bot.clock.now += timedelta(seconds=1)
            # The stored draft queued its post; the request row is now delivered with the task's result.
            assert await worker.run_once() == 2

        asyncio.run(scenario())

        assert len(llm.requests) == 1
        assert [(k, s) for k, s, _ in bot.outbox()] == [
            ("incident.opened", "done"),
            ("draft.requested", "done"),
            ("incident.draft", "done"),
        ]
        assert f"AI draft ({MODEL})" in bot.lines[-1]


def test_without_an_llm_drafts_come_from_the_template_and_nothing_leaves(
    tmp_path: Path, database_url: str, clock: Clock, llm: FakeLLM
) -> None:
    with running_bot(tmp_path, database_url, clock) as bot:
        bot.alert(am_alert())
        bot.run()
        ask(bot, 1)
        bot.run()

        assert llm.requests == []
        assert [c.outcome for c in bot.calls()] == ["disabled", "cached"]
        [draft] = bot.drafts()
        assert draft.source == "template"
        assert "No matching runbook section was found" in draft.text
        assert "Template draft · summary" in bot.lines[-1]


def test_automatic_redrafts_wait_for_the_interval_and_then_draft_the_latest_state_once(
    bot: Bot, llm: FakeLLM
) -> None:
    bot.alert(am_alert(instance="i0"))
    bot.run()
    bot.alert(*[am_alert(instance=f"i{i}") for i in range(1, 11)])  # 11 alerts: a redraft is asked for
    bot.run()
    bot.alert(*[am_alert(instance=f"i{i}") for i in range(11, 22)])  # 22: asked again
    bot.run()

    assert len(llm.requests) == 1  # both wait for the redraft interval (10 minutes by default)
    assert [(p["reason"], s) for _, s, p in bot.outbox("llm")] == [
        ("opened", "done"),
        ("alerts", "pending"),
        ("alerts", "pending"),
    ]
    bot.clock.now += timedelta(minutes=10)
    bot.run()

    assert len(llm.requests) == 2
    assert '"alert_count": 22' in llm.requests[1].messages[1]["content"]
    results = bot.results("llm")
    assert results[1:] == [("done", {"skipped": "superseded by a newer request"}), ("done", results[2][1])]
    assert results[2][1]["source"] == "llm"
    assert [d.source for d in bot.drafts()] == ["llm", "llm"]


def test_while_a_draft_is_in_flight_another_request_is_handed_back_at_once(bot: Bot, llm: FakeLLM) -> None:
    """The worker waits for one draft at a time at most: a second request never waits behind the first."""
    llm.script(Answer(hold=True), Answer(hold=True))
    bot.alert(am_alert("ApiDown", service="api"), group_key="g1")
    bot.alert(am_alert("DiskFull", service="db"), group_key="g2")
    [first, second] = [item for item in bot.worker()._claim() if item.topic == "llm"]

    async def scenario() -> None:
        waiting = asyncio.create_task(bot.sink.deliver(first, None))  # waits up to the 30 s hand-off
        await asyncio.to_thread(llm.wait_for, 1)
        with pytest.raises(RetryAfter):
            await bot.sink.deliver(second, None)
        assert bot.sink.in_flight == 2 and not waiting.done()
        llm.release()
        assert (await waiting)["source"] == "llm"
        await bot.sink.drain()
        assert (await bot.sink.deliver(second, None))["source"] == "llm"

    asyncio.run(scenario())
    assert len(llm.requests) == 2


def test_a_draft_finished_after_its_row_was_handed_back_is_delivered_without_a_second_call(
    bot: Bot, llm: FakeLLM
) -> None:
    llm.script(Answer(hold=True))
    bot.alert(am_alert())
    [request] = [item for item in bot.worker()._claim() if item.topic == "llm"]

    async def hand_back() -> None:
        bot.sink.handoff = 0.0
        with pytest.raises(RetryAfter):
            await bot.sink.deliver(request, None)
        llm.release()
        await bot.sink.drain()

    asyncio.run(hand_back())  # the draft finished in that event loop; the row is delivered in a new one
    result = asyncio.run(bot.sink.deliver(request, None))

    assert (result["source"], len(llm.requests), bot.sink.ready) == ("llm", 1, 0)


def test_a_flapping_incident_is_not_redrafted_at_every_flap(bot: Bot, llm: FakeLLM) -> None:
    alert = am_alert()
    for flap in range(6):  # fire, resolve, fire again … a flap a minute: flagged flapping after a few
        bot.clock.now += timedelta(minutes=1)
        starts = T0 + timedelta(minutes=4 * flap)
        fired = {**alert, "startsAt": iso(starts), "endsAt": iso(starts + timedelta(minutes=5))}
        bot.alert(fired)
        bot.run()
        bot.alert({**fired, "status": "resolved", "endsAt": iso(starts + timedelta(minutes=1))})
        bot.run()

    incident = bot.client.get("/api/incidents/1").json()["incident"]
    assert incident["flapping"] is True
    # The first summary and the first resolution; while it flaps, nothing more (no summary per reopening)
    assert [d.kind for d in bot.drafts()] == ["summary", "resolution"]
    bot.clock.now += timedelta(minutes=10)
    bot.run()
    assert [d.kind for d in bot.drafts()] == ["summary", "resolution"]
    # ... until it has stayed resolved for grouping.stable_after (15 min): then its resolution, once.
    bot.clock.now += timedelta(minutes=5)
    bot.run()
    assert [d.kind for d in bot.drafts()] == ["summary", "resolution", "resolution"]
    assert len(llm.requests) == 3


def test_a_flapping_incident_that_reopens_before_it_is_stable_gets_no_resolution_draft(
    bot: Bot, llm: FakeLLM
) -> None:
    alert = am_alert()
    for flap in range(6):
        bot.clock.now += timedelta(minutes=1)
        starts = T0 + timedelta(minutes=4 * flap)
        fired = {**alert, "startsAt": iso(starts), "endsAt": iso(starts + timedelta(minutes=5))}
        bot.alert(fired)
        bot.alert({**fired, "status": "resolved", "endsAt": iso(starts + timedelta(minutes=1))})
        bot.run()
    before = [d.kind for d in bot.drafts()]  # drafted before it was flagged flapping
    bot.clock.now += timedelta(minutes=10)
    again = T0 + timedelta(minutes=30)
    bot.alert(
        {**alert, "startsAt": iso(again), "endsAt": iso(again + timedelta(minutes=5))}
    )  # it fires again
    bot.clock.now += timedelta(minutes=10)
    bot.run()

    assert bot.client.get("/api/incidents/1").json()["incident"]["status"] == "open"
    assert [d.kind for d in bot.drafts()] == before  # no resolution draft from the flapping
    skipped = [r for _, r in bot.results("llm") if "before it was stable" in str(r.get("skipped"))]
    assert skipped


def test_a_waiting_redraft_does_not_hold_back_the_resolution_draft(bot: Bot, llm: FakeLLM) -> None:
    alerts = [am_alert(instance=f"i{i}") for i in range(11)]
    bot.alert(alerts[0])
    bot.run()
    bot.alert(*alerts[1:])  # 11 alerts: a redraft is asked for, and waits for the redraft interval
    bot.run()
    bot.alert(*[{**a, "status": "resolved", "endsAt": "2026-11-20T08:03:00Z"} for a in alerts])
    bot.run()
    assert [d.kind for d in bot.drafts()] == ["summary"]  # the resolution waits behind the redraft ...

    bot.clock.now += timedelta(seconds=30)
    bot.run()

    assert [d.kind for d in bot.drafts()] == ["summary", "resolution"]  # ... for half a minute at most
    assert bot.results("llm")[1] == ("done", {"skipped": "incident resolved; the resolution draft stands"})


def test_a_secret_in_the_models_answer_is_redacted_before_it_is_posted(bot: Bot, llm: FakeLLM) -> None:
    key = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key, built so no scanner flags this file
    llm.script(Answer(text=f"Checkout is down. Rotate the key {key} now."))
    bot.alert(am_alert())
    bot.run()

    [draft] = bot.drafts()
    assert draft.source == "llm" and key not in draft.text and "[REDACTED:" in draft.text
    assert key not in bot.lines[-1]  # what was posted
