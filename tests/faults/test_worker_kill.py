"""kill -9 of a ``sevbot worker`` in the middle of deliveries (one post accepted by Slack, its answer not yet
back), then a new worker: every message is posted exactly once."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import build_services
from tests.support.fake_slack import FakeSlack
from tests.support.faults import SLACK_ENV, metric, outbox_rows, report, slack_settings, wait_all_done
from tests.support.payloads import T0, am_alert
from tests.support.processes import kill_hard, start_worker
from tests.support.settings import make_settings
from tests.support.slack import fire

pytestmark = pytest.mark.faults

INCIDENTS = 8
UPDATES = 3


def test_a_worker_killed_mid_delivery_and_a_new_one_post_every_message_exactly_once(
    tmp_path: Path, database_url: str, slack: FakeSlack
) -> None:
    services = build_services(make_settings(tmp_path, database_url))
    try:
        for i in range(INCIDENTS):
            fire(services, am_alert(name=f"Alert{i}"))
            for step in range(1, UPDATES + 1):
                fire(
                    services,
                    am_alert(name=f"Alert{i}", instance=f"i{step}", starts_at=T0 + timedelta(seconds=step)),
                )
    finally:
        services.close()
    posts = itertools.count()
    # The 10th post is accepted by Slack and its answer held: the worker is killed while it waits.
    slack.hold_next("chat.postMessage", seconds=60, where=lambda args: next(posts) == 9)
    settings = slack_settings(slack, outbox_lease_seconds="2", slack_timeout_seconds="30")

    with start_worker(
        data_dir=tmp_path, database_url=database_url, name="first", settings=settings, env=SLACK_ENV
    ) as first:
        slack.wait_for("chat.postMessage", 10, timeout=30)
        kill_hard(first.process)
    posted_before_kill = len(slack.calls_to("chat.postMessage", ok=True))

    with start_worker(
        data_dir=tmp_path, database_url=database_url, name="second", settings=settings, env=SLACK_ENV
    ) as second:
        wait_all_done(database_url)
        adopted = metric(second.url + "/metrics", "sevbot_slack_post_lookups_total", outcome="adopted")
        looked = metric(second.url + "/metrics", "sevbot_slack_post_lookups_total")

    counts = slack.post_counts()
    rows = outbox_rows(database_url)
    replies = {r["result"]["reply_ts"] for r in rows if "reply_ts" in r["result"]}
    report(
        "worker_kill_9",
        database=database_url.split(":", 1)[0],
        messages=len(counts),
        posts_accepted=sum(counts.values()),
        posted_before_kill=posted_before_kill,
        posts_per_message=sorted(set(counts.values())),
        lookups=looked,
        adopted=adopted,
    )
    assert all(count == 1 for count in counts.values()), {k: v for k, v in counts.items() if v != 1}
    assert sum(1 for key in counts if key.part == "root") == INCIDENTS
    assert all(key.outbox_id and key.incident_id for key in counts)  # every post carried its metadata
    ts_by_key: dict[Any, str] = {}
    for call in slack.calls_to("chat.postMessage", ok=True):
        ts_by_key[
            call.args["metadata"]["event_payload"]["outbox_id"],
            call.args["metadata"]["event_payload"]["part"],
        ] = call.response["ts"]
    assert {ts for (_, part), ts in ts_by_key.items() if part == "reply"} == replies  # every reply recorded
    assert adopted >= 1  # the held post was found and adopted, not posted again
