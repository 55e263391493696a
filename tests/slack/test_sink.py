"""The Slack sink through the real outbox worker and the real slack_sdk client, against the fake Slack."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import update

from bot.bootstrap import Services
from bot.incidents.actions import IncidentActions
from bot.settings import FileConfig
from bot.slack.pacing import ChannelPacer, wall_clock
from storage.models import Incident
from storage.outbox import NewMessage, OutboxRepository
from storage.slack import SlackStateRepository
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert
from tests.support.slack import Delivery, fire, make_delivery


def test_a_new_incident_gives_one_root_post_and_stores_where_it_went(
    delivery: Delivery, slack: FakeSlack
) -> None:
    fire(delivery.services, am_alert())

    delivery.run()

    [post] = slack.calls_to("chat.postMessage")
    assert post.args["channel"] == "#alerts" and "thread_ts" not in post.args
    blocks = json.loads(post.args["blocks"]) if isinstance(post.args["blocks"], str) else post.args["blocks"]
    kinds = [b["type"] for b in blocks]
    assert kinds[0] == "header" and "actions" in kinds
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e.get("action_id") for e in actions["elements"]] == [
        "incident_ack",
        "incident_resolve",
        "incident_why",
        "incident_severity",
        "incident_silence",
    ]
    text = json.dumps(blocks)
    assert "<!date^" in text and "CheckoutHighErrorRate" in text and "source says critical" in text
    incident = delivery.incident()
    assert (incident.slack_channel, incident.slack_ts) == ("C0ALERTS", post.response["ts"])
    assert [r["status"] for r in delivery.rows()] == ["done"]


def test_twenty_more_alerts_give_one_batched_reply_and_one_root_update(
    delivery: Delivery, slack: FakeSlack
) -> None:
    fire(delivery.services, am_alert())
    delivery.run()
    for i in range(20):
        fire(
            delivery.services,
            am_alert(instance=f"checkout-{i + 2}:8080", starts_at=T0 + timedelta(seconds=i + 1)),
        )

    delivery.run()

    root = delivery.incident()
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and posts[1].args["thread_ts"] == root.slack_ts
    assert "20 more alerts joined" in posts[1].args["text"]
    [update] = slack.calls_to("chat.update")
    assert update.args["ts"] == root.slack_ts and "21 (21 firing)" in json.dumps(update.args["blocks"])
    assert [r["status"] for r in delivery.rows()] == ["done"] * 21


def test_replies_about_joined_alerts_wait_for_the_interval_and_then_go_together(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    fire(delivery.services, am_alert(instance="b"))
    delivery.run()  # root + first reply
    fire(delivery.services, am_alert(instance="c"))
    fire(delivery.services, am_alert(instance="d"))
    clock.now += timedelta(seconds=10)
    delivery.run()
    assert len(slack.calls_to("chat.postMessage")) == 2  # held back: a reply went out 10 s ago

    clock.now += timedelta(seconds=20)
    delivery.run()

    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 3 and "2 more alerts joined" in posts[2].args["text"]
    assert delivery.pending() == 0


def test_a_person_acting_is_not_held_back_by_batching(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    fire(delivery.services, am_alert(instance="b"))
    delivery.run()
    fire(delivery.services, am_alert(instance="c"))
    delivery.run()  # the join waits for the interval
    with delivery.services.db.write() as conn:
        IncidentActions(conn).acknowledge(1, user="U0ALICE", at=clock.now, now=clock.now)
        from storage.slack import SlackStateRepository

        SlackStateRepository(conn).wake_incident(1, topic="slack", now=clock.now)

    delivery.run()

    texts = [c.args["text"] for c in slack.calls_to("chat.postMessage")]
    assert "1 more alert joined" in texts[2] and "Acknowledged by <@U0ALICE>" in texts[2]
    assert "Acknowledged" in json.dumps(slack.calls_to("chat.update")[-1].args["blocks"])


def test_429_then_200_delivers_once_after_retry_after(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    slack.fail_next("chat.postMessage", status=429, retry_after=7)

    delivery.run()
    [row] = delivery.rows()
    assert row["status"] == "pending" and row["last_error"] == "retry after 7.0s"
    clock.now += timedelta(seconds=6)
    assert delivery.run() == 0  # Retry-After honoured
    clock.now += timedelta(seconds=1)
    delivery.run()

    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [False, True]
    assert len(slack.messages()) == 1
    assert 'sevbot_slack_api_errors_total{error="ratelimited",method="chat.postMessage"} 1.0' in (
        generate_latest(delivery.metrics.registry).decode()
    )


def test_500_then_success_does_not_post_twice(delivery: Delivery, slack: FakeSlack, clock: Clock) -> None:
    fire(delivery.services, am_alert())
    delivery.run()
    fire(delivery.services, am_alert(instance="b"))
    slack.fail_next("chat.update", status=500, body="<html>Internal Server Error</html>")

    delivery.run()  # the reply went out, then the root update failed
    clock.now += timedelta(seconds=1)
    delivery.run()

    replies = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.args]
    assert len(replies) == 1
    assert [c.ok for c in slack.calls_to("chat.update")] == [False, True]
    assert [r["status"] for r in delivery.rows()] == ["done", "done"]


def test_a_permanent_error_is_recorded_counted_and_not_retried(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    slack.fail_next("chat.postMessage", error="msg_too_long")
    fire(delivery.services, am_alert())

    delivery.run()
    clock.now += timedelta(hours=1)
    delivery.run()

    [row] = delivery.rows()
    assert (row["status"], row["last_error"], row["attempts"]) == (
        "failed",
        "chat.postMessage: msg_too_long",
        1,
    )
    assert len(slack.calls_to("chat.postMessage")) == 1
    metrics = generate_latest(delivery.metrics.registry).decode()
    assert 'sevbot_slack_api_errors_total{error="msg_too_long",method="chat.postMessage"} 1.0' in metrics
    assert 'sevbot_outbox_delivered_total{outcome="failed",topic="slack"} 1.0' in metrics


def test_a_channel_the_bot_cannot_post_to_parks_the_row_and_holds_back_its_incident(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    slack.unknown_channels.add("alerts")
    delivery = make_delivery(services, slack, clock)
    fire(services, am_alert())
    delivery.run()
    fire(services, am_alert(instance="b"))  # a later update of the same incident

    clock.now += timedelta(hours=1)
    delivery.run()

    assert [(r["status"], r["parked_reason"]) for r in delivery.rows()] == [
        ("parked", "channel_not_found"),
        ("pending", None),  # held back behind the parked root: order is kept
    ]
    assert len(slack.calls_to("chat.postMessage")) == 1
    metrics = generate_latest(delivery.metrics.registry).decode()
    assert 'sevbot_outbox_parked_total{reason="channel_not_found",topic="slack"} 1.0' in metrics
    assert 'sevbot_outbox_delivered_total{outcome="parked",topic="slack"} 1.0' in metrics

    slack.unknown_channels.clear()  # the operator fixed the channel
    with services.db.write() as conn:
        assert OutboxRepository(conn).retry_now(now=clock.now, parked=True).unparked == 1
    delivery.drain()

    posts = slack.calls_to("chat.postMessage", ok=True)
    assert ["thread_ts" in p.args for p in posts] == [False, True]  # root, then the reply
    assert all(count == 1 for count in slack.post_counts().values())


def test_an_outage_delays_everything_and_loses_nothing_in_order_without_duplicates(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    for name in ("A", "B", "C"):  # three services: three unrelated incidents
        fire(delivery.services, am_alert(name=name, service=f"svc-{name}"))
    delivery.run()  # three roots
    slack.fail_next("chat.postMessage", status=500, times=6)
    slack.fail_next("chat.update", status=503, times=2)
    for step in range(3):
        for name in ("A", "B", "C"):
            fire(
                delivery.services,
                am_alert(
                    name=name,
                    service=f"svc-{name}",
                    instance=f"x{step}",
                    starts_at=T0 + timedelta(minutes=step),
                ),
            )
        clock.now += timedelta(seconds=40)
        delivery.run()

    delivery.drain(step=timedelta(seconds=40))

    by_thread: dict[str, list[str]] = {}
    for message in slack.messages():
        if message.thread_ts:
            by_thread.setdefault(message.thread_ts, []).append(message.text)
    assert len(by_thread) == 3
    for texts in by_thread.values():
        # 3 joined alerts per incident reached Slack, each exactly once, in the order they happened.
        counts = [int(t.split(" more alert")[0].rsplit(" ", 1)[-1]) for t in texts]
        assert sum(counts) == 3
    oks = [c for c in slack.calls if c.method == "chat.postMessage" and c.ok]
    assert len({c.response["ts"] for c in oks}) == len(oks) == len(slack.messages())
    assert all(r["status"] == "done" for r in delivery.rows())


def test_an_earlier_failed_message_holds_back_later_ones_of_its_incident(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert(name="A"))
    fire(delivery.services, am_alert(name="B", service="payments"))  # unrelated to A
    slack.fail_next(
        "chat.postMessage", status=500, where=lambda args: "#1" in args.get("text", "")
    )  # A's root
    delivery.run()
    fire(delivery.services, am_alert(name="A", instance="later"))
    delivery.run()  # A's update must not overtake A's root

    assert [c.args["text"].split(":")[0] for c in slack.calls_to("chat.postMessage", ok=True)] == [
        "SEV1 incident #2 (Open)"
    ]
    clock.now += timedelta(seconds=1)
    delivery.run()
    a_posts = [
        c
        for c in slack.calls_to("chat.postMessage", ok=True)
        if "#1" in c.args["text"] or "thread_ts" in c.args
    ]
    assert "thread_ts" not in a_posts[0].args and "thread_ts" in a_posts[1].args


def test_routing_sends_incidents_to_the_matching_channel(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    config = FileConfig.model_validate(
        {
            "slack": {
                "default_channel": "#general",
                "routes": [
                    {"match": {"service": "payments", "severity": "SEV1"}, "channel": "#payments-oncall"},
                    {"match": {"team": "storage"}, "channel": "#storage"},
                ],
            },
            "services": {"db": {"team": "storage"}},
        }
    )
    delivery = make_delivery(services, slack, clock, config=config)
    fire(services, am_alert(name="PayDown", service="payments"))
    fire(services, am_alert(name="PayWarn", service="payments", severity="warning"))
    fire(services, am_alert(name="DiskFull", service="db", severity="warning"))

    delivery.run()

    routed = {
        c.args["text"].split(": ", 1)[1].split(" on ")[0]: c.args["channel"]
        for c in slack.calls_to("chat.postMessage")
    }
    assert routed == {"PayDown": "#payments-oncall", "PayWarn": "#general", "DiskFull": "#storage"}


def test_silenced_incidents_get_no_posts_until_the_silence_expires(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    config = FileConfig.model_validate(
        {
            "silences": [
                {"match": {"alertname": "Noisy"}, "until": (clock.now + timedelta(hours=1)).isoformat()}
            ]
        }
    )
    delivery = make_delivery(services, slack, clock, config=config)
    fire(services, am_alert(name="Noisy"))
    fire(services, am_alert(name="Real"))
    delivery.run()
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert delivery.rows()[0]["result"] == {"silenced": "config silence 1"}

    clock.now += timedelta(hours=2)
    fire(services, am_alert(name="Noisy", instance="again", starts_at=T0 + timedelta(minutes=5)))
    delivery.run()

    noisy = [c for c in slack.calls_to("chat.postMessage") if "Noisy" in c.args["text"]]
    # Once the silence is over the root goes out first, then the thread carries on.
    assert ["thread_ts" in c.args for c in noisy] == [False, True]


class VirtualTime:
    """A wall clock for the pacer that only moves when someone sleeps on it (no real waiting)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = max(self.now, self.now + timedelta(seconds=seconds))


def test_posts_to_one_channel_are_paced_across_workers(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    for name in "ABCD":  # four services: four roots
        fire(services, am_alert(name=name, service=f"svc-{name}"))
    time = VirtualTime()
    posted_at: list[datetime] = []

    async def sleep_then_note(seconds: float) -> None:
        await time.sleep(seconds)

    def pacer() -> ChannelPacer:
        return ChannelPacer(services.db, interval=0.2, max_sleep=5.0, now=time, sleep=sleep_then_note)

    first = make_delivery(services, slack, clock, pacer=pacer(), name="w1")
    second = make_delivery(services, slack, clock, pacer=pacer(), name="w2")
    first.worker.batch_size = second.worker.batch_size = 2
    real_call = first.sink.client.chat_postMessage

    async def noting(**kwargs: Any) -> Any:
        posted_at.append(time.now)
        return await real_call(**kwargs)

    first.sink.client.chat_postMessage = noting  # type: ignore[method-assign]
    second.sink.client.chat_postMessage = noting  # type: ignore[method-assign]

    async def both() -> None:
        while sum(await asyncio.gather(first.worker.run_once(), second.worker.run_once())):
            pass

    asyncio.run(both())

    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 4 and {c.args["channel"] for c in posts} == {"#alerts"}
    assert {r["claimed_by"] for r in first.rows()} == {"w1", "w2"}  # both workers posted
    # The schedule lives in SQL: each post waited for the slot 0.2 s after the previous one, whichever
    # worker sent it (unpaced, all four would go at T0 on the pacer's clock).
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sorted(posted_at))]
    assert len(gaps) == 3 and min(gaps) >= 0.2 - 1e-9, (gaps, [r["last_error"] for r in first.rows()])


def test_a_busy_channel_does_not_hold_up_the_others(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    config = FileConfig.model_validate(
        {"slack": {"routes": [{"match": {"service": "db"}, "channel": "#db"}]}}
    )
    delivery = make_delivery(services, slack, clock, config=config)
    delivery.sink.pacer = ChannelPacer(services.db, interval=60)  # the next turn in #alerts is a minute away
    fire(services, am_alert(name="A"))
    fire(services, am_alert(name="B", service="search"))  # unrelated to A: its own root in #alerts
    fire(services, am_alert(name="C", service="db"))

    delivery.run()

    assert sorted(c.args["channel"] for c in slack.calls_to("chat.postMessage")) == ["#alerts", "#db"]
    waiting = [r for r in delivery.rows() if r["status"] == "pending"]
    assert len(waiting) == 1 and waiting[0]["incident_id"] in (1, 2)  # whichever of A and B came second
    assert waiting[0]["last_error"].startswith("paced: the channel's next turn is in")
    clock.now += timedelta(seconds=61)
    assert (
        delivery.run() >= 1 and len(slack.calls_to("chat.postMessage")) == 2
    )  # still not its turn (wall clock)


def test_a_new_incident_is_posted_at_once_in_a_channel_whose_replies_are_paced(
    services: Services, slack: FakeSlack, clock: Clock
) -> None:
    delivery = make_delivery(services, slack, clock)
    delivery.sink.pacer = ChannelPacer(services.db, interval=60)
    with services.db.write() as conn:  # other incidents' replies and updates hold #alerts for a while
        SlackStateRepository(conn).reserve_slot(
            "#alerts", now=wall_clock(), interval=timedelta(seconds=600), max_wait=timedelta(0)
        )
    fire(services, am_alert(name="A"))

    delivery.run()

    [root] = slack.calls_to("chat.postMessage")
    assert root.args["channel"] == "#alerts" and "thread_ts" not in root.args
    fire(services, am_alert(name="A", instance="b"))  # a change of A: a reply, which waits its turn
    delivery.run()
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert any(str(r["last_error"]).startswith("paced:") for r in delivery.rows())


def test_a_flapping_incident_keeps_one_reply_up_to_date_instead_of_posting_each_change(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    fire(delivery.services, am_alert(instance="b"))
    delivery.run()  # root and a first reply
    with delivery.services.db.write() as conn:
        conn.execute(update(Incident).where(Incident.id == 1).values(flapping=True))
        OutboxRepository(conn).enqueue(
            [NewMessage("slack", "incident.updated", 1, {"changes": [{"kind": "incident.resolved"}]})],
            clock.now,
        )
    clock.now += timedelta(seconds=5)
    delivery.run()
    [*_, flap] = slack.calls_to("chat.postMessage")
    assert len(slack.calls_to("chat.postMessage")) == 3 and "Flapping" in flap.args["text"]
    for kind in ("incident.reopened", "incident.resolved", "incident.reopened"):
        with delivery.services.db.write() as conn:
            OutboxRepository(conn).enqueue(
                [NewMessage("slack", "incident.updated", 1, {"changes": [{"kind": kind}]})], clock.now
            )
        clock.now += timedelta(seconds=5)
        delivery.run()

    assert len(slack.calls_to("chat.postMessage")) == 3  # no new reply while it flaps
    edits = [c for c in slack.calls_to("chat.update") if c.args["ts"] == flap.response["ts"]]
    assert len(edits) == 3 and all("Flapping" in c.args["text"] for c in edits)
    assert delivery.pending() == 0


@pytest.mark.parametrize(
    ("retry_after", "waited"), [("99999999", 300), ("1e12", 300), ("inf", 300), ("nan", 30), ("-5", 1)]
)
def test_an_absurd_retry_after_waits_five_minutes_at_most_not_years(
    delivery: Delivery, slack: FakeSlack, clock: Clock, retry_after: str, waited: int
) -> None:
    fire(delivery.services, am_alert())
    slack.fail_next("chat.postMessage", status=429, retry_after=retry_after)  # a broken proxy, say

    delivery.run()
    [row] = delivery.rows()
    assert row["status"] == "pending" and row["last_error"] == f"retry after {waited:.1f}s"
    clock.now += timedelta(seconds=waited)
    delivery.run()

    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [False, True]


def test_a_retry_after_the_reply_went_out_does_not_swallow_newer_updates(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    fire(delivery.services, am_alert())
    delivery.run()
    fire(delivery.services, am_alert(instance="b"))
    slack.fail_next("chat.update", status=500)
    delivery.run()  # reply about "b" posted, root update failed: the row will be retried
    fire(delivery.services, am_alert(instance="c"))  # arrives before the retry
    clock.now += timedelta(seconds=31)

    delivery.drain()

    replies = [c.args["text"] for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.args]
    assert len(replies) == 2 and all("1 more alert joined" in r for r in replies)  # "c" was not swallowed


def test_huge_alert_texts_and_many_alerts_are_accepted_by_slack(
    delivery: Delivery, slack: FakeSlack, clock: Clock
) -> None:
    huge = "<!channel> " + "disk full on /var/lib/postgresql " * 700  # ~23,000 characters
    fire(
        delivery.services,
        am_alert(annotations={"summary": huge, "description": huge}, extra_labels={"team": huge[:500]}),
    )
    delivery.run()
    for i in range(60):
        fire(
            delivery.services,
            am_alert(name=f"Other{i}-" + "x" * 200, instance=f"i{i}"),
            group_key="one-group",
        )
    fire(delivery.services, *[am_alert(instance=f"host-{i}") for i in range(120)])

    delivery.drain(step=timedelta(seconds=31))

    posts = slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
    assert posts and all(c.ok for c in posts), [c.response for c in posts if not c.ok]
    assert all("<!channel>" not in c.args.get("text", "") for c in posts)
