"""Block Kit messages for incidents: the root message, thread replies, drafts (pure; no I/O).

Every builder keeps to Slack's limits (50 blocks, 3,000 characters of section text, 150 of a header,
2,000 per field, 75 per button or option), cutting long content with a link to the full text. Text that
comes from alerts or people is escaped, so an alert cannot mention ``@channel`` or forge links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from analytics.explain import signed
from analytics.records import SEVERITIES, SEVERITY_WORDS, ChangeKind, IncidentStatus, Severity
from storage.models import Alert, Incident

if TYPE_CHECKING:
    from bot.slack.story import StoryParts  # what the story adds: a "Related" line, the alerts, ack-all

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
FIELD_TEXT = 2000
PLAIN_OPTION = 75
FALLBACK_TEXT = 3000
CONTEXT_ELEMENTS = 10

SEVERITY_EMOJI: dict[str, str] = {
    Severity.SEV1: ":red_circle:",
    Severity.SEV2: ":large_orange_circle:",
    Severity.SEV3: ":large_yellow_circle:",
    Severity.SEV4: ":large_blue_circle:",
}
STATUS_WORDS: dict[str, str] = {
    IncidentStatus.OPEN: "Open",
    IncidentStatus.ACKNOWLEDGED: "Acknowledged",
    IncidentStatus.RESOLVED: "Resolved",
}

ACTION_ACK = "incident_ack"
ACTION_RESOLVE = "incident_resolve"
ACTION_WHY = "incident_why"
ACTION_SEVERITY = "incident_severity"
ACTION_ACK_RELATED = "incident_ack_related"  # on a primary: acknowledge it and its related incidents


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """What goes into ``chat.postMessage`` / ``chat.update``: the notification text and the blocks."""

    text: str
    blocks: list[dict[str, Any]]


# --- text helpers ------------------------------------------------------------------------------


def esc(value: object) -> str:
    """Escape text for mrkdwn: ``&``, ``<`` and ``>`` (so no mentions or links can be smuggled in)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int, link: str | None = None) -> str:
    """``text`` within ``limit`` characters; if cut, it ends with "…" and a link to the full text."""
    if len(text) <= limit:
        return text
    suffix = f"… <{link}|full text>" if link else "…"
    head = text[: max(0, limit - len(suffix))]
    # Do not leave half an escape (&am) or half a link (<http://…) behind.
    if head.rfind("&") > head.rfind(";"):
        head = head[: head.rfind("&")]
    if head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]
    return head + suffix


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": True}


def section(text: str, link: str | None = None) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_TEXT, link) or " "}}


def context(*parts: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": cut(p, SECTION_TEXT)} for p in parts if p][:CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements or [{"type": "mrkdwn", "text": " "}]}


def slack_date(at: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's date formatting: shown in each reader's time zone, with a UTC fallback."""
    at = at.astimezone(UTC)
    return f"<!date^{int(at.timestamp())}^{fmt}|{at:%Y-%m-%d %H:%M} UTC>"


def user_ref(user: str | None) -> str:
    """A Slack user id as a mention (``<@U123>``); anything else (e.g. "alerts", a CLI user) as text."""
    if not user:
        return "someone"
    if user[:1] in "UW" and user[1:].isalnum() and user.isupper():
        return f"<@{user}>"
    return esc(user)


def limit_blocks(blocks: list[dict[str, Any]], link: str | None) -> list[dict[str, Any]]:
    """At most 50 blocks; when more, the last one says what was left out (and links to it)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    more = f"{len(blocks) - len(kept)} more part(s) left out"
    return [*kept, context(f"<{link}|{more}>" if link else more)]


# --- links ---------------------------------------------------------------------------------------

_RUNBOOK_KEYS = ("runbook_url", "runbook", "runbook_link")
_DASHBOARD_KEYS = ("dashboard", "dashboard_url", "grafana_url", "dashboardURL")


def incident_links(incident: Incident, first_alert: Alert | None, public_url: str | None) -> dict[str, str]:
    """Source, dashboard, runbook and sevbot's own page for an incident (only those that exist)."""
    links: dict[str, str] = {}
    if first_alert is not None:
        stored = {str(k): str(v) for k, v in (first_alert.links or {}).items() if v}
        notes = {str(k): str(v) for k, v in (first_alert.annotations or {}).items() if v}
        source = stored.get("source") or first_alert.generator_url
        if source:
            links["source"] = source
        dashboard = stored.get("dashboard") or next((notes[k] for k in _DASHBOARD_KEYS if k in notes), None)
        if dashboard:
            links["dashboard"] = dashboard
        runbook = stored.get("runbook") or next((notes[k] for k in _RUNBOOK_KEYS if k in notes), None)
        if runbook:
            links["runbook"] = runbook
    if public_url:
        links["incident"] = f"{public_url.rstrip('/')}/api/incidents/{incident.id}"
    return {k: v for k, v in links.items() if v.startswith(("http://", "https://"))}


def _link(url: str, label: str) -> str:
    """A masked link to ``url`` (from an alert): its ``< > |`` percent-encoded and ``&`` escaped, so it can
    neither end the link early nor carry a mention; the label is ours."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{label}>"


# --- the root message ---------------------------------------------------------------------------


def root_message(
    incident: Incident,
    *,
    links: Mapping[str, str] | None = None,
    mention: str | None = None,
    noise: bool = False,
    story: StoryParts | None = None,
) -> SlackMessage:
    """The incident's root message, updated in place on every state change."""
    links = dict(links or {})
    full = links.get("incident")
    sev = incident.severity
    status = STATUS_WORDS.get(incident.status, incident.status)
    icon = (
        ":white_check_mark:"
        if incident.status == IncidentStatus.RESOLVED
        else SEVERITY_EMOJI.get(sev, ":grey_question:")
    )
    title = incident.title
    blocks: list[dict[str, Any]] = []
    if mention and sev == Severity.SEV1 and incident.status != IncidentStatus.RESOLVED:
        blocks.append(section(f"{mention} SEV1 incident: {esc(title)}", full))
    blocks.append({"type": "header", "text": plain(f"{sev} · #{incident.id} · {title}", HEADER_TEXT)})
    confidence = f"{incident.confidence:.0%}"
    source = incident.severity_source + (f" {incident.model_version}" if incident.model_version else "")
    fields = [
        f"*Severity*\n{icon} {sev} ({SEVERITY_WORDS.get(sev, '?')}), {confidence} confident",
        f"*Status*\n{status}"
        + (" · :warning: flapping" if incident.flapping else "")
        + (" · noise" if noise else ""),
        f"*Service*\n{esc(incident.service or '-')}",
        f"*Alerts*\n{(story and story.alerts) or f'{incident.alert_count} ({incident.firing_count} firing)'}",
        f"*Started*\n{slack_date(incident.opened_at)}",
        f"*Severity from*\n{esc(source)}",
    ]
    blocks.append(
        {"type": "section", "fields": [{"type": "mrkdwn", "text": cut(f, FIELD_TEXT)} for f in fields]}
    )
    reasons = _top_reasons(incident.reasons)
    if reasons:
        blocks.append(section("*Why this severity*\n" + "\n".join(reasons), full))
    who = []
    if incident.acknowledged_at is not None:
        who.append(
            f"Acknowledged by {user_ref(incident.acknowledged_by)} {slack_date(incident.acknowledged_at)}"
        )
    if incident.status == IncidentStatus.RESOLVED and incident.resolved_at is not None:
        who.append(
            f"Resolved by {user_ref(incident.resolved_by or 'its alerts')} {slack_date(incident.resolved_at)}"
        )
    if who:
        blocks.append(context(*who))
    named = [
        ("source", "Source"),
        ("dashboard", "Dashboard"),
        ("runbook", "Runbook"),
        ("incident", "Details"),
    ]
    link_parts = [_link(links[key], label) for key, label in named if key in links]
    if link_parts:
        blocks.append(context(" · ".join(link_parts)))
    blocks += [context(story.related)] if story and story.related else []  # the story's "Related" line
    blocks.append(_actions(incident, ack_all=bool(story and story.ack_all)))
    text = cut(
        (
            f"{mention} "
            if mention and sev == Severity.SEV1 and incident.status != IncidentStatus.RESOLVED
            else ""
        )
        + f"{sev} incident #{incident.id} ({status}): {esc(title)}"
        + (f" · {esc(incident.service)}" if incident.service else ""),
        FALLBACK_TEXT,
    )
    return SlackMessage(text=text, blocks=limit_blocks(blocks, full))


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
    return {"type": "actions", "block_id": f"incident:{incident.id}", "elements": elements}


# --- thread replies ------------------------------------------------------------------------------

_CHANGE_TEXT: dict[str, str] = {
    ChangeKind.INCIDENT_REOPENED: (
        ":arrows_counterclockwise: Reopened: the group fired again soon after it resolved."
    ),
    ChangeKind.INCIDENT_FLAPPING: (
        ":warning: Flapping: many state changes in a short time; updates are throttled."
    ),
}
BATCHED_KINDS = frozenset({ChangeKind.ALERT_JOINED, ChangeKind.ALERT_REFIRED, ChangeKind.ALERT_RESOLVED})
# A flapping incident's resolutions and reopenings are throttled like joined alerts.
FLAPPING_BATCHED_KINDS = BATCHED_KINDS | {ChangeKind.INCIDENT_RESOLVED, ChangeKind.INCIDENT_REOPENED}


def changes_text(
    changes: Sequence[Mapping[str, Any]], *, incident: Incident, total: int | None = None
) -> list[str]:
    """Lines for a batch of changes: joined alerts folded into one line, resolutions counted, the rest
    (severity, acknowledgement, resolution, noise, reopening, flapping) one line each, in order.

    ``total`` is how many changes there were when the batch was cut short (ingest keeps the first 50).
    """
    joined = [c for c in changes if c.get("kind") == ChangeKind.ALERT_JOINED]
    extra_joined = max(0, (total or len(changes)) - len(changes))
    lines: list[str] = []
    if joined or extra_joined:
        names = sorted({str(c.get("alertname", "?")) for c in joined})
        shown = ", ".join(esc(n) for n in names[:10]) + (
            f" and {len(names) - 10} more" if len(names) > 10 else ""
        )
        count = len(joined) + extra_joined
        lines.append(f":heavy_plus_sign: {count} more alert{'s' if count != 1 else ''} joined: {shown}")
    resolved = sum(1 for c in changes if c.get("kind") == ChangeKind.ALERT_RESOLVED)
    if resolved:
        lines.append(f":large_green_circle: {resolved} alert{'s' if resolved != 1 else ''} resolved.")
    for change in changes:
        line = _change_line(change, incident)
        if line:
            lines.append(line)
    return lines


def _change_line(change: Mapping[str, Any], incident: Incident) -> str | None:
    kind = change.get("kind")
    by = change.get("by")
    note = change.get("note") or change.get("reason")
    tail = f": {esc(note)}" if note else "."
    if kind == ChangeKind.SEVERITY_CHANGED:
        who = f" by {user_ref(by)}" if by else " (from the alerts)"
        return f":label: Severity {esc(change.get('from'))} → {esc(change.get('to'))}{who}{tail}"
    if kind == ChangeKind.INCIDENT_ACKNOWLEDGED:
        when = f" {slack_date(incident.acknowledged_at)}" if incident.acknowledged_at else ""
        return f":raised_hand: Acknowledged by {user_ref(by)}{when}{tail}"
    if kind == ChangeKind.INCIDENT_RESOLVED:
        when = f" {slack_date(incident.resolved_at)}" if incident.resolved_at else ""
        if by:
            return f":white_check_mark: Resolved by {user_ref(by)}{when}{tail}"
        return f":white_check_mark: Resolved{when}: all its alerts resolved."
    if kind == ChangeKind.INCIDENT_NOISE:
        return f":mute: Marked not actionable (noise) by {user_ref(by)}{tail}"
    if isinstance(kind, str) and kind in _CHANGE_TEXT:
        return _CHANGE_TEXT[kind]
    return None


def reply_message(lines: Sequence[str], *, link: str | None = None) -> SlackMessage:
    """A thread reply: one section per line (long lines cut with a link), within 50 blocks."""
    blocks = [section(line, link) for line in lines if line]
    return SlackMessage(text=cut("\n".join(lines), FALLBACK_TEXT), blocks=limit_blocks(blocks, link))


def draft_message(
    *, kind: str, source: str, model: str | None, text: str, link: str | None = None
) -> SlackMessage:
    """An LLM (or template) draft in the thread, labelled as a draft, split into sections."""
    label = f"AI draft ({esc(model or 'unknown model')})" if source == "llm" else "Template draft"
    head = f"*{label}* · {esc(kind)} · a draft, check it before acting on it"
    body = esc(text.strip()) or "(empty)"
    parts = split_text(body, SECTION_TEXT - 100)
    blocks = [context(head)] + [section(part, link) for part in parts]
    return SlackMessage(text=cut(f"{label}: {body}", FALLBACK_TEXT), blocks=limit_blocks(blocks, link))


def split_text(text: str, size: int) -> list[str]:
    """Split on paragraph or line boundaries where possible, never above ``size`` characters."""
    chunks: list[str] = []
    while len(text) > size:
        cut_at = max(text.rfind("\n\n", 0, size), text.rfind("\n", 0, size))
        if cut_at <= size // 2:
            cut_at = text.rfind(" ", 0, size)
        if cut_at <= size // 2:
            cut_at = size
        if text.rfind("&", 0, cut_at) > text.rfind(";", 0, cut_at):
            cut_at = text.rfind("&", 0, cut_at)
        chunks.append(text[:cut_at].rstrip())
        text = text[cut_at:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def explanation_blocks(incident_id: int, lines: Sequence[str], *, link: str | None = None) -> SlackMessage:
    """The answer to "why was this flagged?" (plain text lines from the explainer)."""
    body = "\n".join(esc(line) for line in lines) or "No explanation is stored for this incident."
    blocks = [
        section(f"*Why incident #{incident_id} was flagged*"),
        *[section(c, link) for c in split_text(body, 2900)],
    ]
    return SlackMessage(
        text=cut(f"Why #{incident_id}: {body}", FALLBACK_TEXT), blocks=limit_blocks(blocks, link)
    )
