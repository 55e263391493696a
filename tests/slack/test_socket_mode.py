"""Socket Mode for real: the slack_bolt Socket Mode client inside sevbot's app, against a stand-in that
serves ``apps.connections.open`` and a websocket, delivering a slash command, a button and a reconnect."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from storage.models import Incident
from tests.support.asgi_server import serve
from tests.support.fake_slack import FakeSlack, block_actions_body, button, slash_command_body
from tests.support.fake_socket_mode import FakeSocketMode, fake_socket_mode
from tests.support.payloads import am_alert, am_payload
from tests.support.processes import wait_until
from tests.support.settings import make_settings
from tests.support.slack import BOT_TOKEN

APP_TOKEN = "xapp-1-A0SEVBOT-1-0123456789abcdef"
WEBHOOK_TOKEN = "wh-token-0123456789"


@dataclass
class Connected:
    url: str
    slack: FakeSlack
    socket: FakeSocketMode
    http: httpx.Client
    app: Any

    def command(self, text: str, slug: str) -> str:
        fields = urllib.parse.parse_qs(
            slash_command_body(text, response_url=self.slack.response_url(slug)).decode()
        )
        return self.socket.send("slash_commands", {k: v[-1] for k, v in fields.items()})

    def click(self, action: dict[str, Any], slug: str) -> str:
        raw = block_actions_body(action, response_url=self.slack.response_url(slug)).decode()
        payload = json.loads(urllib.parse.parse_qs(raw)["payload"][0])
        return self.socket.send("interactive", payload)

    def status(self, incident_id: int) -> str:
        with self.app.state.services.db.read() as conn:
            return str(conn.execute(select(Incident.status).where(Incident.id == incident_id)).scalar_one())


@pytest.fixture
def connected(tmp_path: Path) -> Iterator[Connected]:
    # No signing secret: Socket Mode alone (no public URL), as behind a firewall.
    with FakeSlack() as slack, fake_socket_mode() as socket:
        slack.socket_url = socket.url
        settings = make_settings(
            tmp_path,
            None,
            worker_in_process=True,
            outbox_poll_seconds=0.2,
            webhook_token=WEBHOOK_TOKEN,
            slack_bot_token=BOT_TOKEN,
            slack_app_token=APP_TOKEN,
            slack_api_url=slack.api_url,
            slack_channel="#alerts",
            slack_channel_interval=0,
        )
        app = create_app(settings)
        with serve(app) as url, httpx.Client(timeout=10) as http:
            socket.wait_connected()
            yield Connected(url, slack, socket, http, app)


def test_socket_mode_connects_with_the_app_token_and_serves_commands_buttons_and_a_reconnect(
    connected: Connected,
) -> None:
    [opened] = connected.slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN and opened.ok
    # Without a signing secret nothing listens for Slack over HTTP: Socket Mode needs no public URL.
    assert connected.http.post(f"{connected.url}/slack/events", content=b"{}").status_code == 404

    # A slash command: acknowledged on the socket, answered through its response_url.
    envelope = connected.command("help", "help")
    assert connected.socket.wait_ack(envelope)["envelope_id"] == envelope
    [answer] = connected.slack.wait_for("response_url", where=lambda c: c.path == "/response/help")
    assert "/incident" in answer.args["text"]

    # A button on an incident's root message acknowledges the incident.
    response = connected.http.post(
        f"{connected.url}/webhooks/alertmanager",
        json=am_payload([am_alert()]),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 202 and response.json()["opened"] == [1]
    ack = connected.click(button("incident_ack", "1", block_id="incident:1"), "ack")
    connected.socket.wait_ack(ack)
    wait_until(lambda: connected.status(1) == "acknowledged" or None, what="the button's acknowledgement")

    # Slack rotates the connection: the client asks for a fresh URL and carries on there.
    connected.socket.ask_to_reconnect()
    connected.socket.wait_connected(sessions=2)
    assert len(connected.slack.wait_for("apps.connections.open", count=2)) == 2
    again = connected.command("list", "list")
    connected.socket.wait_ack(again)
    [listing] = connected.slack.wait_for("response_url", where=lambda c: c.path == "/response/list")
    assert "#1" in listing.args["text"]
