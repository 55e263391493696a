"""Slack accepts a post and holds the answer past the client's timeout; a second worker takes the row over
after the lease: still exactly one post, and the first worker's late writes change nothing (counted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import build_services
from tests.support.fake_slack import FakeSlack
from tests.support.faults import SLACK_ENV, metric, report, slack_settings, wait_all_done
from tests.support.payloads import am_alert
from tests.support.processes import start_worker, wait_until
from tests.support.settings import make_settings
from tests.support.slack import fire

pytestmark = pytest.mark.faults


def test_a_post_answered_after_the_timeout_and_taken_over_after_the_lease_is_posted_once(
    tmp_path: Path, database_url: str, slack: FakeSlack
) -> None:
    services = build_services(make_settings(tmp_path, database_url))  # the schema, before the workers
    # The first root post: accepted at once, answered only after 10 s; each client gives up after 5 s, and
    # a claim's lease is 2 s, so the other worker takes the row over while the first still waits. (The lease
    # must outlast the claimant's way from its claim to its post: 1 s could be too short on a busy machine.)
    held = slack.hold_next("chat.postMessage", seconds=10, where=lambda args: "thread_ts" not in args)
    settings = slack_settings(slack, outbox_lease_seconds="2", slack_timeout_seconds="5")

    with (
        start_worker(
            data_dir=tmp_path, database_url=database_url, name="a", settings=settings, env=SLACK_ENV
        ) as a,
        start_worker(
            data_dir=tmp_path, database_url=database_url, name="b", settings=settings, env=SLACK_ENV
        ) as b,
    ):
        try:  # both workers are polling now
            for i in range(3):
                fire(services, am_alert(name=f"Alert{i}"))
        finally:
            services.close()
        wait_all_done(database_url)
        lost = lambda: sum(metric(w.url + "/metrics", "sevbot_outbox_lease_lost_total") for w in (a, b))  # noqa: E731
        wait_until(
            lambda: lost() >= 1, what="the first worker's late write to be refused and counted", timeout=20
        )
        adopted = sum(
            metric(w.url + "/metrics", "sevbot_slack_post_lookups_total", outcome="adopted") for w in (a, b)
        )
        lease_lost = lost()
    held.released.set()

    counts = slack.post_counts()
    report(
        "slack_timeout_then_lease_takeover",
        database=database_url.split(":", 1)[0],
        messages=len(counts),
        posts_accepted=sum(counts.values()),
        posts_per_message=sorted(set(counts.values())),
        adopted=adopted,
        lease_lost=lease_lost,
    )
    assert all(count == 1 for count in counts.values()), counts
    assert sum(1 for key in counts if key.part == "root") == 3
    assert adopted >= 1 and lease_lost >= 1
