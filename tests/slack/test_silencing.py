"""Silences from Slack over real signed requests: the command, the root message's button, ``silences`` and
``silence remove``, with Alertmanager's silence API as a stand-in over real HTTP (and switched off, and down).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.slack.blocks import ACTION_SILENCE
from storage.models import Silence, TimelineEvent
from tests.support.fake_alertmanager import FakeAlertmanager
from tests.support.fake_slack import button
from tests.support.processes import free_port
from tests.support.slack_app import SlackBot, running_slack_bot

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ADMIN = "U0ADMIN"  # manage (by default: workspace admins)
MEMBER = "U0BOB"
PEOPLE = {ADMIN: {"is_admin": True}}


@pytest.fixture
def am() -> Iterator[FakeAlertmanager]:
    with FakeAlertmanager().running() as fake:
        yield fake


def pressed(bot: SlackBot, user: str) -> str:
    """Press the Silence button of incident 1's root message; the ephemeral answer in its thread."""
    _, ts = bot.root()
    before = len(bot.ephemerals(user))
    response = bot.click(button(ACTION_SILENCE, "1", block_id="incident:1"), user_id=user, message_ts=ts)
    assert response.status_code == 200
    [call] = bot.slack.wait_for(
        "chat.postEphemeral", where=lambda c: c.args.get("user") == user, count=before + 1
    )[before:]
    assert call.args.get("thread_ts") == ts
    return str(call.args["text"])


def span(silence: dict[str, str]) -> timedelta:
    return datetime.fromisoformat(silence["endsAt"]) - datetime.fromisoformat(silence["startsAt"])


@SQLITE
def test_the_command_silences_the_incident_in_alertmanager_with_the_person_and_the_comment(
    tmp_path: Path, database_url: str, am: FakeAlertmanager
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE, alertmanager_url=am.url) as bot:
        bot.alert()
        bot.root()

        answer = bot.ask("silence 1 90m deploying the fix", user_id=ADMIN)

        [silence] = am.active()
        assert answer.startswith("Incident #1 silenced in Alertmanager until <!date^")
        assert f"`{silence['id']}`" in answer and "silence remove 1" in answer
        assert silence["createdBy"] == f"User {ADMIN} (Slack {ADMIN})"
        assert silence["comment"].startswith("deploying the fix (sevbot incident #1: ")
        assert span(silence) == timedelta(minutes=90)
        assert {"name": "alertname", "value": "CheckoutHighErrorRate", "isRegex": False, "isEqual": True} in (
            silence["matchers"]
        )
        [row] = bot.rows(Silence)
        assert (row.target, row.remote_id, row.incident_id) == ("alertmanager", silence["id"], 1)

        listed = bot.ask("silences", user_id=MEMBER)  # listing only reads
        assert "*1* Alertmanager `alertname=CheckoutHighErrorRate" in listed and "incident #1" in listed
        assert silence["id"] in listed

        removed = bot.ask("silence remove 1", user_id=ADMIN)
        assert (
            removed == f"Silence 1 removed: Alertmanager expired `{silence['id']}`; its alerts notify again."
        )
        assert am.active() == []
        assert bot.ask("silences", user_id=ADMIN) == "No active silences."
        kinds = [e.kind for e in bot.rows(TimelineEvent)]
        assert "silence.added" in kinds and "silence.removed" in kinds


@SQLITE
def test_the_button_silences_for_the_default_duration_and_needs_manage(
    tmp_path: Path, database_url: str, am: FakeAlertmanager
) -> None:
    with running_slack_bot(
        tmp_path, database_url, users=PEOPLE, alertmanager_url=am.url, silence_duration="45m"
    ) as bot:
        bot.alert()

        refused = pressed(bot, MEMBER)
        assert "needs the *manage* permission" in refused and am.requests == []
        assert "needs the *manage* permission" in bot.ask("silence 1 1h", user_id=MEMBER)
        assert am.requests == [] and bot.rows(Silence) == []

        answer = pressed(bot, ADMIN)
        [silence] = am.active()
        assert answer.startswith("Incident #1 silenced in Alertmanager") and span(silence) == timedelta(
            minutes=45
        )


@SQLITE
def test_in_the_thread_the_incident_is_implied(
    tmp_path: Path, database_url: str, am: FakeAlertmanager
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE, alertmanager_url=am.url) as bot:
        bot.alert()
        channel, ts = bot.root()
        answer = bot.ask("silence 30m", user_id=ADMIN, channel_id=channel, thread_ts=ts)
        assert answer.startswith("Incident #1 silenced in Alertmanager")
        assert span(am.active()[0]) == timedelta(minutes=30)


@SQLITE
def test_alertmanager_down_is_a_clear_answer_and_nothing_is_recorded(
    tmp_path: Path, database_url: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with running_slack_bot(tmp_path, database_url, users=PEOPLE, alertmanager_url=down) as bot:
        bot.alert()
        bot.root()

        answer = bot.ask("silence 1 1h", user_id=ADMIN)
        pressed_answer = pressed(bot, ADMIN)

        for text in (answer, pressed_answer):
            assert text.startswith(f"Could not silence incident #1 in Alertmanager: cannot reach {down}")
            assert "Nothing was silenced" in text
        assert bot.rows(Silence) == []
        assert "silence.added" not in [e.kind for e in bot.rows(TimelineEvent)]
        assert bot.ask("silences", user_id=ADMIN) == "No active silences."


@SQLITE
def test_without_alertmanager_the_button_gives_a_sevbot_silence_and_says_so(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE) as bot:
        bot.alert()
        answer = pressed(bot, ADMIN)
        assert answer.startswith("Silence 1 created: no Slack posts for incident #1's alerts")
        assert "set SEVBOT_ALERTMANAGER_URL" in answer
        [row] = bot.rows(Silence)
        assert (row.target, row.remote_id, row.incident_id) == ("sevbot", None, 1)
        assert "*1* sevbot (Slack posts only)" in bot.ask("silences", user_id=ADMIN)
        assert bot.ask("silence remove 1", user_id=ADMIN) == "Silence 1 removed."


@SQLITE
def test_an_incident_the_person_may_not_see_or_that_does_not_exist(
    tmp_path: Path, database_url: str, am: FakeAlertmanager
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE, alertmanager_url=am.url) as bot:
        assert bot.ask("silence 7 1h", user_id=ADMIN) == "There is no incident #7."
        assert bot.ask("silence remove 3", user_id=ADMIN) == "There is no silence 3."
        unknown = bot.ask("silence remove 0f0f0f0f-1111-4000-8000-000000000000", user_id=ADMIN)
        assert unknown.startswith("sevbot made no silence `0f0f0f0f-1111")
        assert am.requests == []
