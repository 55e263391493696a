"""Captured notes: a message's mrkdwn as plain words, its author and time, and once per message."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from analytics.records import NoteVia, TimelineKind
from bot.bootstrap import Services
from bot.incidents.notes import MAX_NOTE_CHARS, NoteCapture, ThreadMessage, plain_text
from storage.incident_reads import IncidentReads
from storage.models import Incident
from storage.notes import NoteRepository
from tests.support.clock import Clock
from tests.support.payloads import am_alert
from tests.support.slack import fire


def test_control_sequences_become_words_that_ping_nobody() -> None:
    text = (
        "<!channel> <!here> <!subteam^S1|@sre> <@U1> <@U2|bob> <#C1|general> <https://x.test|dash>"
        " <https://y.test> &lt;b&gt; &amp;"
    )

    assert (
        plain_text(text) == "@channel @here @sre @U1 @bob #general dash (https://x.test) https://y.test <b> &"
    )


def test_a_long_message_is_cut_and_a_huge_one_read_only_so_far() -> None:
    assert len(plain_text("word " * 10_000)) == MAX_NOTE_CHARS
    assert plain_text("x" * 5000).endswith("…")


def test_authors_are_people_or_bots_and_the_time_is_the_messages_own() -> None:
    person = ThreadMessage.from_slack("C1", {"user": "U0BOB", "ts": "1700000000.000100", "text": "hi"})
    bot = ThreadMessage.from_slack(
        "C1", {"bot_id": "B1", "username": "grafana", "ts": "1.0", "thread_ts": "0.5"}
    )

    assert (person.author, person.root_ts) == ("U0BOB", "1700000000.000100")
    assert person.at == datetime.fromtimestamp(1700000000.0001, UTC)
    assert (bot.author, bot.root_ts) == ("grafana", "0.5")


def test_the_same_message_is_captured_once_on_every_database(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    with services.db.write() as conn:
        conn.execute(update(Incident).where(Incident.id == 1).values(slack_channel="C1", slack_ts="9.0"))
    capture = NoteCapture(db=services.db, clock=clock)
    message = ThreadMessage("C1", "10.5", "9.0", "restarted <@U2>", "U0BOB", None)

    incident = capture.incident_of(message)
    first = capture.capture(1, message, captured_by="U0ALICE", via=NoteVia.REACTION)
    second = capture.capture(1, message, captured_by="U0CAROL", via=NoteVia.SHORTCUT)
    elsewhere = capture.incident_of(ThreadMessage("C1", "11.0", "8.0", "x", "U0BOB", None))
    with services.db.read() as conn:
        [note] = NoteRepository(conn).of_incident(1)
        kinds = [e.kind for e in IncidentReads(conn).timeline_of(1)]

    assert (incident, first.added, second.added, elsewhere) == (1, True, False, None)
    assert kinds.count(TimelineKind.NOTE_ADDED) == 1
    assert (note.actor, note.text, note.data["captured_by"]) == ("U0BOB", "restarted @U2", "U0ALICE")
