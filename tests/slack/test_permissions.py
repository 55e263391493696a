"""Who may do what in Slack, over real signed requests: the workspace, guests, external people, the levels.

The fake Slack describes the people (``users.info``), user groups and channels; each test reads what sevbot
answered and what it did (or did not) write.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_file_config
from storage.models import Feedback, Incident, Silence
from tests.support.fake_slack import TEAM_ID, app_mention, button, static_select
from tests.support.slack_app import running_slack_bot

# Permissions do not depend on the database: SQLite only.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADMIN = "U0ADMIN"
MEMBER = "U0BOB"
PEOPLE = {
    ADMIN: {"is_admin": True},
    "U0GUEST": {"is_restricted": True},
    "U0SINGLE": {"is_ultra_restricted": True},
    "U0PARTNER": {"team_id": "T0PARTNER"},  # a Slack Connect colleague of another organization
    "U0STRANGER": {"is_stranger": True},
}


def manage_refusal(text: str) -> bool:
    return "needs the *manage* permission" in text and "slack.permissions.manage" in text


@SQLITE
def test_by_default_members_read_and_respond_and_only_admins_manage(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")

        listed = bot.ask("list", user_id=MEMBER)
        acked = bot.ask("ack 1", user_id=MEMBER)
        refused = {
            text: bot.ask(text, user_id=MEMBER)
            for text in ("silence alertname=~.* 30d", "sev 1 SEV4", "noise 1 flaky", "silence remove 1")
        }
        silences_after_member = bot.rows(Silence)
        silenced = bot.ask("silence alertname=Watchdog 1h", user_id=ADMIN)
        [silence] = bot.rows(Silence)
        removed = bot.ask("silence remove 1", user_id=ADMIN)

        assert "#1" in listed and acked == "Incident #1 acknowledged."
        assert all(manage_refusal(text) for text in refused.values()), refused
        assert "add or remove silences" in refused["silence alertname=~.* 30d"]
        assert silenced.startswith("Silence 1 created") and removed == "Silence 1 removed."
        # Nothing the member was refused happened.
        [incident] = bot.rows(Incident)
        assert (incident.severity, incident.severity_source) != ("SEV4", "human")
        assert bot.rows(Feedback) == []
        assert silences_after_member == [] and silence.created_by == ADMIN


@SQLITE
@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("U0GUEST", "Guest accounts may not use sevbot"),
        ("U0SINGLE", "Guest accounts may not use sevbot"),
        ("U0PARTNER", "another organization"),
        ("U0STRANGER", "another organization"),
    ],
)
def test_guests_and_external_people_are_refused_with_the_reason(
    tmp_path: Path, database_url: str, user: str, reason: str
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")

        answers = [bot.ask(text, user_id=user) for text in ("list", "show 1", "ack 1")]

        assert all(reason in a for a in answers), answers
        assert all("CheckoutHighErrorRate" not in a for a in answers)
        [incident] = bot.rows(Incident)
        assert incident.status == "open"


@SQLITE
def test_guests_and_external_people_may_be_allowed(tmp_path: Path, database_url: str) -> None:
    config = "slack:\n  permissions:\n    allow_guests: true\n    allow_external: true\n"
    with running_slack_bot(tmp_path, database_url, users=PEOPLE, config=config) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")

        assert "#1" in bot.ask("list", user_id="U0GUEST")
        assert bot.ask("ack 1", user_id="U0PARTNER") == "Incident #1 acknowledged."
        assert manage_refusal(bot.ask("sev 1 SEV4", user_id="U0PARTNER"))  # allowed in, not promoted


@SQLITE
def test_requests_from_another_workspace_are_refused_whatever_they_ask(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")
        channel, ts = bot.root()

        listed = bot.ask("list", user_id=ADMIN, team_id="T0OTHER")
        silenced = bot.ask("silence alertname=~.* 30d", user_id=ADMIN, team_id="T0OTHER")
        bot.click(
            button("incident_resolve", "1"),
            user_id=ADMIN,
            team_id="T0OTHER",
            channel_id=channel,
            message_ts=ts,
        )
        [clicked] = bot.slack.wait_for("chat.postEphemeral")
        bot.event(
            app_mention("sev SEV4", user=ADMIN, channel=channel, thread_ts=ts),
            event_id="Ev1",
            team_id="T0OTHER",
        )
        bot.slack.wait_for("chat.postEphemeral", 2)

        assert "own Slack workspace" in listed and "#1" not in listed
        assert "own Slack workspace" in silenced and bot.rows(Silence) == []
        assert clicked.args["user"] == ADMIN and "own Slack workspace" in clicked.args["text"]
        [incident] = bot.rows(Incident)
        assert (incident.status, incident.severity_source) == ("open", "rules")
        assert bot.rows(Feedback) == []
        # The refused mention was answered privately, never in the channel.
        assert not [c for c in bot.slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == ts]
        assert TEAM_ID != "T0OTHER"


@SQLITE
def test_a_refused_mention_and_click_are_answered_privately(tmp_path: Path, database_url: str) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")
        channel, ts = bot.root()

        bot.event(
            app_mention("sev SEV4 not important", user=MEMBER, channel=channel, thread_ts=ts), event_id="Ev2"
        )
        bot.click(
            static_select("incident_severity", "SEV4", block_id="incident:1"),
            user_id=MEMBER,
            channel_id=channel,
            message_ts=ts,
        )
        ephemerals = bot.slack.wait_for("chat.postEphemeral", 2)

        assert [c.args["user"] for c in ephemerals] == [MEMBER, MEMBER]
        assert all(manage_refusal(c.args["text"]) for c in ephemerals)
        assert not [c for c in bot.slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == ts]
        assert bot.rows(Feedback) == []


CONFIGURED = """
slack:
  permissions:
    read: {everyone: true}
    respond: {channels: [C0ONCALL], users: [U0CAROL]}
    manage: {usergroups: [S0SRE]}
    cache_ttl: 5m
"""


@SQLITE
def test_levels_are_given_by_user_group_channel_and_user_id(tmp_path: Path, database_url: str) -> None:
    with running_slack_bot(
        tmp_path,
        database_url,
        users=PEOPLE,
        usergroups={"S0SRE": ["U0DAVE"]},
        channels={"alerts": "C0ALERTS", "oncall": "C0ONCALL"},
        config=CONFIGURED,
    ) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")

        assert "#1" in bot.ask("list", user_id=MEMBER)
        auth_tests = len(bot.slack.calls_to("auth.test"))  # Bolt's own, and sevbot's for the workspace
        member_ack = bot.ask("ack 1", user_id=MEMBER, channel_id="C0ALERTS")
        admin_sev = bot.ask("sev 1 SEV2", user_id=ADMIN)  # the file's manage replaces the admins default
        in_oncall = bot.ask("ack 1", user_id=MEMBER, channel_id="C0ONCALL")
        carol = bot.ask("resolve 1 fixed", user_id="U0CAROL")
        carol_sev = bot.ask("sev 1 SEV2", user_id="U0CAROL")
        dave_sev = bot.ask("sev 1 SEV2 one region", user_id="U0DAVE")
        dave_silence = bot.ask("silence alertname=Watchdog 1h", user_id="U0DAVE")  # manage ⊃ respond

        assert "needs the *respond* permission" in member_ack
        assert manage_refusal(admin_sev)
        assert in_oncall == "Incident #1 acknowledged."
        assert carol == "Incident #1 resolved; 1 alert still firing: the next notification of any reopens it."
        assert manage_refusal(carol_sev)
        assert "now SEV2" in dave_sev and dave_silence.startswith("Silence 1 created")
        assert [(f.user, f.new_severity) for f in bot.rows(Feedback)] == [("U0DAVE", "SEV2")]
        # The user group was asked once and remembered (cache_ttl); the clock moving past it asks again.
        assert len(bot.slack.calls_to("usergroups.users.list")) == 1
        bot.clock.now += load_file_config(bot.services.settings.config).slack.permissions.cache_ttl
        bot.ask("silence list", user_id="U0DAVE")
        assert len(bot.slack.calls_to("usergroups.users.list")) == 1  # silence list only reads
        bot.ask("silence remove 1", user_id="U0DAVE")
        assert len(bot.slack.calls_to("usergroups.users.list")) == 2
        assert len(bot.slack.calls_to("auth.test")) == auth_tests  # asked once, for good


@SQLITE
def test_when_slack_cannot_say_who_asks_nothing_runs(tmp_path: Path, database_url: str) -> None:
    with running_slack_bot(tmp_path, database_url, users=PEOPLE) as bot:
        bot.alert()
        bot.slack.wait_for("chat.postMessage")
        bot.slack.fail_next("users.info", status=500)

        answer = bot.ask("silence alertname=~.* 30d", user_id=ADMIN)

        assert "could not check your permissions" in answer
        assert bot.rows(Silence) == []
        assert bot.ask("silence alertname=Watchdog 1h", user_id=ADMIN).startswith("Silence 1 created")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slack:\n  permissions:\n    manage: {users: [alice]}\n", "slack.permissions.manage.users.0"),
        ("slack:\n  permissions:\n    manage: {groups: [S0SRE]}\n", "slack.permissions.manage.groups"),
        ("slack:\n  permissions:\n    owners: true\n", "slack.permissions.owners"),
        (
            "slack:\n  permissions:\n    respond: {channels: ['#oncall']}\n",
            "slack.permissions.respond.channels.0",
        ),
    ],
)
def test_permission_config_is_validated(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sevbot.yml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match=message):
        load_file_config(path)
