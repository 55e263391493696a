"""Parse ``/incident`` command text into a :class:`Command`, or a short usage message (pure; no I/O).

A usage message may quote what the person typed; the quote is escaped and cut short, so text such as
``<!channel>`` is shown, never acted on, even when the answer is posted in a channel (a mention).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from analytics.records import IncidentStatus, Severity
from bot.errors import MatcherError, UsageError
from bot.settings import parse_duration
from bot.slack.blocks import cut, esc
from bot.slack.routing import parse_matchers

SEVERITIES = tuple(level.value for level in Severity)
STATUS_WORDS = {
    "open": IncidentStatus.OPEN,
    "acked": IncidentStatus.ACKNOWLEDGED,
    "acknowledged": IncidentStatus.ACKNOWLEDGED,
    "resolved": IncidentStatus.RESOLVED,
}
MAX_SILENCE = timedelta(days=30)

USAGE = {
    "help": "help",
    "list": "list [open|acked|resolved] [service] [SEV1..SEV4]",
    "show": "show ID",
    "why": "why ID",
    "ack": "ack ID",
    "resolve": "resolve ID [note]",
    "sev": "sev ID SEV1..SEV4 [reason]",
    "noise": "noise ID [DURATION] [reason]",
    "summarize": "summarize ID",
    "runbook": "runbook ID",
    "silence": "silence MATCHERS DURATION  |  silence list  |  silence remove SILENCE_ID",
    "stats": "stats [7d] [charts]",
}
VERBS = tuple(USAGE)
_ALIASES = {
    "acknowledge": "ack",
    "severity": "sev",
    "summarise": "summarize",
    "summary": "summarize",
    "?": "help",
}
_ID = re.compile(r"^#?(\d{1,12})$")


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    incident_id: int | None = None
    status: str | None = None
    service: str | None = None
    severity: str | None = None
    text: str | None = None  # a note or reason
    matchers: tuple[dict[str, str], ...] = field(default_factory=tuple)
    duration: timedelta | None = None
    silence_action: str | None = None  # add | list | remove
    silence_id: int | None = None
    since: timedelta | None = None
    charts: bool = False  # stats: also share the report's charts in the channel


def help_text(command: str = "/incident") -> str:
    lines = [f"*{command}* — sevbot's incident commands (in an incident's thread the ID may be left out):"]
    lines += [f"• `{command} {usage}`" for usage in USAGE.values()]
    return "\n".join(lines)


SHOWN_INPUT = 40  # characters of a person's word quoted back in a usage message
SHOWN_PROBLEM = 300


def shown(word: str) -> str:
    """A word the person typed, quoted for an answer: cut short and escaped for mrkdwn."""
    quoted = repr(word if len(word) <= SHOWN_INPUT else word[:SHOWN_INPUT] + "…")
    return esc(quoted)


def usage(verb: str, problem: str, command: str = "/incident") -> UsageError:
    return UsageError(f"{problem}\nUsage: `{command} {USAGE[verb]}`")


def parse(text: str, *, thread_incident: int | None = None, command: str = "/incident") -> Command:
    """Parse the text after the command name. ``thread_incident``: the incident of the thread it came from."""
    words = text.strip().split()
    if not words:
        return Command("help")
    verb = _ALIASES.get(words[0].lower(), words[0].lower())
    rest = words[1:]
    if verb not in USAGE:
        raise UsageError(
            f"Unknown subcommand {shown(words[0])}. Subcommands: {', '.join(VERBS)}. Try `{command} help`."
        )
    if verb == "help":
        return Command("help")
    if verb == "list":
        return _list(rest, command)
    if verb == "silence":
        return _silence(rest, command)
    if verb == "stats":
        return _stats(rest, command)
    incident_id, rest = _incident_id(verb, rest, thread_incident, command)
    if verb in ("show", "why", "ack", "summarize", "runbook"):
        if rest:
            raise usage(verb, f"`{verb}` takes only an incident ID.", command)
        return Command(verb, incident_id=incident_id)
    if verb == "noise" and rest and (duration := _duration_word(rest[0])) is not None:
        if duration <= timedelta(0) or duration > MAX_SILENCE:
            raise usage(verb, "The silence must be more than 0 and at most 30d.", command)
        return Command(verb, incident_id=incident_id, duration=duration, text=" ".join(rest[1:]) or None)
    if verb in ("resolve", "noise"):
        return Command(verb, incident_id=incident_id, text=" ".join(rest) or None)
    # sev ID SEV1..SEV4 [reason]
    if not rest or rest[0].upper() not in SEVERITIES:
        raise usage(verb, "Give the new severity: SEV1, SEV2, SEV3 or SEV4.", command)
    return Command(verb, incident_id=incident_id, severity=rest[0].upper(), text=" ".join(rest[1:]) or None)


def _duration_word(word: str) -> timedelta | None:
    """``2h``, ``30m``, ``1d`` … as a duration; None for any other word (a reason)."""
    try:
        return parse_duration(word) if word[:1].isdigit() else None
    except ValueError:
        return None


def _incident_id(
    verb: str, rest: list[str], thread_incident: int | None, command: str
) -> tuple[int, list[str]]:
    if rest and (match := _ID.match(rest[0])):
        return int(match.group(1)), rest[1:]
    if thread_incident is not None:
        return thread_incident, rest
    problem = f"{shown(rest[0])} is not an incident ID." if rest else "Which incident? Give its ID."
    raise usage(verb, problem, command)


def _list(rest: list[str], command: str) -> Command:
    status = service = severity = None
    for word in rest:
        lowered = word.lower()
        if lowered in STATUS_WORDS and status is None:
            status = STATUS_WORDS[lowered]
        elif word.upper() in SEVERITIES and severity is None:
            severity = word.upper()
        elif service is None and lowered not in STATUS_WORDS and word.upper() not in SEVERITIES:
            service = word
        else:
            raise usage("list", f"{shown(word)} is one filter too many.", command)
    return Command("list", status=status, service=service, severity=severity)


def _silence(rest: list[str], command: str) -> Command:
    if not rest:
        raise usage("silence", "Give matchers and a duration, e.g. `service=checkout 2h`.", command)
    if rest[0].lower() == "list" and len(rest) == 1:
        return Command("silence", silence_action="list")
    if rest[0].lower() in ("remove", "rm", "delete", "expire"):
        if len(rest) != 2 or not _ID.match(rest[1]):
            raise usage("silence", "Give the silence ID to remove (see `silence list`).", command)
        match = _ID.match(rest[1])
        assert match is not None
        return Command("silence", silence_action="remove", silence_id=int(match.group(1)))
    if len(rest) < 2:
        raise usage(
            "silence", "Give at least one matcher and a duration, e.g. `service=checkout 2h`.", command
        )
    try:
        duration = parse_duration(rest[-1])
    except ValueError:
        problem = f"{shown(rest[-1])} is not a duration such as 30m, 2h or 1d."
        raise usage("silence", problem, command) from None
    if duration <= timedelta(0) or duration > MAX_SILENCE:
        raise usage("silence", "The duration must be more than 0 and at most 30d.", command)
    try:
        matchers = tuple(parse_matchers(" ".join(rest[:-1])))
    except MatcherError as exc:  # it quotes the matcher as typed
        raise usage("silence", cut(esc(str(exc)), SHOWN_PROBLEM), command) from None
    return Command("silence", silence_action="add", matchers=matchers, duration=duration)


def _stats(rest: list[str], command: str) -> Command:
    charts = bool(rest) and rest[-1].lower() == "charts"
    if charts:
        rest = rest[:-1]
    if not rest:
        return Command("stats", since=timedelta(days=7), charts=charts)
    if len(rest) > 1:
        raise usage("stats", "`stats` takes one period, e.g. 7d, and optionally `charts`.", command)
    try:
        since = parse_duration(rest[0])
    except ValueError:
        raise usage("stats", f"{shown(rest[0])} is not a period such as 24h, 7d or 30d.", command) from None
    if since <= timedelta(0) or since > timedelta(days=366):
        raise usage("stats", "The period must be more than 0 and at most 366d.", command)
    return Command("stats", since=since, charts=charts)
