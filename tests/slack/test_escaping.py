"""Nothing an alert or a person writes can mention, link or ping through sevbot's Slack messages.

Slack acts on ``<!channel>``, ``<!here>``, ``<@U…>``, ``<#C…>``, ``<!subteam^…>`` and ``<url|text>`` in
mrkdwn text and in a message's ``text`` (its notification); ``plain_text`` shows them as typed. So every
mrkdwn text and ``text`` sevbot sends (root messages, thread replies, drafts, answers to commands,
buttons and mentions) is checked for each planted form.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.fake_slack import Call, app_mention
from tests.support.slack_app import SlackBot, running_slack_bot

PLANTED = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0BOSS>",
    "<#C0SECRET|secret>",
    "<!subteam^S0ONCALL>",
    "<https://evil.example/login|the runbook>",
)
HOSTILE = " ".join(PLANTED)
RAW = ("<!channel", "<!here", "<!everyone", "<@U0BOSS", "<#C0SECRET", "<!subteam", "<https://evil")
ADMIN = "U0ADMIN"


def mrkdwn_of(value: Any) -> Iterator[str]:
    """Every mrkdwn text in blocks (sections, fields, context), walked as JSON."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for item in value.values():
            yield from mrkdwn_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from mrkdwn_of(item)


def shown(call: Call) -> list[str]:
    """What Slack would parse in one call: its ``text`` and its blocks' mrkdwn."""
    blocks = call.args.get("blocks")
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return [str(call.args.get("text", "")), *mrkdwn_of(blocks or [])]


def leaks(bot: SlackBot) -> list[tuple[str, str]]:
    methods = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")
    return [
        (call.method, raw)
        for call in bot.slack.calls
        if call.method in methods
        for text in shown(call)
        for raw in RAW
        if raw in text
    ]


@pytest.fixture
def hostile_llm() -> Iterator[FakeLLM]:
    with FakeLLM(reply=f"Summary: checkout is failing. {HOSTILE} @channel please look").running() as fake:
        yield fake


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_alert_text_user_input_and_llm_drafts_are_escaped_everywhere(
    tmp_path: Path, database_url: str, hostile_llm: FakeLLM
) -> None:
    with running_slack_bot(
        tmp_path,
        database_url,
        users={ADMIN: {"is_admin": True}},
        openai_base_url=hostile_llm.base_url,
        llm_model="m",
    ) as bot:
        bot.alert(
            service=f"checkout{PLANTED[0]}",
            extra_labels={"team": PLANTED[3]},
            annotations={
                "summary": f"errors {HOSTILE}",
                "description": HOSTILE,
                "runbook_url": "https://runbooks.example/x<!channel>|<@U0BOSS>",
            },
        )
        bot.slack.wait_for("chat.postMessage")
        channel, ts = bot.root()
        answers = [
            bot.ask(f"resolve 1 done {HOSTILE}", user_id=ADMIN),
            bot.ask(f"silence alertname={PLANTED[0]} 2h", user_id=ADMIN),
            bot.ask("silence list", user_id=ADMIN),
            bot.ask("list"),
            bot.ask("show 1"),
            bot.ask("why 1"),
            bot.ask("summarize 1"),
        ]
        typo = bot.command(f"ack {PLANTED[1]}")
        bad_matcher = bot.command(f"silence {PLANTED[2]} 2h", user_id=ADMIN)
        bot.event(app_mention(f"ack {PLANTED[0]}", channel=channel), event_id="Ev1")  # outside the thread
        bot.event(
            app_mention(f"noise {PLANTED[4]}", user=ADMIN, channel=channel, thread_ts=ts), event_id="Ev2"
        )
        bot.slack.wait_for(
            "chat.postMessage", where=lambda c: "is not an incident ID" in c.args.get("text", "")
        )
        bot.slack.wait_for("chat.postMessage", where=lambda c: c.args.get("text", "").startswith("AI draft"))
        bot.slack.wait_for("chat.postMessage", where=lambda c: "Resolved by" in c.args.get("text", ""))
        bot.slack.wait_for(
            "chat.postMessage", where=lambda c: "Marked not actionable" in c.args.get("text", "")
        )
        found = leaks(bot)

    assert found == []
    assert [raw for raw in RAW for text in (typo.text, bad_matcher.text) if raw in text] == []
    # What was planted is still there to read, as text.
    assert typo.text.startswith("'&lt;!here&gt;' is not an incident ID.")
    assert "&lt;!everyone&gt;" in bad_matcher.text
    assert "alertname=&lt;!channel&gt;" in answers[1] and "alertname=&lt;!channel&gt;" in answers[2]
    assert all(RAW[0] not in a for a in answers)
    assert len(hostile_llm.requests) >= 1
