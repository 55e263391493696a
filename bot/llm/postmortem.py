"""Postmortem drafts: the facts of one incident read from SQL, and the prompt's data made of them.

``postmortem_facts`` reads what happened (reads only): the impact window (first alert to resolution),
the timeline (alerts, people's actions, captured notes), what fired (rules, counts, instances), the
severity with its exact reasons, and follow-ups (notes that read like one, else a placeholder list).
Text from alerts and people passes through the redactor first, as for every draft.

The drafter (:mod:`bot.llm.drafting`) asks the LLM for the narrative (``prompts/postmortem.md``, these
facts as quoted data) or, without one, writes the template; :mod:`bot.llm.postmortem_markdown` makes the
labelled Markdown document of either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from analytics.records import AlertStatus, StoredReason, TimelineKind
from bot.llm.grounding import quote
from storage.incident_reads import IncidentReads

MAX_WORDS = 450
MAX_OUTPUT_TOKENS = 1600  # the narrative of a postmortem is longer than a thread summary
MAX_TIMELINE = 120  # lines; people's actions and notes always stay, alert events are cut first
MAX_INSTANCES = 8
INSTANCE_LABELS = ("instance", "pod", "host", "node")
_FOLLOW_UP = re.compile(
    r"(?i)\b(todo|to-do|follow[- ]?ups?|action items?|we should|need to|needs to|must fix|next time)\b"
)
_ALERT_KINDS = frozenset({TimelineKind.ALERT_FIRING, TimelineKind.ALERT_REFIRED, TimelineKind.ALERT_RESOLVED})
_WORDS: dict[str, str] = {
    TimelineKind.INCIDENT_OPENED: "incident opened",
    TimelineKind.INCIDENT_REOPENED: "incident reopened",
    TimelineKind.INCIDENT_RESOLVED: "resolved",
    TimelineKind.INCIDENT_FLAPPING: "flapping",
    TimelineKind.INCIDENT_ACKNOWLEDGED: "acknowledged",
    TimelineKind.INCIDENT_NOISE: "marked not actionable",
    TimelineKind.ALERT_FIRING: "alert firing",
    TimelineKind.ALERT_REFIRED: "alert firing again",
    TimelineKind.ALERT_RESOLVED: "alert resolved",
    TimelineKind.SEVERITY_CHANGED: "severity changed",
    TimelineKind.SEVERITY_CONFIRMED: "severity confirmed",
    TimelineKind.NOTE_ADDED: "note",
}


@dataclass(frozen=True, slots=True)
class FiredRule:
    """One alert rule (alert name) of the incident: how often it fired, where, and its expression."""

    alertname: str
    severity: str
    count: int
    firing: int
    resolved: int
    summary: str
    instances: list[str]
    instances_left_out: int
    expression: str | None
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class Moment:
    """One line of the timeline: when, what, who (a user id or a bot's name), and any words."""

    at: datetime
    what: str
    who: str | None = None
    text: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class PostmortemFacts:
    incident_id: int
    title: str
    service: str | None
    status: str
    severity: str
    severity_source: str
    confidence: float
    model_version: str | None
    reasons: list[StoredReason]
    opened_at: datetime
    first_alert_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    alert_count: int
    flapping: bool
    rules: list[FiredRule]
    timeline: list[Moment]
    timeline_left_out: int
    notes: list[Moment]
    follow_ups: list[str]  # from the notes; empty: the placeholder list is shown

    @property
    def people(self) -> list[Moment]:
        """People's actions and notes, in time order."""
        return [m for m in self.timeline if m.who and m.kind not in _ALERT_KINDS]


def postmortem_facts(
    conn: Connection, incident_id: int, *, redact: Callable[[str], str] = str
) -> PostmortemFacts | None:
    """The facts of incident ``incident_id`` (None when it does not exist)."""
    reads = IncidentReads(conn)
    incident = reads.get(incident_id)
    if incident is None:
        return None
    alerts = reads.alerts_of(incident_id)
    names = {a.fingerprint: a.alertname for a in alerts}
    moments = [
        _moment(e.at, e.kind, e.actor, e.data or {}, names, redact) for e in reads.timeline_of(incident_id)
    ]
    timeline, left_out = _within(moments, MAX_TIMELINE)
    notes = [m for m in moments if m.kind == TimelineKind.NOTE_ADDED]
    return PostmortemFacts(
        incident_id=incident.id,
        title=redact(incident.title),
        service=incident.service,
        status=incident.status,
        severity=incident.severity,
        severity_source=incident.severity_source,
        confidence=incident.confidence,
        model_version=incident.model_version,
        reasons=[{"text": str(r["text"]), "weight": float(r["weight"])} for r in incident.reasons],
        opened_at=incident.opened_at,
        first_alert_at=min((a.starts_at for a in alerts), default=incident.opened_at),
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_at=incident.resolved_at if incident.status == "resolved" else None,
        alert_count=incident.alert_count,
        flapping=incident.flapping,
        rules=_rules(alerts, redact),
        timeline=timeline,
        timeline_left_out=left_out,
        notes=notes,
        follow_ups=[n.text for n in notes if _FOLLOW_UP.search(n.text)],
    )


def _moment(
    at: datetime,
    kind: str,
    actor: str | None,
    data: Mapping[str, Any],
    names: Mapping[str, str],
    redact: Callable[[str], str],
) -> Moment:
    what = _WORDS.get(kind, kind)
    if kind in _ALERT_KINDS:
        name = data.get("alertname") or names.get(str(data.get("fingerprint")), "an alert")
        return Moment(at, f"{what}: {name}", kind=kind)
    if kind == TimelineKind.SEVERITY_CHANGED:
        what = f"severity {data.get('from')} → {data.get('to')}"
    elif kind in (TimelineKind.INCIDENT_OPENED, TimelineKind.SEVERITY_CONFIRMED):
        level = data.get("severity") or data.get("level")
        what = f"{what} ({level})" if level else what
    words = data.get("note") or data.get("reason") or ""
    who = actor or (str(data["author"]) if data.get("author") else None)
    return Moment(at, what, who, redact(str(words)) if words else "", kind)


def _within(moments: list[Moment], limit: int) -> tuple[list[Moment], int]:
    """At most ``limit`` lines: every line of people, then the earliest alert events that fit."""
    if len(moments) <= limit:
        return moments, 0
    people = sum(1 for m in moments if m.kind not in _ALERT_KINDS)
    room = max(0, limit - people)
    kept, seen = [], 0
    for moment in moments:
        if moment.kind in _ALERT_KINDS:
            seen += 1
            if seen > room:
                continue
        kept.append(moment)
    return kept, len(moments) - len(kept)


def _rules(alerts: Iterable[Any], redact: Callable[[str], str]) -> list[FiredRule]:
    groups: dict[str, list[Any]] = {}
    for alert in alerts:
        groups.setdefault(alert.alertname, []).append(alert)
    rules = []
    for name, members in groups.items():
        newest = max(members, key=lambda a: (a.starts_at, a.id))
        instances: list[str] = []
        for alert in members:
            value = next((alert.labels.get(k) for k in INSTANCE_LABELS if alert.labels.get(k)), None)
            if value is not None and redact(str(value)) not in instances:
                instances.append(redact(str(value)))
        rules.append(
            FiredRule(
                alertname=name,
                severity=min((a.severity for a in members), default="-"),  # SEV1 < SEV2 …: the worst
                count=len(members),
                firing=sum(a.status == AlertStatus.FIRING for a in members),
                resolved=sum(a.status == AlertStatus.RESOLVED for a in members),
                summary=redact(str(newest.annotations.get("summary") or newest.title))[:300],
                instances=instances[:MAX_INSTANCES],
                instances_left_out=max(0, len(instances) - MAX_INSTANCES),
                expression=redact(newest.expression)[:500] if newest.expression else None,
                first_at=min(a.starts_at for a in members),
                last_at=max(a.starts_at for a in members),
            )
        )
    rules.sort(key=lambda r: (r.severity, -r.count, r.alertname))
    return rules


# --- the prompt's data ------------------------------------------------------------------------


def postmortem_values(facts: PostmortemFacts) -> dict[str, str]:
    """The prompt's data blocks (JSON lines, quoted), besides the drafts' common ones."""

    def lines(items: Iterable[Mapping[str, Any]]) -> str:
        text = "\n".join(json.dumps(item, ensure_ascii=False, default=str) for item in items)
        return quote(text) or "(none)"

    impact = {
        "first_alert_at": _iso(facts.first_alert_at),
        "acknowledged_at": _iso(facts.acknowledged_at),
        "resolved_at": _iso(facts.resolved_at),
        "lasted": lasted(facts),
    }
    return {
        "max_words": str(MAX_WORDS),
        "impact": lines([impact]),
        "fired": lines(
            {
                "alertname": r.alertname,
                "severity": r.severity,
                "count": r.count,
                "summary": r.summary,
                "instances": r.instances,
            }
            for r in facts.rules
        ),
        "events": lines(
            {
                "at": _iso(m.at),
                "what": m.what,
                **({"who": m.who} if m.who else {}),
                **({"text": m.text} if m.text else {}),
            }
            for m in facts.timeline
        ),
        "notes": lines({"at": _iso(n.at), "author": n.who, "text": n.text} for n in facts.notes),
    }


def lasted(f: PostmortemFacts) -> str:
    if f.resolved_at is None:
        return "ongoing"
    minutes = int(max(0.0, (f.resolved_at - f.first_alert_at).total_seconds()) // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
