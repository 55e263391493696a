"""Two ``sevbot worker`` processes on one PostgreSQL database deliver to the fake Slack: nothing twice."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.bootstrap import build_services
from storage.models import Incident, OutboxMessage
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert
from tests.support.processes import sevbot_command, sevbot_env, stop_process, wait_until
from tests.support.settings import make_settings
from tests.support.slack import BOT_TOKEN, fire

INCIDENTS = 12


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_worker_processes_on_postgres_never_post_the_same_message_twice(
    tmp_path: Path, database_url: str, clock: Clock, slack: FakeSlack
) -> None:
    services = build_services(make_settings(tmp_path, database_url), clock=clock)
    try:
        for i in range(INCIDENTS):
            fire(services, am_alert(name=f"Alert{i}", service=f"svc-{i}"))
        for step in range(1, 4):
            for i in range(INCIDENTS):
                fire(
                    services,
                    am_alert(
                        name=f"Alert{i}",
                        service=f"svc-{i}",
                        instance=f"i{step}",
                        starts_at=T0 + timedelta(seconds=step),
                    ),
                )
        # A short outage at the start: both workers retry, neither posts twice.
        slack.fail_next("chat.postMessage", status=500, times=3)
        slack.fail_next("chat.update", status=429, retry_after=1, times=2)
        env = sevbot_env(
            data_dir=tmp_path,
            token=None,
            database_url=database_url,
            slack_api_url=slack.api_url,
            slack_channel="#alerts",
            slack_channel_interval="0",
            slack_reply_interval="0s",
            outbox_poll_seconds="0.1",
            log_level="WARNING",
        )
        env["SLACK_BOT_TOKEN"] = BOT_TOKEN
        workers = [
            subprocess.Popen(
                [*sevbot_command(), "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / f"worker{n}.log").open("wb"),
            )
            for n in range(2)
        ]
        try:
            # Every topic: a summary draft (topic llm) adds its Slack reply only once it is drafted.
            wait_until(lambda: _pending(services) == 0, what="the outbox to drain", timeout=60)
        finally:
            for process in workers:
                stop_process(process)
        rows = _slack_rows(services)
        with services.db.read() as conn:
            roots = {r.id: r.slack_ts for r in conn.execute(select(Incident.id, Incident.slack_ts))}
    finally:
        services.close()

    posted = [c for c in slack.calls_to("chat.postMessage", ok=True)]
    recorded = {roots[i] for i in roots} | {
        r["result"]["reply_ts"] for r in rows if "reply_ts" in r["result"]
    }
    assert len([c for c in posted if "thread_ts" not in c.args]) == INCIDENTS  # one root each
    assert {c.response["ts"] for c in posted} == recorded  # every post is one the outbox accounts for
    assert len(posted) == len(recorded)  # and none went out twice
    assert all(r["status"] == "done" for r in rows), [
        (r["status"], r["last_error"]) for r in rows if r["status"] != "done"
    ]


def _slack_rows(services: Any) -> list[dict[str, Any]]:
    with services.db.read() as conn:
        result = conn.execute(
            select(OutboxMessage).where(OutboxMessage.topic == "slack").order_by(OutboxMessage.id)
        )
        return [dict(r._mapping) for r in result]


def _pending(services: Any) -> int:
    with services.db.read() as conn:
        statuses = conn.execute(select(OutboxMessage.status)).scalars()
        return sum(1 for status in statuses if status == "pending")
