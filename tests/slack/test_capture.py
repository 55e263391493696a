"""Thread capture over real HTTP: the "Add to incident timeline" shortcut and the 📌 reaction, signed as
Slack signs them, against the fake Slack; what lands on the timeline, once, and what people are told."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analytics.records import TimelineKind
from bot.slack.capture import NOT_IN_THREAD, SHORTCUT_CALLBACK
from storage.models import TimelineEvent, TimelineNote
from tests.support.fake_slack import BOT_USER_ID, reaction_added
from tests.support.processes import wait_until
from tests.support.slack_app import SlackBot, running_slack_bot

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
HOSTILE = "Rolled back deploy 4411 <!channel> see <https://evil.example|the dashboard> &lt;b&gt;"


def notes(bot: SlackBot) -> list[Any]:
    return [e for e in bot.rows(TimelineEvent) if e.kind == TimelineKind.NOTE_ADDED]


def waiter(caplog: pytest.LogCaptureFixture) -> Callable[[str, int], None]:
    """Wait until ``count`` captures ended with ``outcome`` (each capture logs how it ended)."""
    caplog.set_level(logging.INFO, logger="bot.slack.capture")

    def wait(outcome: str, count: int = 1) -> None:
        def seen() -> bool:
            found = [r for r in caplog.records if getattr(r, "outcome", None) == outcome]
            return len(found) >= count

        wait_until(seen, what=f"{count} capture(s) ending {outcome}", interval=0.02, timeout=15)

    return wait


def reply_in_thread(bot: SlackBot, text: str, *, user: str = "U0BOB") -> tuple[str, str, str]:
    """A person's reply in incident #1's thread: (channel, root ts, reply ts)."""
    channel, root = bot.root(1)
    return channel, root, bot.slack.add_message(channel, text, user=user, thread_ts=root)


def test_the_shortcut_adds_a_reply_to_the_timeline_once_as_plain_text(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url) as bot:
        bot.alert()
        channel, root, ts = reply_in_thread(bot, HOSTILE)
        message = {"type": "message", "user": "U0BOB", "ts": ts, "thread_ts": root, "text": HOSTILE}

        first = bot.shortcut(SHORTCUT_CALLBACK, message, user_id="U0ALICE", channel_id=channel)
        again = bot.shortcut(SHORTCUT_CALLBACK, message, user_id="U0CAROL", channel_id=channel)
        [note] = notes(bot)
        [key] = bot.rows(TimelineNote)
        shown = bot.ask("show 1")
        api = bot.http.get(f"{bot.url}/api/incidents/1").json()

    assert first.startswith("Added to incident #1's timeline: “Rolled back deploy 4411 @channel")
    assert "<!channel>" not in first and "&lt;b&gt;" in first  # escaped for Slack again
    assert again == "That message is already on incident #1's timeline."
    assert note.actor == "U0BOB"  # the author, whose words they are
    assert note.data == {
        "note": "Rolled back deploy 4411 @channel see the dashboard (https://evil.example) <b>",
        "author": "U0BOB",
        "channel": channel,
        "ts": ts,
        "via": "shortcut",
        "captured_by": "U0ALICE",
    }
    assert note.at.timestamp() == pytest.approx(float(ts))  # the message's own time
    assert (key.channel, key.message_ts, key.incident_id) == (channel, ts, 1)
    assert "note.added by <@U0BOB>: Rolled back deploy 4411 @channel" in shown
    assert "<!channel>" not in shown and "&lt;b&gt;" in shown
    assert [e["data"]["note"] for e in api["timeline"] if e["kind"] == "note.added"] == [note.data["note"]]


@SQLITE
def test_a_shortcut_without_text_reads_the_message_and_sevbots_own_messages_can_be_captured(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url) as bot:
        bot.alert()
        channel, root = bot.root(1)
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": "B0SEVBOT", "ts": root, "text": ""}

        answer = bot.shortcut(SHORTCUT_CALLBACK, message, channel_id=channel)
        [note] = notes(bot)
        [read] = bot.slack.calls_to("conversations.replies")

    assert answer.startswith("Added to incident #1's timeline:")
    assert read.args["ts"] == root
    assert note.data["author"] == BOT_USER_ID and note.data["note"] == bot.slack.message(channel, root).text  # type: ignore[union-attr]


@SQLITE
def test_the_shortcut_outside_an_incident_thread_says_so_and_adds_nothing(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url) as bot:
        bot.alert()
        channel, _ = bot.root(1)
        elsewhere = bot.slack.add_message(channel, "lunch?", user="U0BOB")  # in the channel, no thread
        message = {"type": "message", "user": "U0BOB", "ts": elsewhere, "text": "lunch?"}

        answer = bot.shortcut(SHORTCUT_CALLBACK, message, channel_id=channel)
        captured = notes(bot)

    assert answer == NOT_IN_THREAD
    assert captured == []


@SQLITE
def test_a_pin_adds_the_message_once_whatever_slack_retries_or_whoever_pins_it_again(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wait = waiter(caplog)
    with running_slack_bot(tmp_path, database_url) as bot:
        bot.alert()
        channel, root, ts = reply_in_thread(bot, "cache node ran out of memory; TODO add a memory alert")

        pin = reaction_added("pushpin", channel=channel, ts=ts, user="U0ALICE")
        assert bot.event(pin, event_id="EvPIN1").status_code == 200
        wait("added")
        assert bot.event(pin, event_id="EvPIN1", retry_num=1).status_code == 200  # Slack's retry
        again = reaction_added("pushpin", channel=channel, ts=ts, user="U0CAROL")
        assert bot.event(again, event_id="EvPIN2").status_code == 200
        wait("duplicate")
        [note] = notes(bot)
        reads = bot.slack.calls_to("conversations.replies")
        told = bot.ephemerals("U0ALICE") + bot.ephemerals("U0CAROL")

    assert note.data["note"] == "cache node ran out of memory; TODO add a memory alert"
    assert (note.actor, note.data["via"], note.data["captured_by"]) == ("U0BOB", "reaction", "U0ALICE")
    assert len(reads) == 2  # the retry was dropped before it read anything; the second pin read once
    assert told == [
        "Added to incident #1's timeline: “cache node ran out of memory; TODO add a memory alert”"
    ]
    [tell] = bot.slack.calls_to("chat.postEphemeral")
    assert tell.args["thread_ts"] == root


@SQLITE
def test_other_reactions_and_pins_outside_incident_threads_are_ignored(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wait = waiter(caplog)
    with running_slack_bot(tmp_path, database_url) as bot:
        bot.alert()
        channel, _, ts = reply_in_thread(bot, "looking")
        loose = bot.slack.add_message(channel, "unrelated", user="U0BOB")
        other = bot.slack.add_message("general", "pinned for the team", user="U0BOB")

        bot.event(reaction_added("eyes", channel=channel, ts=ts), event_id="EvEYES")
        bot.event(reaction_added("pushpin", channel=channel, ts=loose), event_id="EvLOOSE")
        bot.event(
            reaction_added("pushpin", channel=bot.slack.channel_id("general"), ts=other), event_id="EvGEN"
        )
        wait("outside", 2)
        bot.event(reaction_added("pushpin", channel=channel, ts=ts), event_id="EvREAL")
        wait("added")
        [note] = notes(bot)
        reads = [c.args["ts"] for c in bot.slack.calls_to("conversations.replies")]

    assert note.data["note"] == "looking"
    assert sorted(reads) == sorted([loose, ts])  # the channel without incidents was not even read


@SQLITE
def test_a_pin_by_someone_without_the_respond_permission_is_refused_and_adds_nothing(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wait = waiter(caplog)
    config = "slack:\n  permissions:\n    read: {everyone: true}\n    respond: {users: [U0CAROL]}\n"
    with running_slack_bot(tmp_path, database_url, config=config) as bot:
        bot.alert()
        channel, _, ts = reply_in_thread(bot, "restarting the pods")

        bot.event(reaction_added("pushpin", channel=channel, ts=ts, user="U0ALICE"), event_id="EvNO")
        wait("refused")
        refused = notes(bot)
        [told] = wait_until(lambda: bot.ephemerals("U0ALICE"), what="the refusal", interval=0.02)
        message = {"type": "message", "user": "U0BOB", "ts": ts, "thread_ts": bot.root(1)[1], "text": "x"}
        allowed = bot.shortcut(SHORTCUT_CALLBACK, message, user_id="U0CAROL", channel_id=channel)

    assert refused == []
    assert "needs the *respond* permission" in told
    assert allowed.startswith("Added to incident #1's timeline")
