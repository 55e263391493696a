"""Which Slack channel an incident goes to, and whether it is silenced (pure; no I/O)."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import re2

from bot import linear_re
from bot.errors import MatcherError
from bot.settings import ServiceConfig, SlackConfig, SlackRoute
from bot.slack.blocks import esc


def incident_facts(
    *,
    labels: Mapping[str, Any],
    service: str | None,
    alertname: str,
    severity: str,
    catalog: Mapping[str, ServiceConfig],
) -> dict[str, str]:
    """What routes and silences match on: the labels, plus service, alertname, severity and team."""
    facts = {str(k): str(v) for k, v in labels.items()}
    if service:
        facts["service"] = service
    facts["alertname"] = alertname
    facts["severity"] = severity
    entry = catalog.get(service or "")
    if entry is not None and entry.team and "team" not in facts:
        facts["team"] = entry.team
    return facts


@dataclass(frozen=True, slots=True)
class ChannelRouter:
    """The first route whose matchers all match wins; else the configured default channel."""

    config: SlackConfig
    default_channel: str

    def channel_for(self, facts: Mapping[str, str]) -> str:
        route = self._route_for(facts)
        return route.channel if route is not None else self.config.default_channel or self.default_channel

    def _route_for(self, facts: Mapping[str, str]) -> SlackRoute | None:
        for route in self.config.routes:
            if all(facts.get(key) in values for key, values in route.match.items()):
                return route
        return None

    def owner_mention(self, facts: Mapping[str, str], catalog: Mapping[str, ServiceConfig]) -> str | None:
        """Whom to mention when an incident escalates or waits unacknowledged: the catalog's ``owner`` of
        its service, else the matching route's ``mention``, else nobody (the global SEV1 mention is the
        sink's own, for SEV1 root posts only)."""
        entry = catalog.get(facts.get("service", ""))
        if entry is not None and entry.owner:
            return entry.owner
        route = self._route_for(facts)
        return route.mention if route is not None else None

    def owner_text(self, facts: Mapping[str, str], catalog: Mapping[str, ServiceConfig]) -> str | None:
        """The owner as shown (mrkdwn): :meth:`owner_mention`, else the catalog's team for the service."""
        mention = self.owner_mention(facts, catalog)
        if mention:
            return mention if mention.startswith("<") else esc(mention)
        entry = catalog.get(facts.get("service", ""))
        return f"team {esc(entry.team)}" if entry is not None and entry.team else None


# --- silences ---------------------------------------------------------------------------------
# Alertmanager's matcher syntax and semantics: ``name=value``, ``name!=value``, ``name=~regex``,
# ``name!~regex``; a value may be double-quoted (``"a b"``, with ``\"``, ``\\`` and ``\n`` escapes); several
# matchers may be written ``{a="b", c=~"d.*"}``. Regular expressions are RE2's (as Go's, so Alertmanager's),
# anchored at both ends, and run by RE2, which takes time linear in the text whatever the pattern: a
# silence cannot freeze sevbot. Python's ``re`` tried ``(.|.)*X`` on a 46-character name for 10 minutes.

OPERATORS = ("=~", "!~", "!=", "=")
MAX_MATCHER_VALUE = 256  # characters of a matcher's value or regular expression
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}
_UNQUOTED_END = frozenset(' \t\n,"')

log = logging.getLogger(__name__)


def parse_matcher(text: str) -> dict[str, str]:
    """One matcher: ``service=checkout``, ``alertname!=Watchdog``, ``instance=~"db-.*"``."""
    found = parse_matchers(text)
    if len(found) != 1:
        raise MatcherError(f"{text!r} is not one matcher like service=checkout or alertname=~Disk.*")
    return found[0]


def parse_matchers(text: str) -> list[dict[str, str]]:
    """Matchers separated by spaces or commas, optionally in braces: ``{service="checkout", env=~"prod|eu"}``.

    Raises ``MatcherError`` naming what is wrong (an unknown operator, a bad escape, a value longer than
    ``MAX_MATCHER_VALUE``, a regular expression RE2 does not accept).
    """
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    matchers: list[dict[str, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\n,":
            pos += 1
        if pos >= len(text):
            break
        matcher, pos = _one_matcher(text, pos)
        matchers.append(matcher)
    if not matchers:
        raise MatcherError("give at least one matcher like service=checkout or alertname=~Disk.*")
    return matchers


def _one_matcher(text: str, pos: int) -> tuple[dict[str, str], int]:
    name = _NAME.match(text, pos)
    op = next((o for o in OPERATORS if text.startswith(o, name.end())), None) if name else None
    if name is None or op is None:
        word = text[pos:].split(maxsplit=1)[0][:60]
        raise MatcherError(
            f"{word!r} is not a matcher like service=checkout or alertname=~Disk.*"
            " (a label name, then =, !=, =~ or !~, then a value)"
        )
    pos = name.end() + len(op)
    if pos < len(text) and text[pos] in "\"'":
        value, pos = _quoted(text, pos)
    else:
        start = pos
        while pos < len(text) and text[pos] not in _UNQUOTED_END:
            pos += 1
        value = text[start:pos]
    shown = f"{name.group()}{op}{value[:40]}"
    if not value:
        raise MatcherError(f"{shown!r} has an empty value")
    if len(value) > MAX_MATCHER_VALUE:
        raise MatcherError(f"{shown!r}…: a value may have at most {MAX_MATCHER_VALUE} characters")
    if op in ("=~", "!~"):
        problem = regex_problem(value)
        if problem:
            raise MatcherError(f"{shown!r}: not a valid regular expression for RE2 ({problem})")
    if name.group() == "severity" and op in ("=", "!="):
        value = value.upper()
    return {"name": name.group(), "op": op, "value": value}, pos


def _quoted(text: str, pos: int) -> tuple[str, int]:
    quote, pos = text[pos], pos + 1
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(chars), pos + 1
        if char == "\\" and quote == '"':
            escaped = _ESCAPES.get(text[pos + 1 : pos + 2])
            if escaped is None:
                raise MatcherError(f'{text[pos : pos + 2]!r} is not an escape (use \\", \\\\ or \\n)')
            chars.append(escaped)
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise MatcherError(f"the quoted value {text[:60]!r} does not close")


regex_problem = linear_re.problem


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    return linear_re.compile_linear(pattern)


def matcher_text(matcher: Mapping[str, str]) -> str:
    value = matcher["value"]
    if not value or any(c in _UNQUOTED_END for c in value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return f"{matcher['name']}{matcher['op']}{value}"


def matches(matchers: Sequence[Mapping[str, str]], facts: Mapping[str, str]) -> bool:
    """Every matcher holds (an absent label counts as the empty string, as in Alertmanager).

    Matchers come from the database too, stored before these rules existed: a regular expression that
    RE2 refuses, or a value over the length limit, matches nothing (the silence does not hide anything).
    """
    for m in matchers:
        actual = facts.get(m["name"], "")
        op, value = m["op"], m["value"]
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
        if op in ("=~", "!~"):
            if len(value) > MAX_MATCHER_VALUE or regex_problem(value):
                log.warning("silence matcher ignored: RE2 does not accept it", extra={"matcher": value[:80]})
                return False
            if (_compiled(value).fullmatch(actual) is not None) != (op == "=~"):
                return False
    return True


def config_matchers(match: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """A YAML silence's ``{label: [values]}`` as matchers (several values: any of them)."""
    return [
        {"name": k, "op": "=~", "value": "|".join(re2.escape(v) for v in values)}
        if len(values) > 1
        else {"name": k, "op": "=", "value": values[0]}
        for k, values in match.items()
    ]
