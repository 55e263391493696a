"""Grounding: what drafts are built from (alerts, why, runbook sections, similar incidents), the template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.records import TimelineKind
from bot.llm.fallback import NO_RUNBOOK
from bot.llm.grounding import NOT_IN_LIBRARY, AlertFact, build_grounding, find_runbooks, within_budget
from bot.llm.runbooks import RunbookLibrary
from storage.incident_rows import NewEvent
from storage.incidents import IncidentRepository
from tests.support.clock import Clock
from tests.support.fake_llm import FakeLLM
from tests.support.llm import Bot, running_bot
from tests.support.payloads import T0, am_alert

RUNBOOK = """# CheckoutHighErrorRate

## Diagnosis

Look at the checkout error dashboard and the last deploy.

## Mitigation

Roll back the last checkout deploy.
"""


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    (folder / "checkout").mkdir(parents=True)
    (folder / "checkout" / "CheckoutHighErrorRate.md").write_text(RUNBOOK, encoding="utf-8")
    (folder / "disk.md").write_text("# Disk\n\n## Full disk\n\nDelete old logs.\n", encoding="utf-8")
    return folder


def resolved_before(bot: Bot, note: str) -> None:
    """A past CheckoutHighErrorRate incident, resolved with a note."""
    past = am_alert(starts_at=T0 - timedelta(days=3))
    bot.alert(past, group_key="past")
    bot.alert({**past, "status": "resolved", "endsAt": "2026-11-17T09:00:00Z"}, group_key="past")
    with bot.services.db.write() as conn:
        IncidentRepository(conn).add_events(
            [
                NewEvent(
                    incident_id=1,
                    at=T0 - timedelta(days=2),
                    kind=TimelineKind.INCIDENT_RESOLVED,
                    actor="U1",
                    data={"note": note},
                    created_at=T0,
                )
            ]
        )


def ask(bot: Bot, kind: str) -> None:
    from bot.llm import request_draft

    with bot.services.db.write() as conn:
        request_draft(conn, 2, kind, reason="command", requested_by=None, now=bot.clock())  # type: ignore[arg-type]


def test_the_template_cites_runbook_sections_and_similar_incidents(
    tmp_path: Path, database_url: str, clock: Clock, runbooks: Path
) -> None:
    with running_bot(tmp_path, database_url, clock, runbooks_dir=runbooks) as bot:
        resolved_before(bot, "rolled back deploy 4411")
        bot.alert(am_alert(annotations={"summary": "checkout 5xx above 5%", "runbook_url": "https://rb/x"}))
        bot.run()
        ask(bot, "runbook")
        bot.run()
        summary, runbook = [d.text for d in bot.drafts() if d.incident_id == 2]

    assert (
        "  • [checkout/CheckoutHighErrorRate.md § Diagnosis] — named after the alert CheckoutHighErrorRate"
        in summary
    )
    assert f"  • linked runbook: https://rb/x — {NOT_IN_LIBRARY}" in summary
    assert (
        "  • #1 SEV1 CheckoutHighErrorRate on checkout-1:8080 — resolved: rolled back deploy 4411" in summary
    )
    assert "Why SEV1 (confidence" in summary and "source says critical (+1.00)" in summary
    assert "      Roll back the last checkout deploy." in runbook
    assert "disk.md" not in summary + runbook


def test_the_prompt_carries_the_sections_with_their_citations(
    tmp_path: Path, database_url: str, clock: Clock, runbooks: Path, llm: FakeLLM
) -> None:
    settings: dict[str, Any] = {"openai_base_url": llm.base_url, "llm_model": "m", "runbooks_dir": runbooks}
    with running_bot(tmp_path, database_url, clock, **settings) as bot:
        resolved_before(bot, "rolled back deploy 4411")
        bot.alert(am_alert())
        bot.run()

    [user] = [r.messages[1]["content"] for r in llm.requests if "summary of incident #2" in r.text]
    assert '"cite": "checkout/CheckoutHighErrorRate.md § Diagnosis"' in user
    assert '"why": "named after the alert CheckoutHighErrorRate' in user
    assert "Look at the checkout error dashboard" in user
    assert '"resolution_note": "rolled back deploy 4411"' in user


def test_with_no_matching_runbook_the_draft_says_so(tmp_path: Path, database_url: str, clock: Clock) -> None:
    with running_bot(tmp_path, database_url, clock) as bot:
        bot.alert(am_alert("QueueBacklog", service="orders"))
        bot.run()
        with bot.services.db.write() as conn:
            from bot.llm import request_draft

            request_draft(conn, 1, "runbook", reason="command", requested_by=None, now=clock())
        bot.run()
        [_, runbook] = bot.drafts()

    assert runbook.text.endswith(NO_RUNBOOK)


def test_alerts_are_deduplicated_most_severe_first_and_cut_to_the_budget(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    alerts = [am_alert("Noisy", instance=f"n{i}", severity="info") for i in range(40)]
    alerts += [am_alert("Critical", instance="c1", annotations={"summary": "the one that matters"})]
    alerts += [
        am_alert(f"Other{i}", severity="warning", annotations={"summary": "x" * 200}) for i in range(30)
    ]
    with running_bot(tmp_path, database_url, clock) as bot:
        bot.alert(*alerts, group_key="storm")
        with bot.services.db.read() as conn:
            grounding = build_grounding(conn, 1, library=None, context_tokens=600)

    assert grounding is not None
    assert grounding.alerts[0].alertname == "Critical"
    assert [(a.alertname, a.firing) for a in grounding.alerts[:2]] == [("Critical", 1), ("Other0", 1)]
    assert [(a.firing, a.labels["instance"]) for a in grounding.alerts if a.alertname == "Noisy"] in (
        [],
        [(40, "n39 (and others)")],
    )
    assert grounding.alerts_left_out > 0
    assert len(grounding.alerts) + grounding.alerts_left_out == 1 + 30 + 1


def test_within_budget_keeps_at_least_one_fact() -> None:
    assert within_budget([], tokens=10) == ([], 0)


# --- find_runbooks: what the draft cites, on a library written here ---------------------------------------

LIBRARY = RunbookLibrary(
    [
        (
            "payments/README.md",
            "# Payments\n\nThe payment API and its workers.\n\n## Rollback\n\nRedeploy the last tag.\n",
        ),
        ("payments/ledger.md", "# Ledger\n\n## Reconciliation\n\nRun the nightly reconciliation by hand.\n"),
        ("disk.md", "# Disk\n\n## Full disk\n\nDelete old logs.\n"),
    ]
)


def fact(name: str, *, runbook_url: str | None = None, **labels: str) -> AlertFact:
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    return AlertFact(
        alertname=name,
        summary="Error ratio above its SLO",
        description="",
        severity="SEV2",
        firing=1,
        resolved=0,
        first_at=at,
        last_at=at,
        labels=labels,
        runbook_url=runbook_url,
    )


def test_a_linked_runbook_in_the_library_is_cited_first_with_its_sections() -> None:
    refs = find_runbooks(
        [fact("ErrorBudgetBurn", runbook_url="https://wiki.example/payments/ledger.md")], LIBRARY
    )

    assert [(r.citation, r.why.split(";")[0]) for r in refs[:1]] == [
        ("payments/ledger.md § Reconciliation", "linked from the alert's runbook_url")
    ]
    assert refs[0].excerpt == "Run the nightly reconciliation by hand."


def test_a_linked_runbook_outside_the_library_is_cited_as_a_link_with_no_steps() -> None:
    refs = find_runbooks(
        [fact("ErrorBudgetBurn", runbook_url="https://wiki.example/checkout/slo.md")], LIBRARY
    )

    assert [(r.citation, r.excerpt, r.why) for r in refs] == [
        ("https://wiki.example/checkout/slo.md", "", NOT_IN_LIBRARY)
    ]


def test_the_services_document_is_cited_saying_which_label_named_the_service() -> None:
    refs = find_runbooks([fact("ErrorBudgetBurn", service="payments", job="payments-api")], LIBRARY)

    assert [r.citation for r in refs][:2] == [
        "payments/README.md § Payments",
        "payments/README.md § Rollback",
    ]
    assert refs[0].why.startswith("runbook for service payments (label service)")
    assert all("disk.md" not in r.citation for r in refs)
