"""Re-notification: an open SEV1 nobody acknowledges gets a thread reply mentioning its owner after the
timeout, again every interval, and none once acknowledged (the real ticker, the real Slack sink over HTTP
to the fake Slack, the test clock; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.incidents.escalation import reminder_due
from storage.escalation import Waiting
from tests.support.clock import Clock
from tests.support.escalation import escalation
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert
from tests.support.slack import fire

OWNED = """
services:
  checkout: {owner: S0PAYMENTS, criticality: critical}
"""


def reminders(slack: FakeSlack) -> list[str]:
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage", ok=True)
        if ":alarm_clock:" in c.args["text"]
    ]


def test_an_unacknowledged_sev1_reminds_its_owner_every_ten_minutes_until_acknowledged(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack
) -> None:
    with escalation(tmp_path, database_url, clock, slack, OWNED) as esc:
        fire(esc.services, am_alert())  # critical: SEV1
        esc.deliver()
        [incident] = esc.incidents()
        assert incident.severity == "SEV1" and incident.slack_ts

        clock.now = T0 + timedelta(minutes=9, seconds=59)
        assert esc.tick().escalation.reminded == []
        clock.now = T0 + timedelta(minutes=10)
        assert esc.tick().escalation.reminded == [1]
        assert esc.tick().escalation.reminded == []  # the same interval: claimed already
        esc.deliver()
        [first] = reminders(slack)
        assert first.startswith(":alarm_clock: <!subteam^S0PAYMENTS> SEV1 incident #1")
        assert "waited 10 min without an acknowledgement" in first
        [reply] = [c for c in slack.calls_to("chat.postMessage") if ":alarm_clock:" in c.args["text"]]
        assert reply.args["thread_ts"] == incident.slack_ts  # a new reply in the incident's thread

        clock.now += timedelta(minutes=9)
        assert esc.tick().escalation.reminded == []
        clock.now += timedelta(minutes=1)
        assert esc.tick().escalation.reminded == [1]
        esc.deliver()
        assert len(reminders(slack)) == 2 and "(reminder 2)" in reminders(slack)[1]

        esc.ack()
        clock.now += timedelta(hours=2)
        assert esc.tick().escalation.reminded == []
        esc.deliver()
        assert len(reminders(slack)) == 2
        [after] = esc.incidents()
        assert after.renotify_count == 2


def test_without_an_owner_the_reminder_says_so_and_a_sev1_uses_the_global_mention(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack
) -> None:
    with escalation(tmp_path, database_url, clock, slack, "{}", mention="<!subteam^S0ONCALL>") as esc:
        fire(esc.services, am_alert())
        clock.now = T0 + timedelta(minutes=10)
        esc.tick()
        esc.deliver()
        [text] = reminders(slack)
        assert "<!subteam^S0ONCALL> SEV1 incident #1" in text
        assert "Nobody is configured to be reminded for service *checkout*" in text


def test_a_route_mention_is_used_when_the_catalog_names_no_owner(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack
) -> None:
    routes = """
slack:
  routes:
    - {match: {service: checkout}, channel: "#payments", mention: U0CAROL}
escalation:
  ack_timeout: {SEV2: 5m}
"""
    with escalation(tmp_path, database_url, clock, slack, routes) as esc:
        fire(esc.services, am_alert(severity="error"))  # SEV2
        assert esc.incidents()[0].severity == "SEV2"
        clock.now = T0 + timedelta(minutes=4)
        assert esc.tick().escalation.reminded == []
        clock.now = T0 + timedelta(minutes=5)
        assert esc.tick().escalation.reminded == [1]
        esc.deliver()
        [text] = reminders(slack)
        assert text.startswith(":alarm_clock: <@U0CAROL> SEV2 incident #1") and "Nobody" not in text


def test_sev3_and_sev4_are_not_escalated_by_default(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack
) -> None:
    with escalation(tmp_path, database_url, clock, slack, OWNED) as esc:
        fire(esc.services, am_alert(severity="warning"))
        fire(esc.services, am_alert("DiskInfo", severity="info"))
        assert sorted(i.severity for i in esc.incidents()) == ["SEV3", "SEV4"]
        clock.now = T0 + timedelta(days=1)
        assert esc.tick().escalation.reminded == []


def test_a_custom_repeat_and_a_reopened_incident_waiting_the_full_timeout_again(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack
) -> None:
    config = OWNED + "escalation:\n  ack_timeout: {SEV1: 10m}\n  repeat: {SEV1: 30m}\n"
    with escalation(tmp_path, database_url, clock, slack, config) as esc:
        fire(esc.services, am_alert())
        clock.now = T0 + timedelta(minutes=10)
        assert esc.tick().escalation.reminded == [1]
        clock.now += timedelta(minutes=29)
        assert esc.tick().escalation.reminded == []
        clock.now += timedelta(minutes=1)
        assert esc.tick().escalation.reminded == [1]

        fire(esc.services, am_alert(status="resolved", ends_at=clock.now))
        reopened_at = clock.now + timedelta(minutes=5)
        clock.now = reopened_at
        fire(esc.services, am_alert(starts_at=reopened_at))
        assert [i.status for i in esc.incidents()] == ["open"]
        clock.now = reopened_at + timedelta(minutes=9)
        assert esc.tick().escalation.reminded == []  # the new open period waits the full timeout
        clock.now = reopened_at + timedelta(minutes=10)
        assert esc.tick().escalation.reminded == [1]


def test_the_next_reminder_is_due_after_the_timeout_then_after_each_repeat() -> None:
    seen = Waiting(1, "open", "SEV1", "t", None, "alertmanager", T0, 0, None, None)
    ten, thirty = timedelta(minutes=10), timedelta(minutes=30)
    assert reminder_due(seen, open_since=T0, timeout=ten, repeat=thirty) == T0 + ten
    later = Waiting(1, "open", "SEV1", "t", None, "alertmanager", T0, 1, T0 + ten, None)
    assert reminder_due(later, open_since=T0, timeout=ten, repeat=thirty) == T0 + ten + thirty
    reopened = T0 + timedelta(hours=1)  # the last reminder was before the reopening: it counts for nothing
    assert reminder_due(later, open_since=reopened, timeout=ten, repeat=thirty) == reopened + ten
    assert reminder_due(seen, open_since=T0, timeout=None, repeat=None) is None
