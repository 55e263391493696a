"""Parse ``/incident`` command text into a :class:`Command`, or a short usage message (pure; no I/O).

A usage message may quote what the person typed; the quote is escaped and cut short, so text such as
``<!channel>`` is shown, never acted on, even when the answer is posted in a channel (a mention).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from analytics.records import IncidentStatus, Severity
from analytics.scoring import map_severity
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
    "list": "list [open|acked|resolved] [service] [SEV1..SEV4 | critical | high | warning | info]",
    "show": "show ID",
    "why": "why ID",
    "ack": "ack ID",
    "resolve": "resolve ID [note]",
    "sev": "sev ID SEV1..SEV4 (or critical, high, warning, info, P1…) [reason]",
    "noise": "noise ID [DURATION] [reason]",
    "summarize": "summarize ID",
    "runbook": "runbook ID",
    "postmortem": "postmortem ID",
    "silence": "silence ID [DURATION [comment]]  |  silence MATCHERS DURATION  |  silence remove SILENCE_ID",
    "silences": "silences",
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
_ID = re.compile(r"^#?([0-9]{1,12})$")  # ASCII digits: "１" (fullwidth) is not incident 1
_REMOTE_ID = re.compile(r"^[0-9A-Fa-f][0-9A-Fa-f-]{7,63}$")  # Alertmanager's silence ids are UUIDs


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
    silence_action: str | None = None  # add (matchers) | incident | list | remove
    silence_id: int | None = None  # sevbot's number of a silence
    silence_ref: str | None = None  # or the id Alertmanager (or Grafana) gave a silence sevbot made
    since: timedelta | None = None
    charts: bool = False  # stats: also share the report's charts in the channel


# Slack sends a slash command with its channel but never the thread it was typed in, so a command cannot
# know its incident; a button (the root's) and an @mention in the thread can.
NEEDS_ID = (
    "Which incident? Slash commands need the incident's ID (`{command} {verb} 12`): Slack does not tell"
    " sevbot which thread a command was typed in. In the incident's thread, mention me instead"
    " (`@sevbot {verb}`) or use the root message's buttons."
)


def help_text(command: str = "/incident") -> str:
    lines = [
        f"*{command}* — sevbot's incident commands. Slash commands need the incident's ID; in an"
        f" incident's thread, `@sevbot ack` (any subcommand, without the ID) works instead.",
        "Severity may be written SEV1..SEV4 or as the sources write it: critical/page/P1 → SEV1,"
        " high/error/P2 → SEV2, warning/P3 → SEV3, info/low/P4 → SEV4.",
    ]
    lines += [f"• `{command} {usage}`" for usage in USAGE.values()]
    return "\n".join(lines)


def parse_level(word: str) -> Severity | None:
    """A severity as people write it: ``SEV2``, ``sev-2``, or a source's word (``high``, ``P1``)."""
    return map_severity(word)


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
        return _silence(rest, command, thread_incident)
    if verb == "silences":
        if rest:
            raise usage(verb, "`silences` takes nothing more.", command)
        return Command("silence", silence_action="list")
    if verb == "stats":
        return _stats(rest, command)
    incident_id, rest = _incident_id(verb, rest, thread_incident, command)
    if verb in ("show", "why", "ack", "summarize", "runbook", "postmortem"):
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
    level = parse_level(rest[0]) if rest else None
    if level is None:
        problem = "Give the new severity: SEV1, SEV2, SEV3 or SEV4 (or critical, high, warning, info)."
        if rest:
            problem = f"{shown(rest[0])} is not a severity. " + problem
        raise usage(verb, problem, command)
    return Command(verb, incident_id=incident_id, severity=level.value, text=" ".join(rest[1:]) or None)


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
    if rest:
        raise usage(verb, f"{shown(rest[0])} is not an incident ID.", command)
    raise usage(verb, NEEDS_ID.format(command=command, verb=verb), command)


def _list(rest: list[str], command: str) -> Command:
    status = service = severity = None
    for word in rest:
        lowered = word.lower()
        if lowered in STATUS_WORDS and status is None:
            status = STATUS_WORDS[lowered]
        elif (level := parse_level(word)) is not None and severity is None:
            severity = level.value
        elif service is None and lowered not in STATUS_WORDS and parse_level(word) is None:
            service = word
        else:
            raise usage("list", f"{shown(word)} is one filter too many.", command)
    return Command("list", status=status, service=service, severity=severity)


def _silence(rest: list[str], command: str, thread_incident: int | None) -> Command:
    """``silence ID [DURATION [comment]]`` (in a thread: ``silence [DURATION [comment]]``) silences an
    incident; ``silence MATCHERS DURATION`` adds a sevbot-local silence; ``list``; ``remove``."""
    if not rest:
        if thread_incident is not None:
            return Command("silence", silence_action="incident", incident_id=thread_incident)
        raise usage("silence", "Give an incident ID, or matchers and a duration, e.g. `42 2h`.", command)
    if rest[0].lower() == "list" and len(rest) == 1:
        return Command("silence", silence_action="list")
    if rest[0].lower() in ("remove", "rm", "delete", "expire"):
        if len(rest) == 2 and (match := _ID.match(rest[1])):
            return Command("silence", silence_action="remove", silence_id=int(match.group(1)))
        if len(rest) == 2 and _REMOTE_ID.match(rest[1]):
            return Command("silence", silence_action="remove", silence_ref=rest[1].lower())
        raise usage("silence", "Give the silence ID to remove (see `silences`).", command)
    if match := _ID.match(rest[0]):
        return _incident_silence(int(match.group(1)), rest[1:], command)
    if thread_incident is not None and _is_duration(rest[0]):
        return _incident_silence(thread_incident, rest, command)
    if len(rest) < 2:
        raise usage(
            "silence", "Give at least one matcher and a duration, e.g. `service=checkout 2h`.", command
        )
    duration = _silence_duration(rest[-1], command)
    try:
        matchers = tuple(parse_matchers(" ".join(rest[:-1])))
    except MatcherError as exc:  # it quotes the matcher as typed
        raise usage("silence", cut(esc(str(exc)), SHOWN_PROBLEM), command) from None
    return Command("silence", silence_action="add", matchers=matchers, duration=duration)


def _incident_silence(incident_id: int, rest: list[str], command: str) -> Command:
    duration = _silence_duration(rest[0], command) if rest else None
    return Command(
        "silence",
        silence_action="incident",
        incident_id=incident_id,
        duration=duration,
        text=" ".join(rest[1:]) or None,
    )


def _is_duration(word: str) -> bool:
    try:
        parse_duration(word)
    except ValueError:
        return False
    return True


def _silence_duration(word: str, command: str) -> timedelta:
    try:
        duration = parse_duration(word)
    except ValueError:
        problem = f"{shown(word)} is not a duration such as 30m, 2h or 1d."
        raise usage("silence", problem, command) from None
    if duration <= timedelta(0) or duration > MAX_SILENCE:
        raise usage("silence", "The duration must be more than 0 and at most 30d.", command)
    return duration


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
