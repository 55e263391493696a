"""Which Slack channel an incident goes to, and whether it is silenced (pure; no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import MatcherError
from bot.settings import ServiceConfig, SlackConfig


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
        for route in self.config.routes:
            if all(facts.get(key) in values for key, values in route.match.items()):
                return route.channel
        return self.config.default_channel or self.default_channel


# --- silences ----------------------------------------------------------------------------------

OPERATORS = ("=~", "!~", "!=", "=")
_MATCHER = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)(=~|!~|!=|=)(.+)$")


def parse_matcher(text: str) -> dict[str, str]:
    """``service=checkout``, ``alertname!=Watchdog``, ``instance=~db-.*`` (quotes optional)."""
    match = _MATCHER.match(text.strip())
    if not match:
        raise MatcherError(f"{text!r} is not a matcher like service=checkout or alertname=~Disk.*")
    name, op, value = match.group(1), match.group(2), match.group(3).strip().strip("\"'")
    if not value:
        raise MatcherError(f"{text!r} has an empty value")
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise MatcherError(f"{text!r}: not a valid regular expression ({exc})") from exc
    if name == "severity" and op in ("=", "!="):
        value = value.upper()
    return {"name": name, "op": op, "value": value}


def matcher_text(matcher: Mapping[str, str]) -> str:
    return f"{matcher['name']}{matcher['op']}{matcher['value']}"


def matches(matchers: Sequence[Mapping[str, str]], facts: Mapping[str, str]) -> bool:
    """Every matcher holds (an absent label counts as the empty string, as in Alertmanager)."""
    for m in matchers:
        actual = facts.get(m["name"], "")
        op, value = m["op"], m["value"]
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
        if op == "=~" and not re.fullmatch(value, actual):
            return False
        if op == "!~" and re.fullmatch(value, actual):
            return False
    return True


def config_matchers(match: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """A YAML silence's ``{label: [values]}`` as matchers (several values: any of them)."""
    return [
        {"name": k, "op": "=~", "value": "|".join(re.escape(v) for v in values)}
        if len(values) > 1
        else {"name": k, "op": "=", "value": values[0]}
        for k, values in match.items()
    ]
