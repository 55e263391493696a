"""Incidents routed to a private channel are shown in that channel only: list, show, why, actions.

The fake Slack has a public #alerts and a private #payments-private; routing sends payments and ledger
incidents to the private one, and ledger ones are silenced (never posted: where they route decides).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.incidents.actions import IncidentActions
from storage.models import Incident, OutboxMessage
from tests.support.processes import wait_until
from tests.support.slack_app import SlackBot, running_slack_bot

PUBLIC, PRIVATE, DM = "C0ALERTS", "G0PAY", "D0DIRECT"
CONFIG = """
slack:
  routes:
    - match: {service: [payments, ledger]}
      channel: "#payments-private"
silences:
  - match: {service: ledger}
"""


def silenced_rows(bot: SlackBot) -> list[Any]:
    return [
        r
        for r in bot.rows(OutboxMessage)
        if r.topic == "slack"
        and r.kind == "incident.opened"
        and r.status == "done"
        and "silenced" in r.result
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_private_channels_incidents_are_seen_there_only(tmp_path: Path, database_url: str) -> None:
    with running_slack_bot(
        tmp_path,
        database_url,
        config=CONFIG,
        channels={"alerts": PUBLIC, "payments-private": PRIVATE},
        private_channels={"payments-private"},
    ) as bot:
        bot.alert(service="payments", instance="pay-1", group_key="payments")  # 1: private
        bot.alert(service="checkout", instance="co-1", group_key="checkout")  # 2: public
        bot.alert(service="ledger", instance="led-1", group_key="ledger")  # 3: silenced, routes private
        bot.root(1), bot.root(2)
        wait_until(
            lambda: silenced_rows(bot) or None, what="the ledger incident to be silenced", interval=0.02
        )
        assert [(i.id, i.slack_channel) for i in bot.rows(Incident)] == [(1, PRIVATE), (2, PUBLIC), (3, None)]
        with bot.services.db.write() as conn:  # a past incident: similar-incident search reads resolved ones
            IncidentActions(conn).resolve(1, user="U0ALICE", at=bot.clock.now, now=bot.clock.now)

        public = {
            text: bot.ask(text, channel_id=PUBLIC) for text in ("list", "show 1", "why 1", "why 3", "why 2")
        }
        acted = {text: bot.ask(text, channel_id=PUBLIC) for text in ("ack 1", "resolve 3", "summarize 1")}
        direct = bot.ask("list", channel_id=DM)
        private = {text: bot.ask(text, channel_id=PRIVATE) for text in ("list", "show 1", "why 2")}

    assert "*1 incident*" in public["list"] and "#2" in public["list"]
    assert "#1" not in public["list"] and "#3" not in public["list"] and "payments" not in public["list"]
    assert public["show 1"] == "There is no incident #1."
    assert public["why 1"] == "There is no incident #1." and public["why 3"] == "There is no incident #3."
    # The public incident's explanation does not name the private one among its similar incidents.
    assert "Why incident #2" in public["why 2"] or "Why #2" in public["why 2"]
    assert "#1 " not in public["why 2"] and "payments" not in public["why 2"]
    assert acted == {
        "ack 1": "There is no incident #1.",
        "resolve 3": "There is no incident #3.",
        "summarize 1": "There is no incident #1.",
    }
    assert "#2" in direct and "#1" not in direct and "#3" not in direct
    # In the private channel everything is there, the similar private incident included.
    assert "*3 incidents*" in private["list"]
    assert "payments" in private["show 1"]
    assert "#1 " in private["why 2"]
