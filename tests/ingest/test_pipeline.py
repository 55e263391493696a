"""Ingestion as behaviour, on SQLite and PostgreSQL: dedup, grouping, resolve, reopen, flapping, atomicity."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from analytics.records import AlertRecord
from analytics.scoring import RuleScorer, Score, ScoringContext
from bot.bootstrap import Services
from bot.ingest.pipeline import IngestResult
from bot.normalize import normalize
from storage.incident_reads import IncidentReads
from storage.models import Alert, OutboxMessage
from tests.support.db import row_counts
from tests.support.payloads import T0, am_alert, am_payload, body

GROUP_BY = ["alertname", "service|job", "namespace|cluster", "env"]


def send(services: Services, source: str, payload: Any) -> IngestResult:
    return services.ingestor.ingest(normalize(source, body(payload), GROUP_BY))


def incident(services: Services, incident_id: int) -> Any:
    with services.db.read() as conn:
        return IncidentReads(conn).get(incident_id)


def timeline_kinds(services: Services, incident_id: int) -> list[str]:
    with services.db.read() as conn:
        return [e.kind for e in IncidentReads(conn).timeline_of(incident_id)]


def outbox(services: Services) -> list[tuple[str, int | None, dict[str, Any]]]:
    with services.db.read() as conn:
        rows = conn.execute(
            select(OutboxMessage.kind, OutboxMessage.incident_id, OutboxMessage.payload)
            .where(OutboxMessage.topic == "slack")  # the LLM draft requests are tested in tests/llm
            .order_by(OutboxMessage.id)
        )
        return [(r.kind, r.incident_id, r.payload) for r in rows]


def test_first_alert_opens_an_incident_with_timeline_and_one_outbox_row(services: Services) -> None:
    result = send(services, "alertmanager", am_payload([am_alert()]))

    assert (result.accepted, result.duplicates, len(result.opened)) == (1, 0, 1)
    opened = incident(services, result.opened[0])
    assert opened.status == "open"
    assert opened.severity == "SEV1"
    assert opened.service == "checkout"
    assert opened.opened_at == T0
    assert (opened.alert_count, opened.firing_count) == (1, 1)
    assert timeline_kinds(services, opened.id) == ["incident.opened", "alert.firing"]
    assert outbox(services) == [("incident.opened", opened.id, {})]


def test_the_same_alert_again_is_a_duplicate_counted_and_nothing_else(services: Services) -> None:
    payload = am_payload([am_alert()])
    first = send(services, "alertmanager", payload)
    before = row_counts(services.db)

    again = send(services, "alertmanager", payload)

    assert (again.accepted, again.duplicates, again.opened) == (0, 1, [])
    assert row_counts(services.db) == before
    with services.db.read() as conn:
        assert conn.execute(select(Alert.duplicates)).scalar_one() == 1
    assert incident(services, first.opened[0]).alert_count == 1


def test_alerts_of_one_group_join_its_incident_in_one_outbox_update(services: Services) -> None:
    first = send(services, "alertmanager", am_payload([am_alert(instance="a")]))
    more = [am_alert(instance=f"b{i}", starts_at=T0 + timedelta(minutes=1)) for i in range(20)]

    result = send(services, "alertmanager", am_payload(more))

    assert result.opened == []
    assert result.incidents == first.opened
    assert incident(services, first.opened[0]).alert_count == 21
    updates = [row for row in outbox(services) if row[0] == "incident.updated"]
    assert len(updates) == 1
    assert updates[0][2]["count"] == 20


def test_incident_resolves_only_when_all_its_alerts_resolve(services: Services) -> None:
    a, b = am_alert(instance="a"), am_alert(instance="b")
    opened = send(services, "alertmanager", am_payload([a, b])).opened[0]

    send(
        services, "alertmanager", am_payload([{**a, "status": "resolved", "endsAt": "2026-11-20T08:05:00Z"}])
    )
    assert incident(services, opened).status == "open"

    send(
        services, "alertmanager", am_payload([{**b, "status": "resolved", "endsAt": "2026-11-20T08:09:00Z"}])
    )
    resolved = incident(services, opened)
    assert resolved.status == "resolved"
    assert resolved.resolved_at == T0 + timedelta(minutes=9)
    assert resolved.firing_count == 0
    assert timeline_kinds(services, opened)[-2:] == ["alert.resolved", "incident.resolved"]


def _fire_and_resolve(services: Services, start: timedelta, end: timedelta) -> IngestResult:
    alert = am_alert(starts_at=T0 + start)
    send(services, "alertmanager", am_payload([alert]))
    resolved = {**alert, "status": "resolved", "endsAt": (T0 + end).isoformat()}
    return send(services, "alertmanager", am_payload([resolved]))


def test_firing_again_within_the_reopen_window_reopens_the_incident(services: Services) -> None:
    first = _fire_and_resolve(services, timedelta(0), timedelta(minutes=10)).incidents[0]

    again = send(services, "alertmanager", am_payload([am_alert(starts_at=T0 + timedelta(minutes=39))]))

    assert again.opened == []
    assert again.incidents == [first]
    reopened = incident(services, first)
    assert (reopened.status, reopened.resolved_at) == ("open", None)
    assert timeline_kinds(services, first)[-2:] == ["incident.reopened", "alert.refired"]
    assert outbox(services)[-1][2]["changes"][0] == {"kind": "incident.reopened"}


def test_firing_again_after_the_reopen_window_opens_a_new_incident(services: Services) -> None:
    first = _fire_and_resolve(services, timedelta(0), timedelta(minutes=10)).incidents[0]

    again = send(services, "alertmanager", am_payload([am_alert(starts_at=T0 + timedelta(minutes=41))]))

    assert len(again.opened) == 1
    assert again.opened[0] != first
    assert incident(services, first).status == "resolved"


def test_many_state_changes_within_the_window_flag_the_incident_as_flapping(services: Services) -> None:
    # Each cycle is two state changes (resolved, fired again); the default flags more than 6 in an hour.
    incident_id = None
    for cycle in range(4):
        result = _fire_and_resolve(services, timedelta(minutes=10 * cycle), timedelta(minutes=10 * cycle + 5))
        incident_id = result.incidents[0]
        assert incident(services, incident_id).flapping is (cycle == 3)
    assert incident_id is not None
    assert timeline_kinds(services, incident_id).count("incident.flapping") == 1
    assert {"kind": "incident.flapping"} in outbox(services)[-1][2]["changes"]


def test_many_alerts_of_one_group_resolving_together_is_not_flapping(services: Services) -> None:
    alerts = [am_alert(instance=f"checkout-{i}:8080") for i in range(12)]
    incident_id = send(services, "alertmanager", am_payload(alerts)).opened[0]
    resolved = [
        {**a, "status": "resolved", "endsAt": (T0 + timedelta(minutes=5)).isoformat()} for a in alerts
    ]

    send(services, "alertmanager", am_payload(resolved))

    after = incident(services, incident_id)
    assert (after.status, after.flapping) == ("resolved", False)
    assert "incident.flapping" not in timeline_kinds(services, incident_id)


def test_an_incident_resolving_and_reopening_again_and_again_flaps_even_with_new_alerts(
    services: Services,
) -> None:
    # A different alert each cycle, so no single alert flaps; the incident itself changes state 7 times.
    incident_id = None
    for cycle in range(4):
        alert = am_alert(instance=f"checkout-{cycle}:8080", starts_at=T0 + timedelta(minutes=10 * cycle))
        send(services, "alertmanager", am_payload([alert]))
        resolved = {
            **alert,
            "status": "resolved",
            "endsAt": (T0 + timedelta(minutes=10 * cycle + 5)).isoformat(),
        }
        incident_id = send(services, "alertmanager", am_payload([resolved])).incidents[0]
        assert incident(services, incident_id).flapping is (cycle == 3)


def test_a_more_severe_alert_raises_the_incident_severity(services: Services) -> None:
    opened = send(services, "alertmanager", am_payload([am_alert(instance="a", severity="warning")])).opened[
        0
    ]
    assert incident(services, opened).severity == "SEV3"

    send(services, "alertmanager", am_payload([am_alert(instance="b", severity="critical")]))

    assert incident(services, opened).severity == "SEV1"
    assert "severity.changed" in timeline_kinds(services, opened)


def test_without_a_group_key_alerts_group_by_the_configured_labels(services: Services) -> None:
    def generic(service: str, host: str) -> dict[str, Any]:
        return {"title": "Disk almost full", "labels": {"service": service, "env": "prod", "host": host}}

    first = send(services, "generic", {"alerts": [generic("db", "h1"), generic("db", "h2")]})
    other = send(services, "generic", generic("cache", "h1"))

    assert len(first.opened) == 1
    assert len(other.opened) == 1
    assert incident(services, first.opened[0]).alert_count == 2


def test_generic_alert_without_start_time_continues_the_firing_one(services: Services) -> None:
    alert = {"title": "Queue backlog", "dedup_key": "queue-orders", "severity": "P2"}
    first = send(services, "generic", alert)

    again = send(services, "generic", alert)
    resolved = send(services, "generic", {**alert, "status": "resolved"})

    assert again.duplicates == 1
    assert resolved.incidents == first.opened
    assert incident(services, first.opened[0]).status == "resolved"
    assert incident(services, first.opened[0]).severity == "SEV2"


def test_a_resolution_for_an_alert_never_seen_firing_is_kept_but_not_announced(services: Services) -> None:
    alert = am_alert(status="resolved", ends_at=T0 + timedelta(minutes=3))

    result = send(services, "alertmanager", am_payload([alert]))

    assert result.opened == []
    assert incident(services, result.incidents[0]).status == "resolved"
    assert outbox(services) == []


class FailingScorer:
    """Scores normally, then fails on the n-th alert: a crash half-way through a batch."""

    version = "failing"

    def __init__(self, fail_at: int) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("scorer crashed")
        return RuleScorer().score(alert, context)


def test_a_failure_half_way_through_a_batch_writes_nothing(services: Services) -> None:
    services.scorer.current = FailingScorer(fail_at=3)
    alerts = [am_alert(name=f"Alert{i}", instance=str(i)) for i in range(5)]

    with pytest.raises(RuntimeError):
        send(services, "alertmanager", am_payload(alerts, group_key="g"))

    assert row_counts(services.db) == {"incidents": 0, "alerts": 0, "timeline_events": 0, "outbox": 0}


def test_concurrent_posts_for_one_group_give_one_incident(services: Services) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[IngestResult] = []
    errors: list[BaseException] = []

    def post(i: int) -> None:
        payload = am_payload([am_alert(instance=f"host-{i}-{j}") for j in range(5)])
        barrier.wait()
        try:
            results.append(send(services, "alertmanager", payload))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=post, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert sum(len(r.opened) for r in results) == 1
    assert {i for r in results for i in r.incidents} == {results[0].incidents[0]}
    assert incident(services, results[0].incidents[0]).alert_count == threads * 5


def test_text_postgresql_would_refuse_is_cleaned_before_storage(services: Services) -> None:
    alert = am_alert(
        extra_labels={"pod": "web\x00-1"}, annotations={"summary": "bad \x00 byte", "note": "z" * 9000}
    )

    result = send(services, "alertmanager", am_payload([alert]))

    with services.db.read() as conn:
        stored = IncidentReads(conn).alerts_of(result.opened[0])[0]
    assert stored.labels["pod"] == "web-1"
    assert stored.title == "bad  byte"
    assert len(stored.annotations["note"]) == 4096


class RecordingScorer:
    """The rule scorer, remembering the context each alert was scored with."""

    version = "rules-recording"

    def __init__(self) -> None:
        self.contexts: dict[str, ScoringContext] = {}

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        self.contexts[alert.labels["instance"]] = context
        return RuleScorer().score(alert, context)


def test_alerts_are_scored_with_their_context(services: Services) -> None:
    from bot.settings import ServiceConfig
    from storage.feedback import FeedbackRepository

    scorer = RecordingScorer()
    services.scorer.current = scorer
    services.ingestor.context.catalog = {"checkout": ServiceConfig(criticality="critical")}
    first = send(
        services, "alertmanager", am_payload([am_alert(instance="old", starts_at=T0 - timedelta(minutes=30))])
    )
    with services.db.write() as conn:
        for user in ("U1", "U2"):  # two people agree: a rating live scoring uses
            FeedbackRepository(conn).add(
                incident_id=first.opened[0],
                kind="severity",
                alertname="CheckoutHighErrorRate",
                user=user,
                old_severity="SEV1",
                new_severity="SEV2",
                reason="only one region",
                now=T0,
            )
    services.ingestor.context = type(services.ingestor.context)(catalog=services.ingestor.context.catalog)

    burst = [am_alert(instance=f"i{n}", starts_at=T0 - timedelta(minutes=2)) for n in range(3)]
    send(services, "alertmanager", am_payload(burst))

    third = scorer.contexts["i2"]
    assert third.service_criticality == "critical"
    assert (third.group_alerts_5m, third.group_alerts_60m) == (2, 3)
    assert (third.service_alerts_5m, third.service_alerts_60m) == (2, 3)
    assert third.past_ratings == {"SEV2": 2}
    assert scorer.contexts["old"].group_alerts_60m == 0
