"""What a press of the root message's controls or an @mention asks for (pure; no I/O): the commands
:mod:`bot.slack.bolt`'s listeners run."""

from __future__ import annotations

import re
from typing import Any

from analytics.records import SEVERITIES
from bot.errors import UsageError
from bot.slack.blocks import ACTION_ACK, ACTION_ACK_RELATED, ACTION_RESOLVE, ACTION_SEVERITY, ACTION_WHY
from bot.slack.commands import Command, help_text, parse
from bot.slack.handlers import Reply
from bot.slack.silence_button import ACTION_SILENCE

# "Why was this flagged?" in a mention: "why" and then a word about severity on the same line, a "why"
# that ends the message, or "explain"/"reason". Mention text is anyone's, so this is read in linear time
# (one regex with ``why\b.*\b(…)`` and ``\s*\??\s*$`` took 5 s on 20 KB of "why why why …").
_WHY_WORD = re.compile(r"\bwhy\b", re.IGNORECASE)
_WHY_START = re.compile(r"\bwhy", re.IGNORECASE)
_WHY_TOPIC = re.compile(
    r"\b(flag|flagged|sev|severity|page|paged|alert|this|critical|high|urgent|important|score)", re.IGNORECASE
)
_EXPLAIN = re.compile(r"\b(explain|reason)", re.IGNORECASE)
# A user mention, ``<@U123>`` or ``<@U123|name>``; its label stops at any "<" (Slack escapes one in text
# as ``&lt;``), so a text of unclosed ``<@A|`` is read once, not once per mention (quadratic: 5 s on 40 kB).
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^<>]*)?>")
_SUMMARIZE = re.compile(r"\b(summari[sz]e|summary|tl;?dr|recap)\b", re.IGNORECASE)
_ACTION_VERBS = ("ack", "acknowledge", "resolve", "sev", "severity", "noise", "show", "runbook")


def button_command(action: dict[str, Any], *, thread_incident: int | None = None) -> Command | None:
    """The command a press of the root message's buttons or severity select stands for (pure).

    The incident id is the button's ``value``, or the actions block's ``block_id`` (``incident:ID``),
    else ``thread_incident`` (the incident of the thread or root the control sits in); a select carries
    the chosen level. Anything else (a level that is not one, an id that is not a number) is None:
    nothing is done.
    """
    action_id = action.get("action_id")
    block = str(action.get("block_id") or "")
    raw = action.get("value") or (block.split(":", 1)[1] if block.startswith("incident:") else "")
    if action_id == ACTION_SEVERITY and block.startswith("incident:"):
        raw = block.split(":", 1)[1]
    if not raw and thread_incident is not None:
        raw = str(thread_incident)
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        return None
    incident_id = int(raw)
    if action_id == ACTION_SEVERITY:
        level = (action.get("selected_option") or {}).get("value")
        if level not in SEVERITIES:
            return None
        return Command("sev", incident_id=incident_id, severity=level, text="set from the Slack select")
    if action_id == ACTION_WHY:
        return Command("why", incident_id=incident_id)
    if action_id == ACTION_ACK:
        return Command("ack", incident_id=incident_id)
    if action_id == ACTION_RESOLVE:
        return Command("resolve", incident_id=incident_id)
    if action_id == ACTION_ACK_RELATED:
        return Command("ack_related", incident_id=incident_id)
    if action_id == ACTION_SILENCE:  # for SEVBOT_SILENCE_DURATION
        return Command("silence", silence_action="incident", incident_id=incident_id)
    return None


def asks_why(text: str) -> bool:
    """Whether a mention asks why the incident was flagged (see ``_WHY_TOPIC``; pure, linear time)."""
    if _EXPLAIN.search(text):
        return True
    last = None
    for last in _WHY_START.finditer(text):  # noqa: B007 - the last "why" is the one that may end the text
        pass
    if last is not None and text[last.end() :].strip() in ("", "?"):
        return True
    for line in text.split("\n"):  # the first "why" of a line, then a topic word after it on that line
        why = _WHY_WORD.search(line)
        if why is not None and _WHY_TOPIC.search(line, why.end()):
            return True
    return False


def without_mentions(text: str) -> str:
    """A mention's text without its user mentions (the bot's own first), stripped (pure, linear time)."""
    return _MENTION.sub("", text).strip()


def mention_command(text: str, incident_id: int | None, command_name: str) -> Command | Reply:
    """What an @mention asks for (pure): "why was this flagged?" → why; "summarize" → a draft; a
    subcommand → that command; a usage error or anything else → the answer itself (help)."""
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if incident_id is not None and asks_why(text):
        return Command("why", incident_id=incident_id)
    if incident_id is not None and _SUMMARIZE.search(text):
        return Command("summarize", incident_id=incident_id)
    if first in _ACTION_VERBS or (
        first and first in ("why", "summarize", "list", "stats", "silence", "silences")
    ):
        try:
            return parse(text, thread_incident=incident_id, command=command_name)
        except UsageError as exc:
            return Reply(str(exc))
    where = "" if incident_id is not None else " Mention me in an incident's thread to ask about it."
    return Reply(
        'I can explain why an incident was flagged ("why was this flagged?"), draft a summary'
        f' ("summarize"), or run any {command_name} subcommand.{where}\n' + help_text(command_name)
    )
