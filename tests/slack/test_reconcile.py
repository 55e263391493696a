"""Exactly once to Slack: every post carries metadata, and after an unknown outcome the next attempt finds
the earlier post (conversations.history / conversations.replies) instead of posting again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prometheus_client import generate_latest

from bot.bootstrap import Services
from bot.outbox.worker import ROOT_KINDS
from bot.slack.reconcile import Part, find_in, metadata
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack, PostKey
from tests.support.payloads import am_alert
from tests.support.slack import Delivery, fire, make_delivery


def is_root(args: dict[str, object]) -> bool:
    return "thread_ts" not in args


def test_the_metadata_names_the_incident_the_row_and_the_part() -> None:
    post = metadata(incident_id=12, outbox_id=345, part=Part.REPLY)
    messages = [
        {"ts": "1.1", "metadata": metadata(incident_id=12, outbox_id=344, part=Part.REPLY)},
        {"ts": "1.2", "metadata": metadata(incident_id=12, outbox_id=345, part=Part.ROOT)},
        {"ts": "1.3"},
        {"ts": "1.4", "metadata": {"event_type": "someone_else", "event_payload": post["event_payload"]}},
        {"ts": "1.5", "metadata": {"event_type": "sevbot_message", "event_payload": post["event_payload"]}},
    ]

    assert post == {
        "event_type": "sevbot_message",
        "event_payload": {"incident_id": 12, "outbox_id": 345, "part": "reply"},
    }
    assert find_in(messages, post) == "1.5"
    assert find_in(messages[:4], post) is None


def test_every_post_carries_its_metadata(delivery: Delivery, slack: FakeSlack) -> None:
    fire(delivery.services, am_alert())
    fire(delivery.services, am_alert(instance="b"))

    delivery.run()

    assert slack.post_counts() == {PostKey(1, 1, "root"): 1, PostKey(1, 3, "reply"): 1}
    assert all(
        c.args["metadata"]["event_type"] == "sevbot_message" for c in slack.calls_to("chat.postMessage")
    )


def test_a_root_post_whose_answer_never_came_is_found_and_not_posted_again(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    delivery = make_delivery(services, slack, clock, timeout=2)
    fire(services, am_alert())
    held = slack.hold_next("chat.postMessage", seconds=30, where=is_root)  # posted; the answer is late

    delivery.run()  # the client gives up after 2 s: outcome unknown, retried later
    held.released.set()
    [row] = delivery.rows()
    assert row["status"] == "pending" and "TimeoutError" in (row["last_error"] or "")
    clock.now += timedelta(seconds=2)
    delivery.run()

    [posted] = slack.calls_to("chat.postMessage")
    assert slack.post_counts() == {PostKey(1, 1, "root"): 1}
    assert delivery.incident().slack_ts == posted.response["ts"]  # adopted
    assert [c.method for c in slack.calls[1:]] == [
        "conversations.list",
        "conversations.history",
        "chat.update",
    ]
    assert [r["status"] for r in delivery.rows()] == ["done"]
    metrics = generate_latest(delivery.metrics.registry).decode()
    assert 'sevbot_slack_post_lookups_total{outcome="adopted",part="root"} 1.0' in metrics


def test_a_connection_dropped_after_slack_posted_is_not_resent_by_the_client(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    delivery.run()
    fire(delivery.services, am_alert(instance="b"))
    # slack_sdk's default retry handler would resend this at once: a second reply.
    slack.drop_next("chat.postMessage", where=lambda args: not is_root(args))

    delivery.run()
    clock.now += timedelta(seconds=2)
    delivery.run()

    assert len(slack.calls_to("chat.postMessage")) == 2  # the root and one reply, each sent once
    assert slack.post_counts() == {PostKey(1, 1, "root"): 1, PostKey(1, 3, "reply"): 1}
    [lookup] = slack.calls_to("conversations.replies")
    assert lookup.args["include_all_metadata"] in ("1", "true", True)
    [reply] = slack.thread("C0ALERTS", delivery.incident().slack_ts or "")
    assert [r["result"]["reply_ts"] for r in delivery.rows() if "reply_ts" in r["result"]] == [reply.ts]


def test_a_post_that_never_reached_slack_is_looked_for_then_posted(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    slack.fail_next("chat.postMessage", status=503)  # 5xx: whether it posted is unknown

    delivery.run()
    clock.now += timedelta(seconds=2)
    delivery.run()

    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [False, True]
    assert [c.method for c in slack.calls_to("conversations.history")] == ["conversations.history"]
    assert slack.post_counts() == {PostKey(1, 1, "root"): 1}
    metrics = generate_latest(delivery.metrics.registry).decode()
    assert 'sevbot_slack_post_lookups_total{outcome="absent",part="root"} 1.0' in metrics


@pytest.mark.parametrize(
    "answer", ["<html>proxy says hi</html>", '{"ok": tr', "null", '{"ok": false}', '{"ok": true}']
)
def test_a_post_answered_with_no_answer_of_slacks_is_looked_up_not_failed_or_posted_twice(
    delivery: Delivery, slack: FakeSlack, clock: Clock, answer: str
) -> None:
    fire(delivery.services, am_alert())
    slack.fail_next("chat.postMessage", status=200, body=answer, posted=True, where=is_root)

    delivery.run()
    [row] = delivery.rows()
    assert row["status"] == "pending"  # outcome unknown: not failed for good
    clock.now += timedelta(minutes=5)
    delivery.drain()

    assert len([c for c in slack.calls_to("chat.postMessage") if is_root(c.args)]) == 1  # posted once
    [root] = [m for m in slack.messages() if m.thread_ts in (None, m.ts)]
    assert delivery.incident().slack_ts == root.ts  # found and adopted
    assert all(r["status"] == "done" for r in delivery.rows())


def test_a_refused_post_is_retried_without_looking(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    slack.fail_next("chat.postMessage", status=429, retry_after=1)  # Slack said no: nothing was posted

    delivery.run()
    clock.now += timedelta(seconds=2)
    delivery.run()

    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [False, True]
    assert slack.calls_to("conversations.history") == []


def test_a_worker_whose_lease_was_taken_over_posts_nothing_more_and_changes_nothing(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    slow = make_delivery(services, slack, clock, timeout=30, lease=timedelta(seconds=1), name="slow")
    other = make_delivery(services, slack, clock, lease=timedelta(seconds=1), name="other")
    fire(services, am_alert())
    # Posted; the answer comes only once the other worker has taken over (leases run on the test's clock,
    # so however long the takeover takes on a busy machine, the slow worker is still waiting).
    held = slack.hold_next("chat.postMessage", seconds=30, where=is_root)

    # Both workers take root posts only: the incident's other rows (its summary draft, which these workers
    # have no sink for) would be claimed with the root by the slow worker and, on a loaded machine, still
    # be unsettled when the clock moves on below, so the other worker would take them over too.
    async def both() -> None:
        first = asyncio.create_task(slow.worker.run_once(kinds=ROOT_KINDS))
        await asyncio.to_thread(slack.wait_for, "chat.postMessage")  # the slow worker's post is in
        clock.now += timedelta(seconds=2)  # … and its lease runs out meanwhile
        # Taken over: finds the post, adopts it, completes.
        assert await other.worker.run_once(kinds=ROOT_KINDS) == 1
        held.released.set()
        await first  # the slow worker's answer arrives: its writes are refused

    asyncio.run(both())

    assert slack.post_counts() == {PostKey(1, 1, "root"): 1}
    [row] = slow.rows()
    assert (row["status"], row["claimed_by"]) == ("done", "other")
    assert delivery_metric(slow, "sevbot_outbox_lease_lost_total") == 1.0
    assert delivery_metric(other, "sevbot_outbox_lease_lost_total") == 0.0


def delivery_metric(delivery: Delivery, name: str) -> float:
    for line in generate_latest(delivery.metrics.registry).decode().splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
