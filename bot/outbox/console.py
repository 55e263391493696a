"""The console sink: prints what sevbot would post to Slack, for the embedded default without a token."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from analytics.explain import signed
from analytics.records import ChangeKind, OutboxKind
from storage.models import Incident
from storage.outbox import OutboxItem

_CHANGE_TEXT = {
    ChangeKind.INCIDENT_REOPENED: "reopened: the group fired again within the reopen window",
    ChangeKind.INCIDENT_RESOLVED: "resolved: all its alerts resolved",
    ChangeKind.INCIDENT_FLAPPING: "flapping: many state changes in a short time; updates are throttled",
    ChangeKind.ALERT_RESOLVED: "an alert resolved",
    ChangeKind.ALERT_REFIRED: "an alert fired again",
    ChangeKind.INCIDENT_RELATED: "a related incident joined this thread",
}

_ACTION_TEXT = {
    ChangeKind.INCIDENT_ACKNOWLEDGED: "acknowledged",
    ChangeKind.INCIDENT_RESOLVED: "resolved",
    ChangeKind.INCIDENT_NOISE: "marked not actionable (noise)",
}


def render(message: OutboxItem, incident: Incident | None) -> str:
    """A readable, multi-line rendering of one outbox message."""
    if incident is None:
        return f"[sevbot] {message.kind} (incident {message.incident_id} no longer exists)"
    head = (
        f"#{incident.id} {incident.severity} [{incident.status}] {incident.title}"
        f" · service {incident.service or '-'} · {incident.alert_count} alert(s)"
        f" · since {incident.opened_at:%Y-%m-%d %H:%M} UTC"
    )
    lines = []
    if message.kind == OutboxKind.INCIDENT_DRAFT:
        return render_draft(message.payload, head)
    if message.kind == OutboxKind.INCIDENT_RENOTIFY:
        count = message.payload.get("count", 1)
        waited = int(message.payload.get("unacked_seconds", 0)) // 60
        return f"[slack] REMINDER {head}\n    no acknowledgement after {waited} min (reminder {count})"
    if message.kind == OutboxKind.INCIDENT_OPENED:
        primary = message.payload.get("related_to")
        where = f" (related: in the thread of #{primary})" if primary else ""
        lines.append(f"[slack] NEW INCIDENT{where} {head}")
        for reason in incident.reasons[:3]:
            lines.append(f"    why: {reason['text']} {signed(reason['weight'])}")
    else:
        lines.append(f"[slack] update {head}")
        lines.extend(f"    {_describe(change)}" for change in _summarize(message.payload.get("changes", [])))
    return "\n".join(lines)


def render_draft(payload: dict[str, Any], head: str) -> str:
    """A draft as a thread reply: always labelled "AI draft (model)" or "Template draft"."""
    label = payload.get("label") or (
        f"AI draft ({payload.get('model')})" if payload.get("source") == "llm" else "Template draft"
    )
    text = str(payload.get("text") or f"(draft {payload.get('draft_id')})")
    body = "\n".join(f"    {line}" for line in text.splitlines())
    return f"[slack] thread of {head}\n    {label} · {payload.get('kind', 'summary')}:\n{body}"


def _summarize(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold runs of joined alerts into one line, as a thread reply would."""
    joined = [c for c in changes if c.get("kind") == ChangeKind.ALERT_JOINED]
    others = [c for c in changes if c.get("kind") != ChangeKind.ALERT_JOINED]
    folded = [
        {"kind": "alerts.joined", "count": len(joined), "names": sorted({c["alertname"] for c in joined})}
    ]
    return (folded if joined else []) + others


def _describe(change: dict[str, Any]) -> str:
    kind = change.get("kind", "?")
    if kind == "alerts.joined":
        return f"+{change['count']} alert(s) joined: {', '.join(change['names'][:5])}"
    note = change.get("note") or change.get("reason")
    tail = f": {note}" if note else ""
    if kind == ChangeKind.SEVERITY_CHANGED:
        by = f" by {change['by']}" if change.get("by") else ""
        return f"severity {change['from']} → {change['to']}{by}{tail}"
    if change.get("by") and kind in _ACTION_TEXT:  # a person acted (Slack, CLI or replay)
        return f"{_ACTION_TEXT[kind]} by {change['by']}{tail}"
    return _CHANGE_TEXT.get(kind, str(kind))


class ConsoleSink:
    """Writes each message to a stream instead of Slack; always succeeds."""

    def __init__(self, write: Callable[[str], Any] | None = None) -> None:
        self._write = write or _stdout

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        self._write(render(message, incident))
        return {"sink": "console"}


def _stdout(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
