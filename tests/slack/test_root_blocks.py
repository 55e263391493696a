"""What an on-call engineer reads at 3 a.m., end to end: sevbot served over real HTTP, Alertmanager's
webhooks, the in-process outbox worker posting through the real slack_sdk client to the fake Slack.

The root says what is affected (the labels that vary, the scope they share, since when it fires) and who
owns it; raising an incident notifies its owner in a new message; a person's resolve cannot hide alerts
that still fire.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.models import Incident, TimelineEvent
from tests.support.fake_slack import Call
from tests.support.payloads import T0, am_alert, am_payload
from tests.support.slack_app import WEBHOOK_TOKEN, SlackBot, posted_text, running_slack_bot

ADMINS = {"U0ALICE": {"is_admin": True}}
CATALOG = """
services:
  search: {owner: S0SEARCH, team: search}
  checkout: {team: payments}
"""
GROUP = '{}:{alertname="SearchAPIHighLatency"}'


def _pods(n: int, *, start: int = 0, status: str = "firing") -> list[dict[str, Any]]:
    return [
        am_alert(
            "SearchAPIHighLatency",
            instance=f"10.0.3.{i}:9100",
            service="search",
            severity="warning",
            status=status,
            starts_at=T0 + timedelta(seconds=i),
            extra_labels={"pod": f"search-api-{i:02d}", "namespace": "search", "cluster": "eu-1"},
        )
        for i in range(start, start + n)
    ]


def _send(bot: SlackBot, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    response = bot.http.post(
        f"{bot.url}/webhooks/alertmanager",
        json=am_payload(alerts, group_key=GROUP),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _root_post(bot: SlackBot) -> Call:
    return bot.slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.args)[0]


def _status(bot: SlackBot) -> str:
    with bot.services.db.read() as conn:
        return str(conn.execute(select(Incident.status).where(Incident.id == 1)).scalar_one())


def test_the_root_lists_the_affected_instances_where_and_since_when(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, config=CATALOG) as bot:
        _send(bot, _pods(20))
        root = posted_text(_root_post(bot))

        assert "SearchAPIHighLatency on 20 instances" in root  # not named after one of the pods
        assert (
            "*Affected* pod search-api-00, search-api-01, search-api-02, search-api-03, search-api-04" in root
        )
        assert "and 15 more" in root
        assert "*Where* env prod · cluster eu-1 · namespace search" in root
        assert f"Firing since <!date^{int(T0.timestamp())}^" in root and "({ago})" in root
        # Posted at SEV3, the owner is named by team (no ping); the links Alertmanager gave are there.
        assert "*Owner*\\nteam search" in root and "S0SEARCH" not in root
        assert "|Alertmanager>" in root and "#/silences/new?filter=" in root and "|Silence>" in root
        assert "|Source>" in root and "Severity from" not in root

        _, ts = bot.root()
        _send(bot, _pods(3, start=20))
        [joined] = bot.slack.wait_for(
            "chat.postMessage", where=lambda c: c.args.get("thread_ts") == ts and "joined" in c.args["text"]
        )
        assert joined.args["text"] == (
            ":heavy_plus_sign: 3 more alerts joined:"
            " SearchAPIHighLatency on pod search-api-20, search-api-21, search-api-22"
        )


def test_raising_to_sev1_mentions_the_owner_in_a_new_thread_message_and_in_the_channel(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(
        tmp_path, database_url, config=CATALOG, users=ADMINS, slack_sev1_mention="<!subteam^S0PAYMENTS>"
    ) as bot:
        _send(bot, _pods(2))
        channel, ts = bot.root()

        assert bot.ask("sev 1 critical", user_id="U0ALICE") == (
            "Incident #1 is now SEV1; thanks, the model learns from this."
        )

        [escalation] = bot.slack.wait_for(
            "chat.postMessage",
            where=lambda c: c.args.get("thread_ts") == ts and "<!subteam^S0SEARCH>" in c.args["text"],
        )
        assert "Severity SEV3 → SEV1 by <@U0ALICE>" in escalation.args["text"]
        assert "<!subteam^S0SEARCH>: incident #1 was raised to SEV1 (page now)." in escalation.args["text"]
        [notice] = bot.slack.wait_for(
            "chat.postMessage",
            where=lambda c: "thread_ts" not in c.args and "Open the thread" in c.args["text"],
        )
        assert notice.args["channel"] == channel and "<!subteam^S0SEARCH>" in notice.args["text"]
        assert (
            f"<https://fake.slack.test/archives/{channel}/p{ts.replace('.', '')}|Open the thread>"
            in (notice.args["text"])
        )
        update = bot.slack.wait_for("chat.update")[-1]
        assert "*Owner*\\n<!subteam^S0SEARCH>" in posted_text(update)
        # The global SEV1 mention is only the fallback for a service without an owner.
        assert not any("S0PAYMENTS" in posted_text(c) for c in bot.slack.calls_to("chat.postMessage"))


def test_raising_to_sev2_without_an_owner_says_whom_to_configure_and_posts_no_channel_notice(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, config=CATALOG, users=ADMINS) as bot:
        bot.alert(severity="warning")  # checkout: a team, no owner
        _, ts = bot.root()

        bot.ask("sev 1 high customers see errors", user_id="U0ALICE")

        [told] = bot.slack.wait_for(
            "chat.postMessage",
            where=lambda c: c.args.get("thread_ts") == ts and "SEV3 → SEV2" in c.args["text"],
        )
        assert "no owner to notify: give service checkout an `owner`" in told.args["text"]
        assert [
            c for c in bot.slack.calls_to("chat.postMessage") if "Open the thread" in c.args["text"]
        ] == []


def test_a_resolve_while_alerts_fire_is_undone_by_their_next_notification(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, config=CATALOG, users=ADMINS) as bot:
        firing = _pods(10)
        assert _send(bot, firing)["accepted"] == 10
        _, ts = bot.root()
        # Alertmanager resending the same notification before anyone acts: duplicates, as before.
        assert _send(bot, firing)["duplicates"] == 10

        assert bot.ask("resolve 1", user_id="U0ALICE") == (
            "Incident #1 resolved; 10 alerts still firing: the next notification of any reopens it."
        )
        bot.slack.wait_for(
            "chat.postMessage", where=lambda c: "10 alerts still firing" in c.args.get("text", "")
        )
        assert _status(bot) == "resolved"

        repeat = _send(bot, firing)  # Alertmanager's repeat: the same startsAt, still firing

        # The first still-firing alert reopens it; the other nine are then repeats in an open incident.
        assert (repeat["accepted"], repeat["duplicates"]) == (1, 9)
        assert _status(bot) == "open"
        with bot.services.db.read() as conn:
            kinds = conn.execute(
                select(TimelineEvent.kind, TimelineEvent.data).order_by(TimelineEvent.id)
            ).all()
        reopened = [data for kind, data in kinds if kind == "incident.reopened"]
        assert len(reopened) == 1 and reopened[0]["reason"] == "still_firing"
        assert "was still firing after a person resolved the incident" in reopened[0]["note"]
        [told] = bot.slack.wait_for(
            "chat.postMessage", where=lambda c: c.args.get("thread_ts") == ts and "Reopened" in c.args["text"]
        )
        assert "SearchAPIHighLatency on pod search-api-00" in told.args["text"]
        assert "was still firing after the incident was resolved by hand" in told.args["text"]
        # Open again, the next repeat is a duplicate once more: idempotency is kept.
        assert _send(bot, firing)["duplicates"] == 10


def test_list_is_sorted_by_severity_then_age_and_names_owners(tmp_path: Path, database_url: str) -> None:
    with running_slack_bot(tmp_path, database_url, config=CATALOG) as bot:
        bot.alert(name="CheckoutSlow", severity="warning", group_key="g1")
        bot.alert(name="CheckoutDown", severity="critical", group_key="g2")
        _send(bot, _pods(1))
        # #2 is related to #1 (same service, minutes apart): its card goes into #1's thread
        bot.slack.wait_for(
            "chat.postMessage", 3, where=lambda c: '"header"' in json.dumps(c.args.get("blocks"))
        )

        listed = bot.ask("list open").splitlines()

        assert [line.split()[1] for line in listed[1:]] == ["*#2*", "*#3*", "*#1*"]  # SEV1, then newest SEV3
        assert "owner <!subteam^S0SEARCH>" in listed[2] and "owner team payments" in listed[1]
