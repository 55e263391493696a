"""Template drafts: deterministic text from the same grounding, for when no LLM may or can write (pure).

What fired, where, since when, the severity and why, the matching runbook sections (cited with how they
matched, never invented) and similar past incidents. The same grounding always gives the same text.
"""

from __future__ import annotations

from datetime import datetime

from analytics.records import TimelineKind
from bot.llm.grounding import Grounding, person

NO_RUNBOOK = "No matching runbook section was found; no steps are suggested."


def template_draft(kind: str, grounding: Grounding) -> str:
    if kind == "runbook":
        return "\n".join([_head(grounding), "", *_runbook_lines(grounding, excerpts=True)])
    if kind == "resolution":
        return _resolution(grounding)
    return _summary(grounding)


def _head(g: Grounding) -> str:
    where = f" · service {g.service}" if g.service else ""
    return (
        f"#{g.incident_id} {g.severity} [{g.status}] {g.title}{where} · since {_time(g.opened_at)}"
        f" · {g.alert_count} alert(s), {g.firing_count} firing{' · flapping' if g.flapping else ''}"
    )


def _summary(g: Grounding) -> str:
    lines = [_head(g), "", "What fired:"]
    lines += [
        f"  • {a.alertname} ×{a.firing + a.resolved} ({a.severity}, {a.firing} firing): {a.summary}"
        for a in g.alerts[:8]
    ]
    left_out = g.alerts_left_out + max(0, len(g.alerts) - 8)
    if left_out:
        lines.append(f"  • … and {left_out} more kind(s) of alert")
    lines += ["", f"Why {g.severity} (confidence {g.confidence:.2f}, {g.model_version or 'rules'}):"]
    lines += [f"  • {r['text']} ({_weight(r.get('weight'))})" for r in g.reasons[:4]] or [
        "  • no reasons recorded"
    ]
    lines += ["", *_runbook_lines(g, excerpts=False)]
    if g.notes:
        lines += ["", "Noted in the thread:"]
        lines += [f"  • {n['author'] or 'someone'}: {n['text']}" for n in g.notes[-3:]]
    if g.similar:
        lines += ["", "Similar past incidents:"]
        lines += [
            f"  • #{s.id} {s.severity} {s.title}" + (f" — resolved: {s.note}" if s.note else "")
            for s in g.similar
        ]
    return "\n".join(lines)


def _runbook_lines(g: Grounding, *, excerpts: bool) -> list[str]:
    """Each runbook cited with how it matched; a link sevbot cannot read is cited alone, with no steps."""
    if not g.runbooks:
        return [NO_RUNBOOK]
    lines = ["Runbook sections that match:"]
    for ref in g.runbooks:
        why = f" — {ref.why}" if ref.why else ""
        if not ref.excerpt:
            lines.append(f"  • linked runbook: {ref.citation}{why}")
            continue
        lines.append(f"  • [{ref.citation}]{why}")
        if excerpts:
            lines += [f"      {line}" for line in ref.excerpt.splitlines()[:6] if line.strip()]
    return lines


def _resolution(g: Grounding) -> str:
    lasted = (g.resolved_at - g.opened_at) if g.resolved_at else None
    by = f" by {person(g.resolved_by)}" if g.resolved_by else " (all its alerts resolved)"
    lines = [
        f"#{g.incident_id} resolved{by} at {_time(g.resolved_at)}"
        + (f" after {_duration(lasted.total_seconds())}" if lasted is not None else ""),
        f"{g.title}: {g.alert_count} alert(s), highest severity {g.severity}.",
    ]
    notes = [
        e["note"] for e in g.timeline if e.get("kind") == TimelineKind.INCIDENT_RESOLVED and e.get("note")
    ]
    if notes:
        lines.append(f"Resolution note: {notes[-1]}")
    lines.append("What fired: " + ", ".join(f"{a.alertname} ×{a.firing + a.resolved}" for a in g.alerts[:6]))
    return "\n".join(lines)


def _weight(value: object) -> str:
    return f"{value:+.2f}" if isinstance(value, int | float) else "?"


def _time(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "-"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
