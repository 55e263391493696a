"""Thread capture: a Slack message people chose (shortcut or 📌) becomes a note on the incident's timeline.

The Slack side (:mod:`bot.slack.capture`) finds the message and checks who asks; this module turns the
message into a note and writes it. A message's text arrives in Slack's mrkdwn: ``&lt;`` for ``<`` and
control sequences such as ``<@U1>``, ``<!channel>`` or ``<https://x|label>``. The note keeps it as plain
words (``@U1``, ``@channel``, ``label (https://x)``), cut to ``MAX_NOTE_CHARS``, so a stored note can never
ping anyone or mask a link, wherever it is shown later; each place that shows it escapes it again
(Slack: :func:`bot.slack.blocks.esc`, Markdown: :func:`bot.llm.postmortem.md`).

The same message (channel and ``ts``) is captured once, whoever pins it and however often Slack retries.
Messages of bots, sevbot's own included, may be captured too: a draft or an update people agree with is
part of the story. Their author is the bot's user id when Slack gives one, else its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics.records import NoteData, NoteVia
from storage.db import Database
from storage.incident_reads import IncidentReads
from storage.notes import NoteRepository

MAX_NOTE_CHARS = 1500  # Slack allows 40,000; a timeline note is a paragraph, not a document
MAX_INPUT_CHARS = 20_000  # what is read of a message at all (linear-time regexes on bounded input)
_CONTROL = re.compile(r"<([!@#]?)([^<>|\n]{0,500})(?:\|([^<>\n]{0,500}))?>")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A Slack message as the shortcut payload or ``conversations.replies`` gives it (the fields used)."""

    channel: str
    ts: str
    thread_ts: str | None
    text: str
    user: str | None  # the author's user id (bots posting with a bot token have one too)
    bot_name: str | None  # a bot's name, when it has no user id

    @classmethod
    def from_slack(cls, channel: str, message: Mapping[str, Any]) -> ThreadMessage:
        profile = message.get("bot_profile") or {}
        bot_name = message.get("username") or profile.get("name") or message.get("bot_id")
        return cls(
            channel=channel,
            ts=str(message.get("ts") or ""),
            thread_ts=str(message["thread_ts"]) if message.get("thread_ts") else None,
            text=str(message.get("text") or ""),
            user=str(message["user"]) if message.get("user") else None,
            bot_name=str(bot_name) if bot_name else None,
        )

    @property
    def root_ts(self) -> str:
        """The ts of the thread's first message (the incident's root message for an incident thread)."""
        return self.thread_ts or self.ts

    @property
    def author(self) -> str:
        if self.user and _USER_ID.match(self.user):
            return self.user
        return self.bot_name or self.user or "unknown"

    @property
    def at(self) -> datetime:
        """When it was posted: a Slack ``ts`` is seconds since the epoch."""
        try:
            return datetime.fromtimestamp(float(self.ts), UTC)
        except (ValueError, OverflowError, OSError):
            return datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class Captured:
    incident_id: int
    added: bool  # False: this message was on the timeline already


def plain_text(mrkdwn: str) -> str:
    """A message's mrkdwn as plain words (pure): control sequences spelled out, entities decoded, cut."""

    def spelled(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "!":  # <!here>, <!channel>, <!subteam^S1|@ops>, <!date^…|fallback>
            if label:
                return label if label.startswith("@") or target.startswith("date") else f"@{label}"
            return f"@{target.split('^')[0]}"
        if sigil in ("@", "#"):
            return f"{sigil}{(label or target).lstrip(sigil)}"
        return f"{label} ({target})" if label and label != target else target

    text = _CONTROL.sub(spelled, mrkdwn[:MAX_INPUT_CHARS])
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
    return text if len(text) <= MAX_NOTE_CHARS else text[: MAX_NOTE_CHARS - 1].rstrip() + "…"


class NoteCapture:
    """Finds the incident of a thread and writes its notes (synchronous: run it in a worker thread)."""

    def __init__(self, *, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    def incident_channels(self) -> set[str]:
        """The channels incidents were posted to: a 📌 anywhere else is not looked at."""
        with self.db.read() as conn:
            return set(IncidentReads(conn).channels())

    def incident_of(self, message: ThreadMessage) -> int | None:
        """The incident whose thread holds this message (its root message counts), if any."""
        with self.db.read() as conn:
            return IncidentReads(conn).by_thread(message.channel, message.root_ts)

    def capture(
        self, incident_id: int, message: ThreadMessage, *, captured_by: str, via: NoteVia
    ) -> Captured:
        note: NoteData = {
            "note": plain_text(message.text) or "(a message without text)",
            "author": message.author,
            "channel": message.channel,
            "ts": message.ts,
            "via": via,
            "captured_by": captured_by,
        }
        actor = message.author if _USER_ID.match(message.author) else None
        now = self.clock()
        with self.db.write() as conn:
            added = NoteRepository(conn).add(incident_id, at=message.at, actor=actor, data=note, now=now)
        return Captured(incident_id=incident_id, added=added)
