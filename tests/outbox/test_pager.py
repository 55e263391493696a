"""The pagers through the real outbox worker over real HTTP: a PagerDuty stand-in sees trigger → acknowledge
→ resolve under one dedup key; 429 and 5xx are retried, other 4xx park the row; the generic webhook gets
the incident and the event as JSON with its bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import build_ticker
from bot.errors import ConfigError
from tests.support.clock import Clock
from tests.support.escalation import escalation
from tests.support.fake_pager import FakePager
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert
from tests.support.slack import fire

ROUTING_KEY = "R0UTINGKEY0123456789abcdef012345"
WEBHOOK_TOKEN = "webhook-bearer-token-1"


@pytest.fixture
def pager() -> Iterator[FakePager]:
    with FakePager() as fake:
        yield fake


def pagerduty_config(pager: FakePager, page: str = "") -> str:
    return f"escalation:\n  install: prod-eu\n  pagerduty: {{url: '{pager.url}'}}\n{page}"


def test_pagerduty_sees_trigger_then_acknowledge_then_resolve_with_one_dedup_key(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack, pager: FakePager
) -> None:
    with escalation(
        tmp_path,
        database_url,
        clock,
        slack,
        pagerduty_config(pager),
        pagerduty_routing_key=ROUTING_KEY,
    ) as esc:
        fire(esc.services, am_alert())
        esc.tick()
        esc.deliver()
        assert pager.requests == []  # SEV1 pages at escalation by default: not yet

        clock.now = T0 + timedelta(minutes=10)
        assert esc.tick().escalation.paged == [(1, "trigger")]
        esc.deliver()
        clock.now += timedelta(minutes=1)
        esc.ack()
        assert esc.tick().escalation.paged == [(1, "acknowledge")]
        esc.deliver()
        clock.now += timedelta(minutes=1)
        esc.resolve()
        assert esc.tick().escalation.paged == [(1, "resolve")]
        assert esc.tick().escalation.paged == []  # each event once
        esc.deliver()

        bodies = [r.body for r in pager.requests]
        assert {r.path for r in pager.requests} == {"/v2/enqueue"}
        assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve"]
        assert {b["dedup_key"] for b in bodies} == {"sevbot-prod-eu-1"}
        assert {b["routing_key"] for b in bodies} == {ROUTING_KEY}
        trigger = bodies[0]["payload"]
        assert trigger["severity"] == "critical" and trigger["source"] == "sevbot/alertmanager"
        assert trigger["summary"].startswith("[SEV1] #1 ") and trigger["component"] == "checkout"
        assert {r["status"] for r in esc.rows("pagerduty")} == {"done"}


def test_pagerduty_rate_limits_and_outages_are_retried_and_a_refusal_is_parked(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack, pager: FakePager
) -> None:
    page = "  page: {SEV1: open}\n"
    with escalation(
        tmp_path, database_url, clock, slack, pagerduty_config(pager, page), pagerduty_routing_key=ROUTING_KEY
    ) as esc:
        fire(esc.services, am_alert())
        assert esc.tick().escalation.paged == [(1, "trigger")]  # SEV1 pages at open here
        pager.fail_next(429, retry_after="2")
        pager.fail_next(503)
        esc.deliver(1)
        clock.now += timedelta(seconds=2)
        esc.deliver(1)  # the 503: backoff
        assert [r.status for r in pager.requests] == [429, 503]
        clock.now += timedelta(seconds=5)
        esc.deliver(1)
        assert [r.status for r in pager.requests] == [429, 503, 202]
        assert [r["status"] for r in esc.rows("pagerduty")] == ["done"]

        pager.fail_next(400)
        esc.ack()
        esc.tick()
        esc.deliver(1)
        [_, parked] = esc.rows("pagerduty")
        assert parked["status"] == "parked" and parked["parked_reason"] == "pagerduty_400"
        clock.now += timedelta(hours=1)
        esc.deliver()
        assert len(pager.requests) == 4  # parked: not sent again until an operator retries it


def test_a_pagerduty_redirect_is_parked_not_followed_and_a_proxys_page_is_retried(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack, pager: FakePager
) -> None:
    page = "  page: {SEV1: open}\n"
    with escalation(
        tmp_path, database_url, clock, slack, pagerduty_config(pager, page), pagerduty_routing_key=ROUTING_KEY
    ) as esc:
        fire(esc.services, am_alert())
        esc.tick()
        pager.fail_next(200, page="<html>Sign in to the guest Wi-Fi</html>")  # not PagerDuty's answer
        esc.deliver(1)
        assert [r["status"] for r in esc.rows("pagerduty")] == ["pending"]  # retried, not counted done
        clock.now += timedelta(seconds=5)
        esc.deliver(1)
        assert [r.status for r in pager.requests] == [200, 202]

        pager.fail_next(302, location="http://127.0.0.1:9/elsewhere")
        esc.ack()
        esc.tick()
        esc.deliver(1)
        [_, parked] = esc.rows("pagerduty")
        assert parked["status"] == "parked" and parked["parked_reason"] == "pagerduty_302"
        assert "redirected the event (302 to http://127.0.0.1:9/elsewhere)" in parked["last_error"]
        assert len(pager.requests) == 3  # the redirect was not followed


def test_the_generic_webhook_gets_the_incident_and_the_event(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack, pager: FakePager
) -> None:
    config = f"escalation:\n  webhook: {{url: '{pager.url}/hooks/sevbot'}}\n  page: {{SEV2: open}}\n"
    with escalation(tmp_path, database_url, clock, slack, config, pager_webhook_token=WEBHOOK_TOKEN) as esc:
        fire(esc.services, am_alert(severity="error"))  # SEV2
        esc.tick()
        esc.deliver()
        fire(esc.services, am_alert(status="resolved", ends_at=T0 + timedelta(minutes=3)))
        clock.now = T0 + timedelta(minutes=3)
        esc.tick()
        esc.deliver()

        assert [r.body["event"] for r in pager.requests] == ["trigger", "resolve"]
        first = pager.requests[0]
        assert first.path == "/hooks/sevbot"
        assert first.headers["authorization"] == f"Bearer {WEBHOOK_TOKEN}"
        assert first.headers["idempotency-key"].startswith("sevbot-outbox-")
        assert first.body["dedup_key"] == "sevbot-default-1" and first.body["reason"] == "opened"
        incident = first.body["incident"]
        assert incident["id"] == 1 and incident["severity"] == "SEV2" and incident["service"] == "checkout"
        assert incident["labels"]["alertname"] == "CheckoutHighErrorRate"
        assert pager.requests[1].body["reason"] == "resolved"


def test_a_second_ticker_at_the_same_moment_neither_reminds_nor_pages_again(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack, pager: FakePager
) -> None:
    with escalation(
        tmp_path, database_url, clock, slack, pagerduty_config(pager), pagerduty_routing_key=ROUTING_KEY
    ) as esc:
        fire(esc.services, am_alert())
        clock.now = T0 + timedelta(minutes=10)
        other = build_ticker(esc.services)  # another process's ticker
        passes = [esc.tick(), other.run_once()]
        assert sorted(len(p.escalation.reminded) for p in passes) == [0, 1]
        esc.deliver()
        assert [r.body["event_action"] for r in pager.requests] == ["trigger"]
        assert len([r for r in esc.rows("slack") if r["kind"] == "incident.renotify"]) == 1


def test_pagerduty_without_a_routing_key_is_refused_at_start(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack, pager: FakePager
) -> None:
    with (
        pytest.raises(ConfigError, match="SEVBOT_PAGERDUTY_ROUTING_KEY"),
        escalation(tmp_path, database_url, clock, slack, pagerduty_config(pager)),
    ):
        pass
