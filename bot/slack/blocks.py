"""Block Kit messages for incidents: the root message, thread replies, drafts (pure; no I/O).

Every builder keeps to Slack's limits (50 blocks, 3,000 characters of section text, 150 of a header,
2,000 per field, 75 per button or option), cutting long content with a link to the full text. Text that
comes from alerts or people is escaped, so an alert cannot mention ``@channel`` or forge links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from analytics.records import SEVERITY_WORDS, ChangeKind, IncidentStatus, Severity
from bot.incidents.affected import INSTANCE_KEYS
from bot.slack.silence_button import ACTION_SILENCE as SILENCE_BUTTON_ACTION
from storage.models import Alert, Incident

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

URGENT = frozenset({Severity.SEV1.value, Severity.SEV2.value})  # a raise to these notifies the owner

ACTION_ACK = "incident_ack"
ACTION_RESOLVE = "incident_resolve"
ACTION_WHY = "incident_why"
ACTION_SEVERITY = "incident_severity"
ACTION_SILENCE = SILENCE_BUTTON_ACTION  # the Silence button (bot.slack.silence_button)
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
    """Source (the rule's graph), Alertmanager, Grafana's dashboard and panel, the runbook, a silence
    (Grafana's own, else a new Alertmanager silence for the alert) and sevbot's own page, where they exist."""
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
        links.update({k: stored[k] for k in ("panel", "alertmanager", "silence") if k in stored})
        if "silence" not in links and "alertmanager" in links:
            links["silence"] = _new_silence(links["alertmanager"], first_alert.labels or {})
    if public_url:
        links["incident"] = f"{public_url.rstrip('/')}/incidents/{incident.id}"  # the HTML page
    return {k: v for k, v in links.items() if v.startswith(("http://", "https://"))}


_SILENCE_KEYS = ("alertname", "service", "env", "environment", "cluster", "namespace")


def _new_silence(alertmanager: str, labels: Mapping[str, Any]) -> str:
    """Alertmanager's "new silence" page, filled in with the alert's name and where it fires."""
    matchers = ",".join(
        f'{k}="{str(labels[k]).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k in _SILENCE_KEYS
        if labels.get(k)
    )
    return f"{alertmanager.rstrip('/')}/#/silences/new?filter={quote('{' + matchers + '}', safe='')}"


def link_text(url: str, label: str) -> str:
    """A masked link to ``url`` (from an alert): its ``< > |`` percent-encoded and ``&`` escaped, so it can
    neither end the link early nor carry a mention; the label is ours."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{label}>"


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
        count = len(joined) + extra_joined
        names = named_alerts(joined)
        lines.append(
            f":heavy_plus_sign: {count} more alert{'s' if count != 1 else ''} joined"
            + (f": {names}" if names else ".")
        )
    resolved = [c for c in changes if c.get("kind") == ChangeKind.ALERT_RESOLVED]
    if resolved:
        n = len(resolved)
        names = named_alerts(resolved)
        lines.append(
            f":large_green_circle: {n} alert{'s' if n != 1 else ''} resolved"
            + (f": {names}" if names else ".")
        )
    for change in changes:
        line = _change_line(change, incident)
        if line:
            lines.append(line)
    return lines


MAX_NAMES = 10  # alert names in one "joined" line
MAX_INSTANCES = 5  # values of the telling label per alert name


def named_alerts(changes: Sequence[Mapping[str, Any]]) -> str:
    """``SearchAPIHighLatency on pod a, b, c; DiskFull on mountpoint /data`` for joined/resolved alerts:
    per alert name, the values of the first label that tells them apart (escaped)."""
    by_name: dict[str, list[Mapping[str, str]]] = {}
    for change in changes:
        labels = change.get("labels")
        if not change.get("alertname"):
            continue  # a change queued before alert names were recorded on it
        by_name.setdefault(str(change["alertname"]), []).append(labels if isinstance(labels, Mapping) else {})
    parts = []
    for name in sorted(by_name)[:MAX_NAMES]:
        members = by_name[name]
        # In INSTANCE_KEYS order: stored as JSON, a change's labels may come back in another key order.
        present = {k for labels in members for k in labels}
        keys = [k for k in INSTANCE_KEYS if k in present and k != "job"] + (
            ["job"] if "job" in present else []
        )
        key = next((k for k in keys if len({m.get(k) for m in members}) > 1), keys[0] if keys else None)
        values = sorted({str(m[key]) for m in members if key and m.get(key)})
        part = esc(name)
        if key and values:
            shown = ", ".join(esc(v) for v in values[:MAX_INSTANCES])
            more = f" and {len(values) - MAX_INSTANCES} more" if len(values) > MAX_INSTANCES else ""
            part += f" on {esc(key)} {shown}{more}"
        parts.append(part)
    if len(by_name) > MAX_NAMES:
        parts.append(f"and {len(by_name) - MAX_NAMES} more")
    return ("; " if any(" on " in part for part in parts) else ", ").join(parts)


def escalation_line(
    changes: Sequence[Mapping[str, Any]], incident: Incident, owner: str | None
) -> str | None:
    """A raise to SEV1 or SEV2 that still holds, as a line that mentions the owner (a new message, so
    Slack notifies them), or None."""
    raised = [
        c
        for c in changes
        if c.get("kind") == ChangeKind.SEVERITY_CHANGED
        and c.get("to") in URGENT
        and str(c.get("to")) < str(c.get("from") or "SEV9")
    ]
    if not raised or incident.severity not in URGENT or incident.status == IncidentStatus.RESOLVED:
        return None
    level = incident.severity
    if owner:
        words = SEVERITY_WORDS[level]
        return f":rotating_light: {owner}: incident #{incident.id} was raised to {level} ({words})."
    return (
        f":rotating_light: Raised to {level}; no owner to notify: give service"
        f" {esc(incident.service or '?')} an `owner` in the service catalog, or its route a `mention`."
    )


def sev1_notice(incident: Incident, *, owner: str | None, thread: str) -> SlackMessage:
    """The channel message for an incident raised to SEV1: whom it needs, and a link to its thread."""
    who = f"{owner} " if owner else ""
    line = (
        f":rotating_light: {who}SEV1 · #{incident.id} · {esc(incident.title)}"
        + (f" · {esc(incident.service)}" if incident.service else "")
        + f" was raised to SEV1. {link_text(thread, 'Open the thread')}"
    )
    return SlackMessage(text=cut(line, FALLBACK_TEXT), blocks=[section(line)])


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
        firing = change.get("firing")
        if by and isinstance(firing, int) and firing > 0:
            plural = "s" if firing != 1 else ""
            still = f"{firing} alert{plural} still firing: the next notification of any reopens it"
            return f":white_check_mark: Resolved by {user_ref(by)}{when}{tail} :warning: {still}."
        if by:
            return f":white_check_mark: Resolved by {user_ref(by)}{when}{tail}"
        return f":white_check_mark: Resolved{when}: all its alerts resolved."
    if kind == ChangeKind.INCIDENT_REOPENED and change.get("reason") == "still_firing":
        return (
            f":arrows_counterclockwise: Reopened: {named_alerts([change])} was still firing after the"
            " incident was resolved by hand."
        )
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
    *,
    kind: str,
    source: str,
    model: str | None,
    text: str,
    link: str | None = None,
    people: Sequence[str | None] = (),
) -> SlackMessage:
    """An LLM (or template) draft in the thread, labelled as a draft, split into sections.

    The draft is escaped like any alert text, except the mentions of ``people`` (who acknowledged or
    resolved the incident), which the grounding wrote as ``<@U…>``: they show as names, not raw ids.
    """
    label = f"AI draft ({esc(model or 'unknown model')})" if source == "llm" else "Template draft"
    head = f"*{label}* · {esc(kind)} · a draft, check it before acting on it"
    body = esc(text.strip()) or "(empty)"
    known = [p for p in dict.fromkeys(people) if p and user_ref(p).startswith("<@")]
    parts = [_unescape_people(part, known) for part in split_text(body, SECTION_TEXT - 100)]
    body = _unescape_people(body, known)
    blocks = [context(head)] + [section(part, link) for part in parts]
    return SlackMessage(text=cut(f"{label}: {body}", FALLBACK_TEXT), blocks=limit_blocks(blocks, link))


def _unescape_people(text: str, people: Sequence[str]) -> str:
    for user in people:
        text = text.replace(f"&lt;@{user}&gt;", f"<@{user}>")
    return text


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
