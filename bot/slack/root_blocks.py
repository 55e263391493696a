"""The incident's root message in Block Kit: what it is, who owns it, what it affects (pure; no I/O).

One root message per incident, edited in place on every change. Slack notifies nobody for a mention an
edit adds, so whom the root mentions matters only when it is posted: a SEV1 root mentions the owner (else
the global SEV1 mention); escalations post their own thread message (see ``blocks.escalation_line``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analytics.explain import signed
from analytics.records import SEVERITIES, SEVERITY_WORDS, IncidentStatus, Severity
from bot.incidents.affected import Affected, title_with_count, values_text
from bot.slack.blocks import (
    ACTION_ACK,
    ACTION_ACK_RELATED,
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    ACTION_WHY,
    FALLBACK_TEXT,
    FIELD_TEXT,
    HEADER_TEXT,
    PLAIN_OPTION,
    SEVERITY_EMOJI,
    STATUS_WORDS,
    SlackMessage,
    context,
    cut,
    esc,
    limit_blocks,
    link_text,
    plain,
    section,
    slack_date,
    user_ref,
)
from bot.slack.silence_button import silence_button
from bot.slack.story import StoryParts
from storage.models import Incident

LINK_LABELS = (
    ("source", "Source"),
    ("alertmanager", "Alertmanager"),
    ("dashboard", "Dashboard"),
    ("panel", "Panel"),
    ("runbook", "Runbook"),
    ("silence", "Silence"),
    ("incident", "Details"),
)


def root_message(
    incident: Incident,
    *,
    links: Mapping[str, str] | None = None,
    mention: str | None = None,
    noise: bool = False,
    owner: str | None = None,
    affected: Affected | None = None,
    story: StoryParts | None = None,
) -> SlackMessage:
    """The incident's root message. ``mention``: whom a SEV1 root mentions (the owner, else the global
    SEV1 mention); ``owner``: the Owner field (mrkdwn); ``affected``: what its alerts are about;
    ``story``: its related incidents (a "Related" line, the Alerts field, "Acknowledge all related")."""
    links = dict(links or {})
    full = links.get("incident")
    sev = incident.severity
    status = STATUS_WORDS.get(incident.status, incident.status)
    title = title_with_count(incident.title, incident.alertname, affected) if affected else incident.title
    paging = bool(mention) and sev == Severity.SEV1 and incident.status != IncidentStatus.RESOLVED
    blocks: list[dict[str, Any]] = []
    if paging:
        blocks.append(section(f"{mention} SEV1 incident: {esc(title)}", full))
    blocks.append({"type": "header", "text": plain(f"{sev} · #{incident.id} · {title}", HEADER_TEXT)})
    alerts = story.alerts if story and story.alerts else None
    blocks.append(_fields(incident, status=status, noise=noise, owner=owner, alerts=alerts))
    if affected is not None and not affected.empty:
        blocks.append(section(affected_text(affected, incident), full))
    reasons = _top_reasons(incident.reasons)
    if reasons:
        blocks.append(section("*Why this severity*\n" + "\n".join(reasons), full))
    who = _who(incident)
    if who:
        blocks.append(context(*who))
    link_parts = [link_text(links[key], label) for key, label in LINK_LABELS if key in links]
    if link_parts:
        blocks.append(context(" · ".join(link_parts)))
    if story and story.related:
        blocks.append(context(story.related))  # the story's "Related" line (escaped by bot.slack.story)
    blocks.append(_actions(incident, ack_all=bool(story and story.ack_all)))
    text = cut(
        (f"{mention} " if paging else "")
        + f"{sev} incident #{incident.id} ({status}): {esc(title)}"
        + (f" · {esc(incident.service)}" if incident.service else ""),
        FALLBACK_TEXT,
    )
    return SlackMessage(text=text, blocks=limit_blocks(blocks, full))


def _fields(
    incident: Incident, *, status: str, noise: bool, owner: str | None, alerts: str | None = None
) -> dict[str, Any]:
    sev = incident.severity
    icon = (
        ":white_check_mark:"
        if incident.status == IncidentStatus.RESOLVED
        else SEVERITY_EMOJI.get(sev, ":grey_question:")
    )
    still = ""
    if incident.status == IncidentStatus.RESOLVED and incident.firing_count:
        n = incident.firing_count
        still = (
            f" · :warning: {n} alert{'s' if n != 1 else ''} still firing (the next notification reopens it)"
        )
    fields = [
        f"*Severity*\n{icon} {sev} ({SEVERITY_WORDS.get(sev, '?')}), {incident.confidence:.0%} confident",
        f"*Status*\n{status}"
        + still
        + (" · :warning: flapping" if incident.flapping else "")
        + (" · noise" if noise else ""),
        f"*Service*\n{esc(incident.service or '-')}",
        f"*Owner*\n{owner or 'none in the service catalog'}",
        f"*Alerts*\n{alerts or f'{incident.alert_count} ({incident.firing_count} firing)'}",
        f"*Started*\n{slack_date(incident.opened_at)}",
    ]
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": cut(f, FIELD_TEXT)} for f in fields]}


def affected_text(affected: Affected, incident: Incident) -> str:
    """``*Affected* pod a, b and 3 more`` / ``env prod · namespace search`` / ``Firing since …``."""
    lines = []
    if affected.distinguishing:
        lines.append("*Affected* " + " · ".join(esc(values_text(lv)) for lv in affected.distinguishing))
    if affected.scope:
        lines.append("*Where* " + " · ".join(f"{esc(k)} {esc(v)}" for k, v in affected.scope))
    since = affected.firing_since
    if since is not None and affected.firing:
        # Slack's {ago} keeps the duration current between edits of the root.
        lines.append(f":fire: Firing since {slack_date(since, '{date_short_pretty} at {time} ({ago})')}")
    elif incident.resolved_at is not None and incident.status == IncidentStatus.RESOLVED:
        minutes = max(0, round((incident.resolved_at - incident.opened_at).total_seconds() / 60))
        lines.append(f"Fired {slack_date(incident.opened_at)} for {minutes} min")
    return "\n".join(lines) or " "


def _who(incident: Incident) -> list[str]:
    who = []
    if incident.acknowledged_at is not None:
        who.append(
            f"Acknowledged by {user_ref(incident.acknowledged_by)} {slack_date(incident.acknowledged_at)}"
        )
    if incident.status == IncidentStatus.RESOLVED and incident.resolved_at is not None:
        who.append(
            f"Resolved by {user_ref(incident.resolved_by or 'its alerts')} {slack_date(incident.resolved_at)}"
        )
    return who


def _top_reasons(reasons: Sequence[Any], n: int = 3) -> list[str]:
    lines = []
    for reason in list(reasons or [])[:n]:
        if isinstance(reason, Mapping):
            weight = reason.get("weight")
            suffix = f" {signed(weight)}" if isinstance(weight, int | float) else ""
            lines.append(f"• {esc(reason.get('text', ''))}{suffix}")
        else:
            lines.append(f"• {esc(reason)}")
    return lines


def _option(sev: str) -> dict[str, Any]:
    return {"text": plain(f"{sev} · {SEVERITY_WORDS[sev]}", PLAIN_OPTION), "value": sev}


def _actions(incident: Incident, *, ack_all: bool = False) -> dict[str, Any]:
    value = str(incident.id)
    elements: list[dict[str, Any]] = []
    if ack_all:
        label = plain("Acknowledge all related", 75)
        elements.append({"type": "button", "action_id": ACTION_ACK_RELATED, "text": label, "value": value})
    if incident.status == IncidentStatus.OPEN:
        elements.append(
            {
                "type": "button",
                "action_id": ACTION_ACK,
                "text": plain("Acknowledge", 75),
                "value": value,
                "style": "primary",
            }
        )
    if incident.status != IncidentStatus.RESOLVED:
        elements.append(
            {
                "type": "button",
                "action_id": ACTION_RESOLVE,
                "text": plain("Resolve", 75),
                "value": value,
                "confirm": {
                    "title": plain("Resolve this incident?", 100),
                    "text": plain("Its alerts may still be firing; they will reopen it.", 300),
                    "confirm": plain("Resolve", 30),
                    "deny": plain("Cancel", 30),
                },
            }
        )
    elements.append({"type": "button", "action_id": ACTION_WHY, "text": plain("Why?", 75), "value": value})
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": ACTION_SEVERITY,
        "placeholder": plain("Change severity", 150),
        "options": [_option(sev) for sev in SEVERITIES],
    }
    if incident.severity in SEVERITIES:
        select["initial_option"] = _option(incident.severity)
    elements.append(select)
    elements.append(silence_button(value))
    return {"type": "actions", "block_id": f"incident:{incident.id}", "elements": elements}
