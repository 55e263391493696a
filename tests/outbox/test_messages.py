"""The outbox's message builders (bot/outbox/messages.py): which sink gets each row, the payload shapes, an
update's bounded changes with their true count, and how drafts are labelled. (Refused draft requests are in
tests/llm/test_requests.py.)"""

from __future__ import annotations

import pytest

from analytics.records import (
    Change,
    ChangeKind,
    DraftKind,
    DraftReason,
    DraftSource,
    OutboxKind,
    OutboxTopic,
    severity_change,
)
from bot.outbox.messages import (
    MAX_CHANGES,
    draft_label,
    draft_requested,
    incident_draft,
    incident_opened,
    incident_updated,
)
from storage.outbox import NewMessage


def joined(n: int) -> list[Change]:
    return [{"kind": ChangeKind.ALERT_JOINED, "alertname": f"A{i}", "title": f"alert {i}"} for i in range(n)]


def test_an_opened_incident_asks_slack_for_its_root_message() -> None:
    assert incident_opened(7) == NewMessage(OutboxTopic.SLACK, OutboxKind.INCIDENT_OPENED, 7, {})


def test_an_update_carries_its_changes_and_their_count() -> None:
    changes = [*joined(2), severity_change("SEV3", "SEV1", by="U1", reason="customers affected")]

    message = incident_updated(7, changes)

    assert (message.topic, message.kind, message.incident_id) == (
        OutboxTopic.SLACK,
        OutboxKind.INCIDENT_UPDATED,
        7,
    )
    assert message.payload == {"changes": changes, "count": 3}


def test_an_update_keeps_the_first_changes_up_to_the_limit_and_counts_them_all() -> None:
    changes = joined(MAX_CHANGES + 25)

    payload = incident_updated(7, changes).payload

    assert payload["count"] == MAX_CHANGES + 25
    assert payload["changes"] == changes[:MAX_CHANGES]
    assert len(changes) == MAX_CHANGES + 25  # the caller's list is left as it was


def test_an_update_of_exactly_the_limit_is_not_cut() -> None:
    payload = incident_updated(7, joined(MAX_CHANGES)).payload

    assert (len(payload["changes"]), payload["count"]) == (MAX_CHANGES, MAX_CHANGES)


def test_an_update_with_no_changes_says_so() -> None:
    assert incident_updated(7, []).payload == {"changes": [], "count": 0}


def test_a_draft_request_goes_to_the_llm_sink_with_its_kind_reason_and_asker() -> None:
    by_person = draft_requested(7, DraftKind.RUNBOOK, reason=DraftReason.COMMAND, requested_by="U42")
    automatic = draft_requested(7, DraftKind.SUMMARY, reason=DraftReason.OPENED)

    assert (by_person.topic, by_person.kind, by_person.incident_id) == (
        OutboxTopic.LLM,
        OutboxKind.DRAFT_REQUESTED,
        7,
    )
    assert by_person.payload == {"kind": "runbook", "reason": "command", "requested_by": "U42"}
    assert automatic.payload == {"kind": "summary", "reason": "opened", "requested_by": None}


def test_a_draft_request_given_plain_words_stores_the_vocabulary() -> None:
    payload = draft_requested(7, "resolution", reason="resolved").payload  # type: ignore[arg-type]

    assert payload["kind"] is DraftKind.RESOLUTION
    assert payload["reason"] is DraftReason.RESOLVED


@pytest.mark.parametrize(
    ("source", "model", "label"),
    [
        (DraftSource.LLM, "gpt-4o-mini", "AI draft (gpt-4o-mini)"),
        (DraftSource.LLM, None, "AI draft (unknown model)"),
        (DraftSource.TEMPLATE, None, "Template draft"),
        (DraftSource.TEMPLATE, "gpt-4o-mini", "Template draft"),  # a template is never called AI
    ],
)
def test_a_draft_is_always_labelled_as_an_ai_or_a_template_draft(
    source: DraftSource, model: str | None, label: str
) -> None:
    assert draft_label(source, model) == label


def test_a_draft_source_read_back_from_the_database_is_labelled_the_same() -> None:
    # The drafts table stores the plain word ("llm"), which equals the vocabulary's member.
    assert draft_label("llm", "gpt-4o-mini") == "AI draft (gpt-4o-mini)"  # type: ignore[arg-type]
    assert draft_label("template", None) == "Template draft"  # type: ignore[arg-type]


def test_a_finished_draft_goes_to_slack_with_its_label_and_text() -> None:
    message = incident_draft(
        7,
        draft_id=3,
        kind=DraftKind.SUMMARY,
        source=DraftSource.LLM,
        model="gpt-4o-mini",
        text="Checkout errors are high.",
        requested_by="U42",
    )

    assert (message.topic, message.kind, message.incident_id) == (
        OutboxTopic.SLACK,
        OutboxKind.INCIDENT_DRAFT,
        7,
    )
    assert message.payload == {
        "draft_id": 3,
        "kind": "summary",
        "source": "llm",
        "model": "gpt-4o-mini",
        "label": "AI draft (gpt-4o-mini)",
        "text": "Checkout errors are high.",
        "requested_by": "U42",
    }


@pytest.mark.parametrize(("kind", "source"), [("poem", "llm"), ("summary", "oracle")])
def test_a_finished_draft_of_an_unknown_kind_or_source_is_refused_by_name(kind: str, source: str) -> None:
    with pytest.raises(ValueError, match=r"poem|oracle"):
        incident_draft(
            7,
            draft_id=3,
            kind=kind,  # type: ignore[arg-type]
            source=source,  # type: ignore[arg-type]
            model=None,
            text="x",
            requested_by=None,
        )
