"""The postmortem document (pure): labelled a draft, people's words inert in Markdown, follow-ups."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from analytics.records import TimelineKind
from bot.llm.postmortem import FiredRule, Moment, PostmortemFacts
from bot.llm.postmortem_markdown import md, postmortem_document

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOSTILE = "# Heading\n![img](http://x/i.png) <script>alert(1)</script> [link](http://evil) `code` *bold*"


def facts(notes: list[str], *, resolved: bool = True) -> PostmortemFacts:
    moments = [
        Moment(T0 + timedelta(minutes=i), "note", "U0BOB", text, TimelineKind.NOTE_ADDED)
        for i, text in enumerate(notes)
    ]
    rule = FiredRule("DiskFull", "SEV2", 3, 0, 3, "disk 95% on db-1", ["db-1"], 0, "disk_used > 0.95", T0, T0)
    return PostmortemFacts(
        incident_id=7,
        title="Disk full <!channel>",
        service="db",
        status="resolved" if resolved else "open",
        severity="SEV2",
        severity_source="rules",
        confidence=0.9,
        model_version=None,
        reasons=[{"text": "source says critical", "weight": 0.61}],
        opened_at=T0,
        first_alert_at=T0,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=T0 + timedelta(minutes=95) if resolved else None,
        alert_count=3,
        flapping=False,
        rules=[rule],
        timeline=moments,
        timeline_left_out=0,
        notes=moments,
        follow_ups=[n for n in notes if "TODO" in n],
    )


def test_peoples_words_cannot_make_markup_in_the_document() -> None:
    text = postmortem_document(facts([HOSTILE]), label="Template draft")

    assert md(HOSTILE) == (
        "# Heading !\\[img\\](http://x/i.png) \\<script\\>alert(1)\\</script\\> \\[link\\](http://evil)"
        " \\`code\\` \\*bold\\*"
    )
    assert md(HOSTILE) in text
    assert not re.search(r"(?<!\\)<script|(?<!\\)\]\(|(?<!\\)!\[", text)  # no tag, link or image
    assert "\n# Heading" not in text  # one line: no heading of its own
    assert text.startswith("# Postmortem draft: incident #7, Disk full \\<!channel\\>\n")


def test_the_record_has_the_window_the_rules_and_the_exact_reasons() -> None:
    text = postmortem_document(facts([]), label="Template draft")

    assert "- First alert: 2026-11-20 08:00 UTC" in text and "- Duration: 1 h 35 min" in text
    assert "- **DiskFull** ×3 (SEV2; 0 firing, 3 resolved)" in text and "Rule: `disk_used > 0.95`" in text
    assert "- source says critical (+0.61)" in text
    assert "- nobody acted in Slack; no notes were captured" in text


def test_follow_ups_come_from_the_notes_else_a_placeholder_list() -> None:
    noted = postmortem_document(facts(["TODO alert on inode use", "looked fine"]), label="Template draft")
    placeholder = postmortem_document(facts(["looked fine"], resolved=False), label="Template draft")

    assert noted.split("## Follow-ups\n\n", 1)[1] == "- [ ] TODO alert on inode use\n"
    assert "_No follow-up was noted in the thread; a list to start from:_" in placeholder
    assert "- [ ] Root cause: what made DiskFull fire, and why then?" in placeholder
    assert "- Duration: ongoing" in placeholder and "It is not resolved yet." in placeholder


def test_an_llm_narrative_comes_first_and_the_record_follows_verbatim() -> None:
    text = postmortem_document(facts([]), label="AI draft (m)", narrative="## Summary\nIt broke.\n")

    assert "> **DRAFT** (AI draft (m))" in text
    assert text.index("## Summary\nIt broke.") < text.index("# The record (from sevbot's data, verbatim)")
    assert "- source says critical (+0.61)" in text and "## Follow-ups" not in text
