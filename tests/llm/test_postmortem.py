"""``/incident postmortem ID`` end to end over real HTTP: the request goes through the outbox, the draft
(the template's, or the LLM stand-in's through the real openai client) reaches the incident's thread as a
Markdown file through slack_sdk's three-step upload to the fake Slack, and the API serves the same file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.capture import SHORTCUT_CALLBACK
from storage.models import Incident, LlmCall
from tests.support.fake_llm import FakeLLM
from tests.support.payloads import T0
from tests.support.slack_app import SlackBot, running_slack_bot

API_TOKEN = "pm-api-token-0123456789"
# The test's clock stands still: a delivery waits for its draft rather than coming back after a re-check.
SETTINGS: dict[str, Any] = {"api_token": API_TOKEN, "llm_handoff_seconds": 30.0}
NOTE = "TODO add a memory alert for the cache nodes; ask ops@example.com [x](http://evil.example)"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        yield fake


def story(bot: SlackBot) -> None:
    """Two alerts, an acknowledgement, a captured note, a resolution with a note."""
    bot.alert(instance="checkout-1:8080")
    bot.alert(instance="checkout-2:8080")
    channel, root = bot.root(1)
    assert bot.ask("ack 1", user_id="U0ALICE") == "Incident #1 acknowledged."
    ts = bot.slack.add_message(channel, NOTE, user="U0BOB", thread_ts=root)
    message = {"type": "message", "user": "U0BOB", "ts": ts, "thread_ts": root, "text": NOTE}
    assert bot.shortcut(SHORTCUT_CALLBACK, message, channel_id=channel).startswith("Added")
    assert bot.ask("resolve 1 rolled back deploy 4411", user_id="U0ALICE").startswith("Incident #1 resolved")


def uploaded(bot: SlackBot) -> tuple[dict[str, Any], str]:
    """The completed upload's arguments and the file's text, once the worker shared it."""
    [complete] = bot.slack.wait_for("files.completeUploadExternal", timeout=30)
    [upload] = bot.slack.calls_to("upload")
    return complete.args, upload.args["_raw"].decode("utf-8")


def get_markdown(bot: SlackBot, token: str | None = API_TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return bot.http.get(f"{bot.url}/api/incidents/1/postmortem.md", headers=headers)


def test_a_template_postmortem_is_posted_to_the_thread_as_a_file_and_served_by_the_api(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, **SETTINGS) as bot:
        story(bot)
        answer = bot.ask("postmortem 1", user_id="U0ALICE")
        args, text = uploaded(bot)
        channel, root = bot.root(1)
        [incident] = bot.rows(Incident)
        served, without, unknown = get_markdown(bot), get_markdown(bot, None), None
        unknown = bot.http.get(
            f"{bot.url}/api/incidents/99/postmortem.md", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )

    assert answer.startswith("Drafting a postmortem (a Markdown file) for incident #1")
    files = json.loads(args["files"]) if isinstance(args["files"], str) else args["files"]
    assert (args["channel_id"], args["thread_ts"]) == (channel, root)  # in the incident's thread
    assert files[0]["title"] == "Incident #1 postmortem (draft)"
    assert (
        "*Postmortem draft* for incident #1 (Template draft), asked for by <@U0ALICE>"
        in args["initial_comment"]
    )
    # The document: labelled a draft, every section, the exact reasons, the note escaped and redacted.
    assert text.startswith("# Postmortem draft: incident #1, ")
    assert "> **DRAFT** (Template draft)" in text
    for heading in ("Summary", "Impact window", "Timeline", "What fired", "Severity and why"):
        assert f"\n## {heading}\n" in text
    assert "\n## People's actions and notes\n" in text and "\n## Follow-ups\n" in text
    assert f"- First alert: {T0:%Y-%m-%d %H:%M} UTC" in text
    assert "**CheckoutHighErrorRate** ×2" in text and "checkout-1:8080, checkout-2:8080" in text
    for reason in incident.reasons:
        assert f"- {reason['text']} ({reason['weight']:+.2f})".replace("_", "\\_") in text
    assert "@U0ALICE: acknowledged" in text and "@U0ALICE: resolved: rolled back deploy 4411" in text
    assert (
        "- [ ] TODO add a memory alert for the cache nodes; ask \\[REDACTED:email\\] \\[x\\](http://evil"
        in text
    )
    assert "ops@example.com" not in text and "[x](" not in text
    # The API: the same document, as Markdown, for the token only.
    assert served.status_code == 200 and served.text == text
    assert served.headers["content-type"].startswith("text/markdown")
    assert served.headers["x-sevbot-draft"] == "stored"
    assert without.status_code == 401
    assert unknown.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_before_anyone_asked_the_api_serves_the_template_made_on_request(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, **SETTINGS) as bot:
        bot.alert()
        bot.root(1)
        served = get_markdown(bot)
        uploads = bot.slack.calls_to("files.getUploadURLExternal")

    assert served.status_code == 200 and served.headers["x-sevbot-draft"] == "on-request"
    assert "> **DRAFT** (Template draft)" in served.text and "It is not resolved yet." in served.text
    assert "- [ ] Root cause: what made CheckoutHighErrorRate fire" in served.text  # the placeholder list
    assert uploads == []  # nothing was posted: only the command drafts and shares


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_llm_postmortem_is_the_models_narrative_with_sevbots_record_appended(
    tmp_path: Path, database_url: str, llm: FakeLLM
) -> None:
    llm.reply = "## Summary\nCheckout failed for a while. <!channel>\n\n## Follow-ups\n- [ ] memory alert"
    with running_slack_bot(
        tmp_path, database_url, **SETTINGS, openai_base_url=llm.base_url, llm_model="test-model"
    ) as bot:
        story(bot)
        before = len(llm.requests)
        bot.ask("postmortem 1", user_id="U0ALICE")
        args, text = uploaded(bot)
        served = get_markdown(bot)
        calls = [c for c in bot.rows(LlmCall) if c.prompt_name == "postmortem"]

    [request] = [r for r in llm.requests[before:] if "blameless postmortem" in r.text]
    _, user = (m["content"] for m in request.messages)
    assert "<<<DATA captured_notes" in user and "TODO add a memory alert" in user
    assert "ops@example.com" not in request.text and "[REDACTED:email]" in user  # redacted before it left
    assert "<<<DATA what_fired" in user and "checkout-2:8080" in user
    assert request.body["max_tokens"] >= 1600
    assert len(calls) == 1 and calls[0].outcome == "ok"
    assert "(AI draft (test-model))" in args["initial_comment"]
    assert "> **DRAFT** (AI draft (test-model))" in text
    assert "## Summary\nCheckout failed for a while. `channel`" in text  # the model's words, defused
    assert "# The record (from sevbot's data, verbatim)" in text and "\n## Severity and why\n" in text
    assert served.text == text
