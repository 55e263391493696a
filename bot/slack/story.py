"""What Slack shows of an incident's story: its related incidents, and a flapping alert as one alert fired
many times (pure; no I/O). :mod:`bot.slack.blocks` places these parts in the root message
(:class:`~bot.slack.blocks.StoryParts`); the sink decides when to use them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from analytics.records import ChangeKind
from bot.slack.blocks import SEVERITY_EMOJI, STATUS_WORDS, esc, section, slack_date
from storage.models import Incident
from storage.stories import Firings, RelatedIncident


@dataclass(frozen=True, slots=True)
class StoryParts:
    """What a root message shows of the story (:func:`bot.slack.blocks.root_message` places it): a
    "Related" line (mrkdwn, escaped already), the "Alerts" field, and "Acknowledge all related"."""

    related: str | None = None
    alerts: str | None = None
    ack_all: bool = False


SHOWN_RELATED = 8  # related incidents named on the primary's root; the rest are counted
OPEN_STATUSES = ("open",)


def by_person(payload: Mapping[str, Any]) -> bool:
    """Whether an update row tells only what people did (each change names who)."""
    changes = payload.get("changes") or []
    return bool(changes) and all(isinstance(c, Mapping) and c.get("by") for c in changes)


# While an incident flaps, these changes (none of them a person's) update its one reply instead of posting.
COLLAPSED_KINDS = frozenset(
    {
        ChangeKind.ALERT_JOINED,
        ChangeKind.ALERT_REFIRED,
        ChangeKind.ALERT_RESOLVED,
        ChangeKind.INCIDENT_RESOLVED,
        ChangeKind.INCIDENT_REOPENED,
        ChangeKind.INCIDENT_FLAPPING,
    }
)


def collapsible(changes: Sequence[Mapping[str, Any]]) -> bool:
    return bool(changes) and all(c.get("kind") in COLLAPSED_KINDS and not c.get("by") for c in changes)


def refired_lines(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line for alerts that fired again (an alert seen before is not a new alert)."""
    names = sorted(
        {str(c.get("alertname", "?")) for c in changes if c.get("kind") == ChangeKind.ALERT_REFIRED}
    )
    count = sum(1 for c in changes if c.get("kind") == ChangeKind.ALERT_REFIRED)
    if not count:
        return []
    shown = ", ".join(esc(n) for n in names[:10])
    return [f":repeat: {count} alert firing{'s' if count != 1 else ''} again: {shown}"]


def minutes(span: timedelta) -> str:
    total = int(span.total_seconds() // 60)
    if total < 120:
        return f"{max(total, 1)} min"
    return f"{total // 60} h {total % 60} min" if total % 60 else f"{total // 60} h"


def alerts_text(incident: Incident, firings: Firings | None) -> str:
    """The root's "Alerts" field: firings of one alert count once ("1 alert, fired 8× in 56 min")."""
    if firings is None or firings.firings <= firings.alerts or firings.most < 2:
        return f"{incident.alert_count} ({incident.firing_count} firing)"
    span = (
        f" in {minutes(firings.last_at - firings.first_at)}"
        if firings.first_at and firings.last_at and firings.last_at > firings.first_at
        else ""
    )
    firing = f"{incident.firing_count} firing" if incident.firing_count else "none firing"
    if firings.alerts == 1:
        return f"1 alert, fired {firings.most}×{span} ({firing})"
    return f"{firings.alerts} alerts ({firing}); one fired {firings.most}×{span}"


def related_line(related: Sequence[RelatedIncident]) -> str:
    """The primary's "Related" line: each related incident's id, severity, status and title."""
    shown = [
        f"#{r.id} {r.severity} {STATUS_WORDS.get(r.status, r.status).lower()} · {esc(r.title)}"
        f" ({r.alert_count} alert{'s' if r.alert_count != 1 else ''})"
        for r in related[:SHOWN_RELATED]
    ]
    more = f", and {len(related) - SHOWN_RELATED} more" if len(related) > SHOWN_RELATED else ""
    return ":link: *Related* (same story, in this thread): " + ", ".join(shown) + more


def primary_parts(
    incident: Incident, related: Sequence[RelatedIncident], firings: Firings | None
) -> StoryParts:
    """A primary's root: its related incidents (and "Acknowledge all related" while one is open)."""
    anything_open = incident.status in OPEN_STATUSES or any(r.status in OPEN_STATUSES for r in related)
    return StoryParts(
        related=related_line(related) if related else None,
        alerts=alerts_text(incident, firings),
        ack_all=bool(related) and anything_open,
    )


def related_parts(incident: Incident, primary: Incident, firings: Firings | None) -> StoryParts:
    """A related incident's post in its primary's thread: which story it belongs to."""
    line = (
        f":link: *Related* to #{primary.id} {primary.severity} · {esc(primary.title)}:"
        f" opened {slack_date(incident.opened_at, '{time}')} on {esc(incident.service or '-')},"
        " the same story (see this thread)"
    )
    return StoryParts(related=line, alerts=alerts_text(incident, firings))


def flapping_reply(
    incident: Incident, firings: Firings, alertname: str
) -> tuple[str, list[dict[str, object]]]:
    """The one thread reply a flapping incident keeps up to date (text and blocks)."""
    icon = SEVERITY_EMOJI.get(incident.severity, ":warning:")
    span = (
        f" in {minutes(firings.last_at - firings.first_at)}"
        if firings.first_at and firings.last_at and firings.last_at > firings.first_at
        else ""
    )
    now = (
        f"firing again since {slack_date(firings.last_at, '{time}')}"
        if incident.firing_count and firings.last_at
        else "resolved" + (f" {slack_date(incident.resolved_at, '{time}')}" if incident.resolved_at else "")
    )
    text = (
        f":warning: *Flapping*: {esc(alertname)} fired {firings.most}×{span}; now {now}. {icon}"
        " Its changes update this message and the root instead of new replies, and the resolution draft"
        " waits until it has stayed resolved."
    )
    return text, [section(text)]
