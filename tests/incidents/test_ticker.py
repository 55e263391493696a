"""The ticker runs inside `sevbot serve`'s in-process worker: an unacknowledged SEV1 webhook is reminded
about in Slack once the (test) clock has passed its timeout, with no test calling the ticker itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import create_app
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert, am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings
from tests.support.slack import BOT_TOKEN

TOKEN = "ticker-webhook-token"


def test_serve_ticks_and_reminds_the_owner(
    tmp_path: Path, sqlite_url: str, clock: Clock, slack: FakeSlack
) -> None:
    config = tmp_path / "sevbot.yaml"
    config.write_text("services:\n  checkout: {owner: U0OWNER}\n", encoding="utf-8")
    settings = make_settings(
        tmp_path,
        sqlite_url,
        config=config,
        webhook_token=TOKEN,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        slack_channel_interval=0,
        worker_in_process=True,
        tick_seconds=0.05,
        outbox_poll_seconds=0.05,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app, client=LOOPBACK_CLIENT) as client:
        response = client.post(
            "/webhooks/alertmanager",
            content=body(am_payload([am_alert()])),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 202
        slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.args)  # the root
        clock.now = T0 + timedelta(minutes=10)
        [reminder] = slack.wait_for("chat.postMessage", where=lambda c: ":alarm_clock:" in c.args["text"])
        assert reminder.args["text"].startswith(":alarm_clock: <@U0OWNER> SEV1 incident #1")
