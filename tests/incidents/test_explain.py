"""The severity model in the service: which scorer serves, the registry CLI, feedback → training → scoring,
promotion picked up without a restart, drift in /metrics, and "why" with similar past incidents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.incidents import explain as explain_module
from bot.incidents.actions import IncidentActions
from bot.incidents.explain import explain_incident, similar_incidents
from bot.normalize import normalize
from storage.feedback import FeedbackRepository
from storage.incident_reads import IncidentReads
from tests.support.clock import Clock
from tests.support.payloads import T0, am_alert, am_payload, body

GROUP_BY = ["alertname", "service|job", "namespace|cluster", "env"]


def ingest(services: Any, *alerts: dict[str, Any], group: str | None = None) -> list[int]:
    batch = normalize("alertmanager", body(am_payload(list(alerts), group_key=group)), GROUP_BY)
    result: list[int] = services.ingestor.ingest(batch).incidents
    return result


def test_why_names_similar_past_incidents_and_how_people_rated_them(services: Any) -> None:
    checkout = ingest(services, am_alert())[0]
    ingest(services, am_alert("DiskFull", service="billing", instance="db-1", severity="warning"))
    with services.db.write() as conn:
        FeedbackRepository(conn).add(
            incident_id=checkout,
            kind="noise",
            alertname="CheckoutHighErrorRate",
            user="U1",
            old_severity="SEV1",
            new_severity=None,
            reason=None,
            now=T0,
        )
        IncidentActions(conn).resolve(checkout, user="U1", at=T0, now=T0)
    later = ingest(
        services,
        am_alert(
            instance="checkout-7:8080", extra_labels={"env": "staging"}, starts_at=T0 + timedelta(hours=1)
        ),
        group="g2",
    )[0]
    assert later != checkout
    with services.db.read() as conn:
        why = explain_incident(conn, later)
        assert explain_incident(conn, 999) is None
    assert why is not None
    best = why["similar"][0]
    assert (best["id"], best["rated"]) == (checkout, "noise")


def test_similar_incidents_are_the_best_earlier_matches_with_their_latest_rating_and_resolution_note(
    services: Any, clock: Clock
) -> None:
    clock.now = T0 + timedelta(hours=6)
    summary = {"summary": "Checkout returns many 5xx"}

    def opened(hours: float, name: str = "CheckoutHighErrorRate", **kwargs: Any) -> int:
        alert = am_alert(name, starts_at=T0 + timedelta(hours=hours), annotations=summary, **kwargs)
        return ingest(services, alert, group=f"g{hours}")[0]

    alike = opened(0, instance="checkout-1:8080")
    nearly = opened(1, extra_labels={"region": "us-east"})
    unrelated = opened(2, "DiskFull", service="billing", instance="db-1", severity="warning")
    further = opened(2.5, extra_labels={"region": "us-east", "env": "staging", "zone": "b"})
    target = opened(3, instance="checkout-7:8080")
    opened(4, instance="checkout-7:8080")  # the same alert again, but later: not a past incident
    with services.db.write() as conn:
        actions = IncidentActions(conn)
        for level, hours in (("SEV4", 0.5), ("SEV3", 0.75)):  # people changed their minds: the latest counts
            at = T0 + timedelta(hours=hours)
            actions.set_severity(alike, severity=level, user="U1", at=at, now=at, reason=None)
        actions.resolve(alike, user="U1", at=T0 + timedelta(hours=1), now=clock.now, note="rolled back 42")
        for past in (nearly, further, unrelated):
            actions.resolve(past, user="U1", at=T0 + timedelta(hours=2.9), now=clock.now)

    with services.db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(target)
        assert incident is not None
        top_three = similar_incidents(reads, incident)
        best = similar_incidents(reads, incident, k=1)

    assert [s["id"] for s in top_three] == [alike, nearly, further]  # never itself, a later one, or DiskFull
    assert unrelated not in [s["id"] for s in top_three]
    assert best == top_three[:1]
    assert top_three[0] == {
        "id": alike,
        "title": "Checkout returns many 5xx",
        "severity": "SEV3",
        "status": "resolved",
        "rated": "SEV3",
        "resolution_note": "rolled back 42",
        "notes": [],
        "similarity": 1.0,  # the same words: instance and severity labels do not count
    }
    assert (top_three[1]["rated"], top_three[1]["resolution_note"], top_three[1]["status"]) == (
        None,
        None,
        "resolved",
    )
    similarities = [s["similarity"] for s in top_three]
    assert similarities == sorted(similarities, reverse=True) and similarities[1] < 1.0


def test_similar_incidents_leave_out_those_still_open_and_those_of_the_same_storm(services: Any) -> None:
    past = ingest(services, am_alert(instance="a", starts_at=T0 - timedelta(hours=3)), group="g0")[0]
    still_open = ingest(services, am_alert(instance="b", starts_at=T0 - timedelta(hours=2)), group="g1")[0]
    with services.db.write() as conn:
        IncidentActions(conn).resolve(past, user="U1", at=T0 - timedelta(hours=3), now=T0)
    primary = ingest(services, am_alert(instance="c"), group="g2")[0]
    target = ingest(services, am_alert(instance="d", starts_at=T0 + timedelta(seconds=3)), group="g3")[0]
    with services.db.write() as conn:  # its storm's primary, resolved quickly: still not a "past" incident
        IncidentActions(conn).resolve(primary, user="U1", at=T0 + timedelta(seconds=5), now=T0)

    with services.db.read() as conn:
        why = explain_incident(conn, target)

    assert why is not None
    assert [s["id"] for s in why["similar"]] == [past]  # not the open one, not its storm's primary
    assert still_open != past


def test_asking_why_again_ranks_once_and_a_new_candidate_ranks_again(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rankings: list[int] = []
    real = explain_module.most_similar

    def counted(target: str, texts: Any, *, k: int) -> Any:
        rankings.append(len(texts))
        return real(target, texts, k=k)

    monkeypatch.setattr(explain_module, "most_similar", counted)
    explain_module._most_similar.cache_clear()  # the same texts from another test would be answered
    first_one = ingest(services, am_alert(instance="a"), group="g1")[0]
    with services.db.write() as conn:
        IncidentActions(conn).resolve(first_one, user="U1", at=T0, now=T0)
    later = ingest(services, am_alert(instance="b", starts_at=T0 + timedelta(hours=1)), group="g2")[0]

    with services.db.read() as conn:
        first = explain_incident(conn, later)
        again = explain_incident(conn, later)
    earlier = ingest(services, am_alert(instance="c", starts_at=T0 - timedelta(hours=1)), group="g3")[0]
    with services.db.write() as conn:
        IncidentActions(conn).resolve(earlier, user="U1", at=T0, now=T0)
    with services.db.read() as conn:
        after = explain_incident(conn, later)

    assert first == again and first is not None and after is not None
    assert rankings == [1, 2]  # the second question was answered from the cache
    assert len(after["similar"]) == 2


def test_notes_captured_from_a_thread_make_incidents_alike_and_come_with_them(services: Any) -> None:
    """Two past incidents of the same service and alert words; what people said in the thread decides."""
    from analytics.records import NoteVia
    from storage.notes import NoteRepository

    past = []
    for group, instance in (("a", "s-1"), ("b", "s-2")):  # each resolved before the next: no one story
        past.append(
            ingest(services, am_alert("LatencyHigh", service="search", instance=instance), group=group)[0]
        )
        with services.db.write() as conn:
            IncidentActions(conn).resolve(past[-1], user="U1", at=T0, now=T0)
    first, second = past
    target = ingest(services, am_alert("LatencyHigh", service="search", instance="s-3"), group="c")[0]
    said = {
        first: "the elasticsearch heap filled up after the reindex job",
        second: "a noisy neighbour on the hypervisor stole cpu",
        target: "heap filled up again after reindex",
    }
    with services.db.write() as conn:
        for number, (incident, text) in enumerate(said.items()):
            NoteRepository(conn).add(
                incident,
                at=T0,
                actor="U1",
                data={
                    "note": text,
                    "author": "U1",
                    "channel": "C1",
                    "ts": f"{number}.0",
                    "via": NoteVia.REACTION,
                    "captured_by": "U1",
                },
                now=T0,
            )
    with services.db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(target)
        assert incident is not None
        [best] = similar_incidents(reads, incident, k=1)

    assert best["id"] == first  # without the notes both are equally alike; the newer would win
    assert best["notes"] == [said[first]]
