"""Thread capture in Slack: the "Add to incident timeline" message shortcut and the 📌 reaction.

Both put a message of an incident's thread (its root included) on the incident's timeline as a note
(:mod:`bot.incidents.notes`), for whoever has the ``respond`` permission. The shortcut always answers the
person (ephemeral): added, already there, not an incident's thread, or why they may not. A 📌 outside an
incident's thread is ignored without a word (people pin for other reasons), and a 📌 of a message already
captured adds nothing and says nothing; one that adds a note, or is refused, tells the person alone.

A reaction event carries no message text, so the message is read with ``conversations.replies`` (the
``channels:history`` / ``groups:history`` scopes); so is a shortcut's message when its payload has no
text (a message of blocks or files only). Slack's retries of an event are dropped before this runs
(:mod:`bot.slack.bolt`), and the note's key (channel, ts) makes any second capture a no-op.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from analytics.records import NoteVia
from bot.incidents.notes import NoteCapture, ThreadMessage, plain_text
from bot.slack.blocks import cut, esc
from bot.slack.commands import Command
from bot.slack.permissions import Gatekeeper, Requester, requester_of

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK = "add_to_timeline"  # the message shortcut's callback_id (docs/slack-app-manifest.yml)
PIN = "pushpin"  # the reaction's name in Slack's events (📌)
SHOWN_CHARS = 120
NOT_IN_THREAD = (
    "That message is not in an incident's thread, so there is no timeline to add it to."
    " Use the shortcut on a message in the thread sevbot started for the incident."
)
UNREADABLE = "sevbot could not read that message from Slack just now; try again in a minute."


class Outcome(enum.StrEnum):
    """How one capture ended (logged as ``outcome`` with the constant message "thread capture")."""

    ADDED = "added"
    DUPLICATE = "duplicate"  # that message is on the timeline already
    OUTSIDE = "outside"  # not a message of an incident's thread
    REFUSED = "refused"  # the person lacks the respond permission
    UNREADABLE = "unreadable"  # Slack did not give the message


def register_capture(app: AsyncApp, *, notes: NoteCapture, gatekeeper: Gatekeeper) -> None:
    """Add the shortcut and the reaction listener to the Bolt app."""

    @app.message_shortcut(SHORTCUT_CALLBACK)
    async def on_shortcut(ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        who = requester_of(body)
        channel = str((body.get("channel") or {}).get("id") or "")
        message = ThreadMessage.from_slack(channel, body.get("message") or {})
        result = await _capture(client, notes, gatekeeper, who, message, via=NoteVia.SHORTCUT)
        await respond(text=result.answer, response_type="ephemeral", replace_original=False)

    @app.event("reaction_added")
    async def on_reaction(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        item = event.get("item") or {}
        if event.get("reaction") != PIN or item.get("type") != "message":
            return
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        channels = await anyio.to_thread.run_sync(notes.incident_channels)
        if not channel or not ts or channel not in channels:
            # No incident was ever posted there: not even worth reading the message.
            log.info("thread capture", extra={"outcome": str(Outcome.OUTSIDE), "via": str(NoteVia.REACTION)})
            return
        who = dataclasses.replace(requester_of(body), channel_id=channel)
        message = ThreadMessage(channel, ts, None, "", None, None)
        result = await _capture(client, notes, gatekeeper, who, message, via=NoteVia.REACTION)
        if result.outcome in (Outcome.ADDED, Outcome.REFUSED):  # a 📌 elsewhere, or again, says nothing
            await _tell(client, who, result.message, result.answer)


async def _capture(
    client: AsyncWebClient,
    notes: NoteCapture,
    gatekeeper: Gatekeeper,
    who: Requester,
    message: ThreadMessage,
    *,
    via: NoteVia,
) -> Result:
    """Capture the message if it may be; how that ended, and the answer for the person."""
    incident_id: int | None = None
    if not message.text.strip() or via is NoteVia.REACTION:  # a reaction never carries the message
        fetched = await _fetch(client, message.channel, message.ts)
        if fetched is None:
            return _logged(Outcome.UNREADABLE, via, None, UNREADABLE, message)
        message = fetched
    incident_id = await anyio.to_thread.run_sync(notes.incident_of, message)
    if incident_id is None:
        return _logged(Outcome.OUTSIDE, via, None, NOT_IN_THREAD, message)
    refusal = await gatekeeper.refusal(who, Command("note", incident_id=incident_id))
    if refusal is not None:
        return _logged(Outcome.REFUSED, via, incident_id, refusal, message)
    found = incident_id
    captured = await anyio.to_thread.run_sync(
        lambda: notes.capture(found, message, captured_by=who.user_id, via=via)
    )
    if not captured.added:
        answer = f"That message is already on incident #{incident_id}'s timeline."
        return _logged(Outcome.DUPLICATE, via, incident_id, answer, message)
    shown = esc(cut(plain_text(message.text), SHOWN_CHARS))
    answer = f"Added to incident #{incident_id}'s timeline: “{shown}”"
    return _logged(Outcome.ADDED, via, incident_id, answer, message)


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    answer: str  # for the person (ephemeral)
    message: ThreadMessage  # as Slack gave it (read again when the request did not carry it)


def _logged(
    outcome: Outcome, via: NoteVia, incident_id: int | None, answer: str, message: ThreadMessage
) -> Result:
    log.info("thread capture", extra={"outcome": str(outcome), "via": str(via), "incident_id": incident_id})
    return Result(outcome, answer, message)


async def _fetch(client: AsyncWebClient, channel: str, ts: str) -> ThreadMessage | None:
    """The message at ``ts`` (a thread's root or a reply), as Slack has it now."""
    try:
        response = await client.conversations_replies(
            channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=2
        )
    except SlackApiError as exc:
        log.warning("slack message look-up failed", extra={"error": exc.response.get("error")})
        return None
    found: list[Mapping[str, Any]] = [m for m in response.get("messages") or [] if m.get("ts") == ts]
    return ThreadMessage.from_slack(channel, found[0]) if found else None


async def _tell(client: AsyncWebClient, who: Requester, message: ThreadMessage, text: str) -> None:
    if not who.user_id or not who.channel_id:
        return
    try:
        await client.chat_postEphemeral(
            channel=who.channel_id, user=who.user_id, text=text, thread_ts=message.root_ts
        )
    except SlackApiError as exc:
        log.warning("slack answer failed", extra={"error": exc.response.get("error")})
