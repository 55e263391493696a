"""sevbot served over real HTTP with its Slack app on the fake Slack, for tests of who may do what.

``running_slack_bot(...)`` starts the fake Slack (with the people, user groups and private channels a test
describes), writes the YAML config it is given, and serves ``create_app`` with uvicorn. Requests are
signed as Slack signs them; each command's answer is read from the fake's record of its ``response_url``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from analytics.scoring import Scorer
from bot.app import create_app
from bot.bootstrap import Services
from storage.models import Incident
from tests.support.asgi_server import serve
from tests.support.clock import Clock
from tests.support.fake_slack import (
    FORM,
    JSON,
    Call,
    FakeSlack,
    block_actions_body,
    event_body,
    message_shortcut_body,
    signed_headers,
    slash_command_body,
)
from tests.support.payloads import am_alert, am_payload
from tests.support.processes import wait_until
from tests.support.settings import make_settings
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET

WEBHOOK_TOKEN = "wh-token-0123456789"


@dataclass
class SlackBot:
    url: str
    slack: FakeSlack
    http: httpx.Client
    app: Any
    clock: Clock
    _answers: Iterator[int] = field(default_factory=itertools.count)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def alert(self, *, group_key: str | None = None, **kwargs: Any) -> None:
        response = self.http.post(
            f"{self.url}/webhooks/alertmanager",
            json=am_payload([am_alert(**kwargs)], group_key=group_key),
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        )
        assert response.status_code == 202, response.text

    def command(self, text: str, *, answer: str = "cmd", **kwargs: Any) -> httpx.Response:
        """Post ``/incident text`` signed; the HTTP answer is Slack's acknowledgement."""
        body = slash_command_body(text, response_url=self.slack.response_url(answer), **kwargs)
        return self.http.post(
            f"{self.url}/slack/events",
            content=body,
            headers=signed_headers(SIGNING_SECRET, body, content_type=FORM),
        )

    def ask(self, text: str, **kwargs: Any) -> str:
        """Run a command and return what sevbot answered through its response_url (ephemeral)."""
        name = f"answer-{next(self._answers)}"
        response = self.command(text, answer=name, **kwargs)
        assert response.status_code == 200, response.text
        [call] = self.slack.wait_for("response_url", where=lambda c: c.path == f"/response/{name}")
        assert call.args.get("response_type") == "ephemeral"
        return str(call.args.get("text", ""))

    def click(self, action: dict[str, Any], **kwargs: Any) -> httpx.Response:
        body = block_actions_body(action, response_url=self.slack.response_url("action"), **kwargs)
        return self.http.post(
            f"{self.url}/slack/events",
            content=body,
            headers=signed_headers(SIGNING_SECRET, body, content_type=FORM),
        )

    def event(
        self, event: dict[str, Any], *, event_id: str, retry_num: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        body = event_body(event, event_id=event_id, **kwargs)
        headers = signed_headers(SIGNING_SECRET, body, content_type=JSON, retry_num=retry_num)
        return self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    def shortcut(self, callback_id: str, message: dict[str, Any], **kwargs: Any) -> str:
        """Use a message shortcut on ``message``; what sevbot answered through its response_url."""
        name = f"shortcut-{next(self._answers)}"
        body = message_shortcut_body(
            callback_id, message, response_url=self.slack.response_url(name), **kwargs
        )
        response = self.http.post(
            f"{self.url}/slack/events",
            content=body,
            headers=signed_headers(SIGNING_SECRET, body, content_type=FORM),
        )
        assert response.status_code == 200, response.text
        [call] = self.slack.wait_for("response_url", where=lambda c: c.path == f"/response/{name}")
        assert call.args.get("response_type") == "ephemeral"
        return str(call.args.get("text", ""))

    def root(self, incident_id: int = 1) -> tuple[str, str]:
        """The incident's root message, once the sink has stored where it went."""

        def stored() -> tuple[str, str] | None:
            with self.services.db.read() as conn:
                row = conn.execute(
                    select(Incident.slack_channel, Incident.slack_ts).where(Incident.id == incident_id)
                ).one()
            return (str(row.slack_channel), str(row.slack_ts)) if row.slack_ts else None

        return wait_until(stored, what=f"incident {incident_id}'s root message to be stored", interval=0.01)

    def rows(self, model: Any) -> list[Any]:
        with self.services.db.read() as conn:
            return list(conn.execute(select(model)).all())

    def ephemerals(self, user: str) -> list[str]:
        return [
            str(c.args.get("text", ""))
            for c in self.slack.calls_to("chat.postEphemeral")
            if c.args.get("user") == user
        ]


def posted_text(call: Call) -> str:
    """Everything a chat.* call would show: its text and its blocks, as one string."""
    blocks = call.args.get("blocks")
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return str(call.args.get("text", "")) + json.dumps(blocks or [], ensure_ascii=False)


@contextmanager
def running_slack_bot(
    tmp_path: Path,
    database_url: str,
    *,
    config: str | None = None,
    users: Mapping[str, Mapping[str, Any]] | None = None,
    usergroups: Mapping[str, list[str]] | None = None,
    private_channels: set[str] | None = None,
    channels: Mapping[str, str] | None = None,
    scorer: Scorer | None = None,
    **settings: Any,
) -> Iterator[SlackBot]:
    """sevbot with its Slack app on a fresh fake Slack; ``config`` is the YAML file's text."""
    if config is not None:
        path = tmp_path / "sevbot.yml"
        path.write_text(config, encoding="utf-8")
        settings["config"] = path
    clock = Clock(datetime.now(UTC))
    with FakeSlack(
        users=users, usergroups=usergroups, private_channels=private_channels, channels=channels
    ) as slack:
        values: dict[str, Any] = {
            "worker_in_process": True,
            "outbox_poll_seconds": 0.2,
            "webhook_token": WEBHOOK_TOKEN,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            "slack_channel": "#alerts",
            "slack_channel_interval": 0,
            **settings,
        }
        app = create_app(make_settings(tmp_path, database_url, **values), scorer=scorer, clock=clock)
        with serve(app) as url, httpx.Client(timeout=10) as http:
            yield SlackBot(url, slack, http, app, clock)
