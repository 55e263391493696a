"""End to end: an incident silenced from Slack makes a real Alertmanager stop notifying, and removing the
silence from Slack makes it notify again.

Alertmanager has two receivers for every alert: sevbot (served with its Slack app on the fake Slack) and
a second local webhook that records what it gets, as a pager or e-mail would. Intervals are short
(group_interval 250ms, repeat_interval 500ms), so an unsilenced group is notified about twice a second. A
second alert group, never silenced, is the clock: "no notification while silenced" is judged over
several of its notifications, never over a sleep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.models import Incident
from tests.e2e.test_alertmanager import instance_down, post_to_alertmanager
from tests.support.processes import LOOPBACK, alertmanager_binary, free_port, start_alertmanager, wait_until
from tests.support.requirements import missing
from tests.support.slack_app import WEBHOOK_TOKEN, running_slack_bot

pytestmark = pytest.mark.e2e

ADMIN = "U0ADMIN"
SILENCED = "NodeDownSilenced"
CONTROL = "NodeDownControl"


class Recorder:
    """The second receiver: every Alertmanager notification it gets, in order, by alert group."""

    def __init__(self) -> None:
        self.notifications: list[str] = []  # the groupLabels' alertname of each
        self._cond = threading.Condition()

    def count(self, alertname: str) -> int:
        with self._cond:
            return self.notifications.count(alertname)

    def wait_for(self, alertname: str, count: int, *, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.notifications.count(alertname) >= count, timeout):
                raise AssertionError(
                    f"{alertname}: {self.notifications.count(alertname)} < {count} notifications"
                )

    @contextmanager
    def running(self) -> Iterator[str]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with recorder._cond:
                    recorder.notifications.append(str(body["groupLabels"].get("alertname")))
                    recorder._cond.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://{LOOPBACK}:{server.server_address[1]}/notify"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def two_receivers(sevbot_url: str, recorder_url: str) -> dict[str, Any]:
    """Every alert goes to sevbot and (``continue``) to the recorder, grouped by alert name."""
    sevbot = {
        "url": f"{sevbot_url}/webhooks/alertmanager",
        "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials": WEBHOOK_TOKEN}},
    }
    return {
        "route": {
            "receiver": "sevbot",
            "group_by": ["alertname"],
            "group_wait": "100ms",
            "group_interval": "250ms",
            "repeat_interval": "500ms",
            "routes": [{"receiver": "sevbot", "continue": True}, {"receiver": "recorder"}],
        },
        "receivers": [
            {"name": "sevbot", "webhook_configs": [sevbot]},
            {"name": "recorder", "webhook_configs": [{"url": recorder_url, "send_resolved": True}]},
        ],
    }


def active_silences(am_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{am_url}/api/v2/silences", timeout=5.0)
    assert response.status_code == 200, response.text
    return [s for s in response.json() if s["status"]["state"] == "active"]


@pytest.fixture
def am_binary() -> str:
    binary = alertmanager_binary()
    if binary is None:
        missing(
            "Alertmanager not found (apt install prometheus-alertmanager, or set SEVBOT_ALERTMANAGER_BIN)"
        )
    assert binary is not None
    return binary


def test_silencing_from_slack_stops_alertmanager_notifying_and_removing_it_resumes(
    am_binary: str, tmp_path: Path, sqlite_url: str
) -> None:
    am_port = free_port()
    am_url = f"http://{LOOPBACK}:{am_port}"
    recorder = Recorder()
    with (
        recorder.running() as recorder_url,
        running_slack_bot(
            tmp_path, sqlite_url, users={ADMIN: {"is_admin": True}}, alertmanager_url=am_url
        ) as bot,
        start_alertmanager(
            binary=am_binary,
            config=two_receivers(bot.url, recorder_url),
            workdir=tmp_path / "alertmanager",
            port=am_port,
        ) as alertmanager,
    ):
        started = datetime.now(UTC) - timedelta(minutes=1)
        post_to_alertmanager(
            alertmanager,
            [
                instance_down(SILENCED, "web-1:9100", starts_at=started),
                instance_down(SILENCED, "web-2:9100", starts_at=started),
                instance_down(CONTROL, "db-1:9100", starts_at=started),
            ],
        )
        recorder.wait_for(SILENCED, 2)  # repeated while nobody silences it
        incident = wait_until(
            lambda: next((i for i in bot.rows(Incident) if i.alertname == SILENCED), None),
            what="sevbot's incident for the group",
        )
        bot.root(incident.id)

        answer = bot.ask(f"silence {incident.id} 1h e2e: fixing web", user_id=ADMIN)

        assert answer.startswith(f"Incident #{incident.id} silenced in Alertmanager"), answer
        [silence] = active_silences(am_url)
        assert silence["createdBy"] == f"User {ADMIN} (Slack {ADMIN})"
        assert silence["comment"].startswith("e2e: fixing web (sevbot incident #")
        matchers = {m["name"]: m["value"] for m in silence["matchers"]}
        assert matchers["alertname"] == SILENCED and "instance" not in matchers  # the two instances differ
        assert all(m["isEqual"] and not m["isRegex"] for m in silence["matchers"])
        # One notification may have been on its way as the silence was made; after two of the control
        # group's, Alertmanager has passed its silences check for the silenced group too.
        recorder.wait_for(CONTROL, recorder.count(CONTROL) + 2)
        while_silenced = recorder.count(SILENCED)
        recorder.wait_for(CONTROL, recorder.count(CONTROL) + 3)
        assert recorder.count(SILENCED) == while_silenced, "Alertmanager notified a silenced group"

        removed = bot.ask("silence remove 1", user_id=ADMIN)

        assert removed.startswith("Silence 1 removed: Alertmanager expired"), removed
        assert active_silences(am_url) == []
        recorder.wait_for(SILENCED, while_silenced + 1)  # notified again
