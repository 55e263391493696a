"""Grounding: the facts a draft may use, read from SQL and the runbook library (reads only; no writes).

For one incident: its alerts (deduplicated, most important first, within a token budget), the severity
explanation, the runbook sections that match (from each alert's ``runbook_url`` and from the library), the
three most similar resolved incidents with their resolution notes and captured notes, the timeline, and
the messages people captured from the incident's thread (``notes``: shortcut or 📌). ``prompt_values``
turns it into quoted data blocks for the prompt templates.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from analytics.records import AlertStatus, Severity, StoredReason, TimelineKind
from bot.incidents.explain import similar_incidents
from bot.llm.runbook_query import AlertQuery
from bot.llm.runbooks import MatchKind, RunbookLibrary
from storage.incident_reads import IncidentReads
from storage.models import Alert
from storage.notes import NoteRepository

log = logging.getLogger(__name__)

SEVERITY_RANK = {level.value: level.rank for level in Severity}
CHARS_PER_TOKEN = 4  # a rough estimate, good enough for a budget
MAX_VALUE_CHARS = 300
MAX_SECTION_CHARS = 700
# A library section counts as a match only this close to a full match (or when named after the alert).
MIN_RELEVANCE = 0.6
_SECRET_FIELD = re.compile(
    r"(?i)(pass(word|wd)?|pwd|secret|token|api[_-]?key|apikey|credential|private[_-]?key|auth|cookie|session)"
)
_ALERT_EVENTS = frozenset(
    {TimelineKind.ALERT_FIRING, TimelineKind.ALERT_REFIRED, TimelineKind.ALERT_RESOLVED}
)
_RUNBOOK_KEYS = ("runbook_url", "runbook", "playbook", "runbook_link")


@dataclass(frozen=True, slots=True)
class AlertFact:
    """One kind of alert in the incident (one alert name), with how many of it fire and have resolved."""

    alertname: str
    summary: str
    description: str
    severity: str
    firing: int
    resolved: int
    first_at: datetime
    last_at: datetime
    labels: dict[str, str]
    runbook_url: str | None
    expression: str | None = None  # its PromQL, for runbook search only (never in a prompt)

    def as_data(self) -> dict[str, Any]:
        return {
            "alertname": self.alertname,
            "summary": self.summary,
            "description": self.description,
            "severity": self.severity,
            "firing": self.firing,
            "resolved": self.resolved,
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "labels": self.labels,
            **({"runbook_url": self.runbook_url} if self.runbook_url else {}),
        }


@dataclass(frozen=True, slots=True)
class RunbookRef:
    citation: str  # "file § section", or the linked URL
    excerpt: str  # the section's text (trimmed); empty for a link sevbot cannot read
    why: str = ""  # how it matched: "runbook for service web-pages (label type)", "linked from …"


@dataclass(frozen=True, slots=True)
class SimilarIncident:
    id: int
    title: str
    severity: str
    resolved_at: datetime | None
    note: str | None
    notes: tuple[str, ...] = ()  # captured from its thread


@dataclass(frozen=True, slots=True)
class Grounding:
    incident_id: int
    title: str
    alertname: str
    service: str | None
    status: str
    severity: str
    confidence: float
    model_version: str | None
    opened_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    alert_count: int
    firing_count: int
    flapping: bool
    alerts: list[AlertFact]
    alerts_left_out: int
    reasons: list[StoredReason]
    runbooks: list[RunbookRef]
    similar: list[SimilarIncident]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # captured thread messages: at, author, text


MAX_NOTES = 20


def build_grounding(
    conn: Connection,
    incident_id: int,
    *,
    library: RunbookLibrary | None,
    context_tokens: int = 2500,
    redact: Callable[[str], str] = str,
) -> Grounding | None:
    """Everything a draft for ``incident_id`` may use; None when the incident no longer exists.

    Text from alerts and people passes through ``redact`` before it is cut to length, so a secret cut in
    half can never slip past the redaction patterns.
    """
    repo = IncidentReads(conn)
    incident = repo.get(incident_id)
    if incident is None:
        return None
    facts = dedupe_alerts(repo.alerts_of(incident_id), redact)
    kept, left_out = within_budget(facts, tokens=context_tokens * 2 // 3)
    timeline = [
        {
            "at": _iso(e.at),
            "kind": e.kind,
            **({"note": redact(str(e.data["note"]))} if e.data.get("note") else {}),
        }
        for e in repo.timeline_of(incident_id)
        if e.kind not in _ALERT_EVENTS
    ]
    similar = similar_incidents(repo, incident)
    return Grounding(
        incident_id=incident.id,
        title=redact(incident.title),
        alertname=incident.alertname,
        service=incident.service,
        status=incident.status,
        severity=incident.severity,
        confidence=incident.confidence,
        model_version=incident.model_version,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        alert_count=incident.alert_count,
        firing_count=incident.firing_count,
        flapping=incident.flapping,
        alerts=kept,
        alerts_left_out=left_out,
        reasons=[{"text": str(r["text"]), "weight": float(r["weight"])} for r in incident.reasons],
        runbooks=find_runbooks(kept, library),
        similar=[
            SimilarIncident(
                id=s["id"],
                title=redact(s["title"]),
                severity=s["severity"],
                resolved_at=None,
                note=redact(s["resolution_note"]) if s["resolution_note"] else None,
                notes=tuple(redact(text) for text in s["notes"]),
            )
            for s in similar
        ],
        timeline=timeline[-30:],
        notes=[
            {"at": _iso(n.at), "author": str(n.data.get("author") or ""), "text": _clip(redact(n.text), 500)}
            for n in NoteRepository(conn).of_incident(incident_id)[-MAX_NOTES:]
        ],
    )


def dedupe_alerts(alerts: Sequence[Alert], redact: Callable[[str], str] = str) -> list[AlertFact]:
    """One fact per alert name (the newest one's text), most severe first, then firing first, newest first."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.alertname, []).append(alert)
    facts = []
    for alertname, members in groups.items():
        worst = min(members, key=lambda a: SEVERITY_RANK.get(a.severity, 9))
        newest = max(members, key=lambda a: (a.starts_at, a.id))
        summary = str(newest.annotations.get("summary") or newest.title)
        facts.append(
            AlertFact(
                alertname=alertname,
                summary=_clip(redact(summary)),
                description=_clip(redact(str(newest.annotations.get("description") or "")), 800),
                severity=worst.severity,
                firing=sum(a.status == AlertStatus.FIRING for a in members),
                resolved=sum(a.status == AlertStatus.RESOLVED for a in members),
                first_at=min(a.starts_at for a in members),
                last_at=newest.starts_at,
                labels=_common_labels(members, redact),
                runbook_url=_runbook_url(newest, redact),
                expression=newest.expression,
            )
        )
    facts.sort(key=lambda f: (SEVERITY_RANK.get(f.severity, 9), f.firing == 0, -f.last_at.timestamp()))
    return facts


def within_budget(facts: list[AlertFact], *, tokens: int) -> tuple[list[AlertFact], int]:
    """The leading facts that fit in ``tokens`` (always at least one), and how many were left out."""
    kept: list[AlertFact] = []
    used = 0
    for fact in facts:
        cost = len(json.dumps(fact.as_data(), ensure_ascii=False)) // CHARS_PER_TOKEN + 1
        if kept and used + cost > tokens:
            break
        kept.append(fact)
        used += cost
    return kept, len(facts) - len(kept)


NOT_IN_LIBRARY = (
    "linked from the alert's runbook_url; not in the runbook library, so no steps are taken from it"
)


def find_runbooks(
    facts: Sequence[AlertFact], library: RunbookLibrary | None, limit: int = 4
) -> list[RunbookRef]:
    """The runbook sections for the top alerts, linked ones first, each saying how it matched.

    For each of the first three alert names: the document its ``runbook_url`` links when the library holds
    it (its two best sections for the alert), then the library's documents that match it as well as
    ``MIN_RELEVANCE`` (the first with two sections, the next with one). A link the library does not hold is
    cited as the URL alone, with no excerpt, so no step can come from it. At most ``limit`` excerpts.
    """
    links: list[RunbookRef] = []  # URLs the library does not hold
    linked: list[RunbookRef] = []  # sections of documents the alerts link
    matched: list[RunbookRef] = []  # sections the library found
    seen: set[str] = set()
    first_of_name: dict[str, AlertFact] = {}
    for fact in facts:
        first_of_name.setdefault(fact.alertname, fact)
    for fact in list(first_of_name.values())[:3] if library is not None else []:
        suggestions = library.suggest(_query(fact), limit=3, min_relevance=MIN_RELEVANCE) if library else []
        for rank, suggestion in enumerate(suggestions):
            into = linked if suggestion.kind is MatchKind.LINKED else matched
            for section in suggestion.sections[: 2 if rank == 0 else 1]:
                if section.citation not in seen:
                    seen.add(section.citation)
                    excerpt = _clip(section.text, MAX_SECTION_CHARS)
                    into.append(RunbookRef(citation=section.citation, excerpt=excerpt, why=suggestion.why))
        if fact.runbook_url and any(s.kind is MatchKind.LINKED for s in suggestions):
            seen.add(fact.runbook_url)
    for fact in facts:
        if fact.runbook_url and fact.runbook_url not in seen:
            seen.add(fact.runbook_url)
            held = library.resolve(fact.runbook_url) if library is not None else None
            why = (
                f"linked from the alert's runbook_url (library document {held.file})"
                if held
                else NOT_IN_LIBRARY
            )
            links.append(RunbookRef(citation=fact.runbook_url, excerpt="", why=why))
    return [*linked, *links, *matched][: limit + len(links)]


def _query(fact: AlertFact) -> AlertQuery:
    return AlertQuery(
        alertname=fact.alertname,
        summary=fact.summary,
        description=fact.description,
        labels={key: value.removesuffix(" (and others)") for key, value in fact.labels.items()},
        expression=fact.expression,
        runbook_url=fact.runbook_url,
    )


# --- the prompt's data blocks -----------------------------------------------------------------


def person(user: str) -> str:
    """A Slack user id as a mention (``<@U123>``), shown as the person's name in Slack; a name as itself."""
    if user[:1] in "UW" and user[1:].isalnum() and user.isupper():
        return f"<@{user}>"
    return user


def quote(text: str) -> str:
    """Data for a ``<<<DATA … DATA>>>`` block: the delimiters cannot appear inside it."""
    return text.replace("<<<", "< < <").replace(">>>", "> > >")


def prompt_values(grounding: Grounding, *, max_words: int) -> dict[str, str]:
    """The template variables: each block is JSON lines, so no value can start a line of its own."""

    def lines(items: Sequence[Mapping[str, Any]]) -> str:
        return (
            quote("\n".join(json.dumps(item, ensure_ascii=False, default=str) for item in items)) or "(none)"
        )

    incident = {
        "id": grounding.incident_id,
        "title": grounding.title,
        "service": grounding.service,
        "status": grounding.status,
        "severity": grounding.severity,
        "opened_at": _iso(grounding.opened_at),
        "resolved_at": _iso(grounding.resolved_at),
        # A person as Slack shows them (write it as it is): never a raw id in a draft.
        "resolved_by": person(grounding.resolved_by) if grounding.resolved_by else "its alerts",
        "alert_count": grounding.alert_count,
        "firing_count": grounding.firing_count,
        "flapping": grounding.flapping,
        "alert_kinds_left_out": grounding.alerts_left_out,
    }
    explanation = [
        {"severity": grounding.severity, "confidence": round(grounding.confidence, 3)},
        *({"reason": r["text"], "weight": r["weight"]} for r in grounding.reasons[:6]),
    ]
    return {
        "incident_id": str(grounding.incident_id),
        "max_words": str(max_words),
        "incident": lines([incident]),
        "alerts": lines([fact.as_data() for fact in grounding.alerts]),
        "explanation": lines(explanation),
        "runbooks": lines(
            [
                {"cite": r.citation, "text": r.excerpt, **({"why": r.why} if r.why else {})}
                for r in grounding.runbooks
            ]
        ),
        "similar": lines(
            [
                {
                    "id": s.id,
                    "title": s.title,
                    "severity": s.severity,
                    "resolution_note": s.note,
                    **({"captured_notes": list(s.notes)} if s.notes else {}),
                }
                for s in grounding.similar
            ]
        ),
        "timeline": lines(grounding.timeline),
        "notes": lines(grounding.notes),
    }


def _common_labels(alerts: Sequence[Alert], redact: Callable[[str], str]) -> dict[str, str]:
    """The labels of the newest alert (secrets masked by key), values shared by all shown as they are."""
    newest = max(alerts, key=lambda a: (a.starts_at, a.id))
    out: dict[str, str] = {}
    for key, value in sorted(newest.labels.items()):
        if key == "alertname":
            continue
        shared = all(a.labels.get(key) == value for a in alerts)
        text = "[REDACTED:secret_label]" if _SECRET_FIELD.search(key) else _clip(redact(str(value)), 120)
        out[key] = text if shared or len(alerts) == 1 else f"{text} (and others)"
    return out


def _runbook_url(alert: Alert, redact: Callable[[str], str]) -> str | None:
    for key in _RUNBOOK_KEYS:
        value = alert.annotations.get(key) or (alert.links or {}).get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return redact(value)[:500]
    return None


def _clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
