"""A postmortem draft as a Markdown document (pure): labelled a draft, the narrative, the record.

The narrative is the LLM's (``prompts/postmortem.md``) or, without one, the template's (summary,
people's actions and notes, follow-ups); the record after it (impact window, timeline, what fired, the
severity and why) is always sevbot's own, so the exact reasons and times never depend on the LLM.
Everything that came from alerts or people is escaped for Markdown (:func:`md`): one line, its special
characters backslashed, so a note cannot start a heading, inject a link, an image or HTML.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.llm.postmortem import PostmortemFacts, lasted

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")

PLACEHOLDER_FOLLOW_UPS = (
    "Root cause: what made {alertname} fire, and why then?",
    "Detection: did the alert fire early enough, and was {severity} the right severity?",
    "Response: what slowed the response down, and what helped?",
    "Prevention: which change keeps this from happening again? (owner, date)",
    "Runbook: add what helped to the runbook for {alertname}.",
)


def postmortem_document(facts: PostmortemFacts, *, label: str, narrative: str | None = None) -> str:
    """The Markdown document: the draft label, the narrative (the LLM's) or the template, the record."""
    head = [
        f"# Postmortem draft: incident #{facts.incident_id}, {md(facts.title)}",
        "",
        f"> **DRAFT** ({md(label)}), written by sevbot from its record of the incident."
        " Check every line before you share it: nobody has reviewed it yet.",
        "",
    ]
    if narrative is None:
        body = [*_summary(facts), *_record(facts), *_people(facts), *_follow_ups(facts)]
    else:
        body = [
            narrative.strip(),
            "",
            "---",
            "",
            "# The record (from sevbot's data, verbatim)",
            "",
            *_record(facts),
        ]
    return "\n".join([*head, *body]).rstrip() + "\n"


def _summary(f: PostmortemFacts) -> list[str]:
    where = f" on service {md(f.service)}" if f.service else ""
    kinds = len(f.rules)
    ended = (
        f"It was resolved {_time(f.resolved_at)} after {lasted(f)}."
        if f.resolved_at
        else "It is not resolved yet."
    )
    acked = (
        f" {_who(f.acknowledged_by)} acknowledged it {_time(f.acknowledged_at)}."
        if f.acknowledged_at
        else " Nobody acknowledged it."
    )
    return [
        "## Summary",
        "",
        f"A {f.severity} incident{where}: {md(f.title)}. {f.alert_count} alert(s) of {kinds} kind(s) fired,"
        f" the first {_time(f.first_alert_at)}.{acked} {ended}"
        + (" It was flapping." if f.flapping else "")
        + (f" {len(f.notes)} message(s) were captured from the thread." if f.notes else ""),
        "",
    ]


def _record(f: PostmortemFacts) -> list[str]:
    lines = [
        "## Impact window",
        "",
        f"- First alert: {_time(f.first_alert_at)}",
        f"- Acknowledged: {_time(f.acknowledged_at) if f.acknowledged_at else 'never'}",
        f"- Resolved: {_time(f.resolved_at) if f.resolved_at else 'not yet'}",
        f"- Duration: {lasted(f)}",
        "",
        "## Timeline",
        "",
    ]
    for m in f.timeline:
        who = f" by {_who(m.who)}" if m.who else ""
        words = f": {md(m.text)}" if m.text else ""
        lines.append(f"- {m.at:%Y-%m-%d %H:%M:%S} UTC: {md(m.what)}{who}{words}")
    if f.timeline_left_out:
        lines.append(f"- … {f.timeline_left_out} more alert event(s): GET /api/incidents/{f.incident_id}")
    lines += ["", "## What fired", ""]
    for r in f.rules:
        where = ", ".join(md(i) for i in r.instances) or "no instance label"
        more = f" and {r.instances_left_out} more" if r.instances_left_out else ""
        lines.append(
            f"- **{md(r.alertname)}** ×{r.count} ({r.severity}; {r.firing} firing, {r.resolved} resolved),"
            f" {_time(r.first_at)} to {_time(r.last_at)}: {md(r.summary)}. Instances: {where}{more}."
        )
        if r.expression:
            expression = " ".join(r.expression.replace("`", "'").split())
            lines.append(f"  Rule: `{expression}`")
    source = f"set by {f.severity_source}, confidence {f.confidence:.0%}, model {md(f.model_version or '-')}"
    lines += ["", "## Severity and why", "", f"{f.severity} ({source}). The reasons, as scored:", ""]
    lines += [f"- {md(r['text'])} ({r['weight']:+.2f})" for r in f.reasons] or ["- no reasons recorded"]
    return [*lines, ""]


def _people(f: PostmortemFacts) -> list[str]:
    lines = ["## People's actions and notes", ""]
    for m in f.people:
        words = f": {md(m.text)}" if m.text else ""
        lines.append(f"- {m.at:%H:%M} UTC {_who(m.who)}: {md(m.what)}{words}")
    return [*(lines if len(lines) > 2 else [*lines, "- nobody acted in Slack; no notes were captured"]), ""]


def _follow_ups(f: PostmortemFacts) -> list[str]:
    lines = ["## Follow-ups", ""]
    if f.follow_ups:
        lines += [f"- [ ] {md(text)}" for text in f.follow_ups]
    else:
        name = f.rules[0].alertname if f.rules else "the alert"
        lines.append("_No follow-up was noted in the thread; a list to start from:_")
        lines += [
            f"- [ ] {md(item.format(alertname=name, severity=f.severity))}" for item in PLACEHOLDER_FOLLOW_UPS
        ]
    return [*lines, ""]


def md(text: object) -> str:
    """Text from alerts or people made inert in Markdown: one line, its special characters escaped."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _who(user: str | None) -> str:
    return f"@{md(user)}" if user else "someone"


def _time(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "-"
