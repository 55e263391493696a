"""Silencing an incident: which matchers, where the silence goes, what is recorded, and what is not when the
source is down (real SQL, the silence API stand-in over real HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from analytics.records import SilenceTarget
from bot.bootstrap import Services
from bot.errors import IncidentNotFound, SilenceApiFailed
from bot.incidents.silence_api import GRAFANA_PREFIX, Matcher, SilenceApi
from bot.incidents.silences import (
    IncidentSilences,
    NothingToMatch,
    common_labels,
    incident_matchers,
)
from bot.normalize import normalize
from storage.models import Silence, TimelineEvent
from storage.slack import SilenceRepository
from tests.support.clock import Clock
from tests.support.fake_alertmanager import FakeAlertmanager
from tests.support.payloads import am_alert, body, generic_alert, grafana_payload
from tests.support.processes import free_port
from tests.support.slack import fire

HOUR = timedelta(hours=1)


@pytest.fixture
def am() -> Iterator[FakeAlertmanager]:
    with FakeAlertmanager().running() as fake:
        yield fake


def desk(services: Services, url: str | None) -> IncidentSilences:
    apis = {}
    if url is not None:
        apis[SilenceTarget.ALERTMANAGER] = SilenceApi(
            target=SilenceTarget.ALERTMANAGER, base_url=url, timeout=10.0
        )
    return IncidentSilences(db=services.db, apis=apis)


def silence(silences: IncidentSilences, clock: Clock, incident_id: int = 1, comment: str | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run(
        silences.silence_incident(
            incident_id,
            duration=HOUR,
            user="U0ALICE",
            creator="Alice (Slack U0ALICE)",
            comment=comment,
            now=clock(),
        )
    )


def silence_rows(services: Services) -> list[Silence]:
    with services.db.read() as conn:
        return [Silence(**r._mapping) for r in conn.execute(select(Silence).order_by(Silence.id))]


def events(services: Services, kind: str) -> list[TimelineEvent]:
    with services.db.read() as conn:
        rows = conn.execute(select(TimelineEvent).where(TimelineEvent.kind == kind))
        return [TimelineEvent(**r._mapping) for r in rows]


# --- which matchers (pure) ----------------------------------------------------------------------


def test_common_labels_are_those_every_alert_has_with_one_value() -> None:
    sets = [
        {"alertname": "NodeDown", "job": "node", "instance": "a:9100", "severity": "critical"},
        {"alertname": "NodeDown", "job": "node", "instance": "b:9100", "severity": "warning"},
        {"alertname": "NodeDown", "job": "node", "instance": "c:9100"},
    ]
    assert common_labels(sets) == {"alertname": "NodeDown", "job": "node"}
    assert common_labels([]) == {}


def test_matchers_are_equalities_alertname_first_and_leave_out_values_that_may_have_been_cut() -> None:
    labels = {"job": "node", "alertname": "NodeDown", "long": "x" * 4096, "empty": ""}
    assert incident_matchers(
        labels, target=SilenceTarget.ALERTMANAGER, alertname="NodeDown", service=None
    ) == [
        Matcher("alertname", "NodeDown"),
        Matcher("job", "node"),
    ]


def test_sevbot_local_matchers_use_sevbots_facts_for_alertname_service_and_severity() -> None:
    labels = {"alertname": "NodeDown", "severity": "critical", "service": "x", "env": "prod"}
    found = incident_matchers(labels, target=SilenceTarget.SEVBOT, alertname="NodeDown", service="checkout")
    assert [m.as_sevbot() for m in found] == [
        {"name": "alertname", "op": "=", "value": "NodeDown"},
        {"name": "env", "op": "=", "value": "prod"},
        {"name": "service", "op": "=", "value": "checkout"},
    ]


# --- at the source ------------------------------------------------------------------------------


def test_an_alertmanager_incident_is_silenced_in_alertmanager_and_recorded(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    fire(services, am_alert(instance="web-1:9100"), am_alert(instance="web-2:9100"))

    created = silence(desk(services, am.url), clock, comment="deploying the fix")

    [remote] = am.active()
    assert remote["id"] == created.remote_id and created.target is SilenceTarget.ALERTMANAGER
    names = [m["name"] for m in remote["matchers"]]
    assert names[0] == "alertname" and "instance" not in names  # the two alerts' instances differ
    assert {"job", "service", "env", "severity"} <= set(names)
    assert remote["createdBy"] == "Alice (Slack U0ALICE)"
    assert remote["comment"].startswith("deploying the fix (sevbot incident #1: ")
    [row] = silence_rows(services)
    assert (row.target, row.remote_id, row.incident_id, row.created_by) == (
        "alertmanager",
        created.remote_id,
        1,
        "U0ALICE",
    )
    assert row.expires_at == clock() + HOUR
    [event] = events(services, "silence.added")
    assert event.actor == "U0ALICE" and event.data["remote_id"] == created.remote_id
    with services.db.read() as conn:  # it does not mute sevbot's own posts: Alertmanager does the muting
        assert SilenceRepository(conn).active(clock()) == []


def test_alertmanager_down_gives_a_failure_and_records_nothing(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    with pytest.raises(SilenceApiFailed, match="cannot reach"):
        silence(desk(services, f"http://127.0.0.1:{free_port()}"), clock)
    assert silence_rows(services) == [] and events(services, "silence.added") == []


def test_an_error_answer_records_nothing_either(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    fire(services, am_alert())
    am.fail_next(503, '"unavailable"')
    with pytest.raises(SilenceApiFailed, match="HTTP 503"):
        silence(desk(services, am.url), clock)
    assert silence_rows(services) == [] and am.active() == []


def test_without_alertmanager_configured_the_silence_is_sevbots_own(services: Services, clock: Clock) -> None:
    fire(services, am_alert())
    created = silence(desk(services, None), clock)
    assert created.target is SilenceTarget.SEVBOT and created.remote_id is None
    with services.db.read() as conn:
        [active] = SilenceRepository(conn).active(clock())  # it mutes sevbot's posts
    assert active.incident_id == 1
    assert {"name": "alertname", "op": "=", "value": "CheckoutHighErrorRate"} in active.matchers


def test_a_generic_incident_is_silenced_in_sevbot_even_with_alertmanager_configured(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    services.ingestor.ingest(normalize("generic", body({"alerts": [generic_alert()]}), ["alertname"]))
    created = silence(desk(services, am.url), clock)
    assert created.target is SilenceTarget.SEVBOT and am.requests == []


def test_a_grafana_incident_is_silenced_in_grafanas_alertmanager(services: Services, clock: Clock) -> None:
    services.ingestor.ingest(normalize("grafana", body(grafana_payload()), ["alertname"]))
    with (
        FakeAlertmanager(prefix=GRAFANA_PREFIX).running() as grafana,
        FakeAlertmanager().running() as am,
    ):
        apis = {
            SilenceTarget.GRAFANA: SilenceApi(
                target=SilenceTarget.GRAFANA, base_url=grafana.url, timeout=10.0, token="glsa_t"
            ),
            SilenceTarget.ALERTMANAGER: SilenceApi(
                target=SilenceTarget.ALERTMANAGER, base_url=am.url, timeout=10.0
            ),
        }
        created = silence(IncidentSilences(db=services.db, apis=apis), clock)
        [remote] = grafana.active()
        assert created.target is SilenceTarget.GRAFANA and remote["id"] == created.remote_id
        assert {"name": "grafana_folder", "value": "Prod", "isRegex": False, "isEqual": True} in remote[
            "matchers"
        ]
        assert am.requests == []


def test_an_unknown_incident_and_one_whose_alerts_share_nothing(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    with pytest.raises(IncidentNotFound):
        silence(desk(services, am.url), clock, incident_id=99)
    fire(services, am_alert())
    with services.db.write() as conn:  # labels with nothing usable in common
        from storage.models import Alert

        conn.execute(Alert.__table__.update().values(labels={"alertname": ""}))
    with pytest.raises(NothingToMatch):
        silence(desk(services, am.url), clock)
    assert am.requests == []


# --- remove and list ----------------------------------------------------------------------------


def test_remove_expires_it_at_the_source_by_sevbots_number_or_the_sources_id(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    fire(services, am_alert())
    silences = desk(services, am.url)
    first = silence(silences, clock)
    second = silence(silences, clock)

    removed = asyncio.run(silences.remove(first.silence_id, user="U0BOB", now=clock()))
    assert removed is not None and removed.known_at_source
    assert [s["id"] for s in am.active()] == [second.remote_id]
    assert second.remote_id is not None
    by_remote = asyncio.run(silences.remove(second.remote_id, user="U0BOB", now=clock()))
    assert by_remote is not None and by_remote.silence_id == second.silence_id
    assert am.active() == []
    assert [e.actor for e in events(services, "silence.removed")] == ["U0BOB", "U0BOB"]
    assert asyncio.run(silences.remove(42, user="U0BOB", now=clock())) is None
    assert asyncio.run(silences.remove("0f0f0f0f-aaaa", user="U0BOB", now=clock())) is None


def test_remove_with_alertmanager_down_keeps_the_record(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    fire(services, am_alert())
    silences = desk(services, am.url)
    created = silence(silences, clock)
    am.fail_next(500, '"boom"')
    with pytest.raises(SilenceApiFailed):
        asyncio.run(silences.remove(created.silence_id, user="U0BOB", now=clock()))
    with services.db.read() as conn:
        assert [r.id for r in SilenceRepository(conn).active(clock(), target=None)] == [created.silence_id]
    assert events(services, "silence.removed") == []


def test_the_list_shows_both_kinds_and_ends_what_alertmanager_expired(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    fire(services, am_alert())
    silences = desk(services, am.url)
    kept = silence(silences, clock)
    expired = silence(silences, clock)
    with services.db.write() as conn:
        local = SilenceRepository(conn).add(
            matchers=[{"name": "service", "op": "=", "value": "x"}],
            reason=None,
            created_by="U0ALICE",
            now=clock(),
            expires_at=clock() + HOUR,
        )
    assert expired.remote_id is not None
    am.expire_by_hand(expired.remote_id)

    listed = asyncio.run(silences.active(now=clock()))

    assert [r.id for r in listed.rows] == [kept.silence_id, local]
    assert listed.ends_at[kept.silence_id] == kept.ends_at and listed.problems == []
    with services.db.read() as conn:  # the one expired by hand ended here too
        assert expired.silence_id not in [r.id for r in SilenceRepository(conn).active(clock(), target=None)]

    am.fail_next(500)
    down = asyncio.run(silences.active(now=clock()))
    assert [r.id for r in down.rows] == [kept.silence_id, local]
    assert down.unknown == {kept.silence_id: "Alertmanager"} and down.problems[0].startswith(
        "Alertmanager: HTTP 500"
    )


def test_a_listed_silence_in_a_state_sevbot_cannot_read_is_kept_as_unknown_not_ended(
    services: Services, clock: Clock, am: FakeAlertmanager
) -> None:
    fire(services, am_alert())
    silences = desk(services, am.url)
    made = silence(silences, clock)
    assert made.remote_id is not None
    am.silences[made.remote_id]["status"] = "active"  # a string where Alertmanager sends an object
    am.silences[made.remote_id]["matchers"] = 5  # and a number where it sends a list

    listed = asyncio.run(silences.active(now=clock()))

    assert [r.id for r in listed.rows] == [made.silence_id]
    assert listed.unknown == {made.silence_id: "Alertmanager"}
    with services.db.read() as conn:  # still on record: it may well be silencing alerts
        assert made.silence_id in [r.id for r in SilenceRepository(conn).active(clock(), target=None)]
