"""Related incidents as one story and a flapping alert as one alert, through sevbot served over real HTTP
(webhooks in, the real Slack app and sink out) against the fake Slack."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.models import Feedback, Incident, OutboxMessage, Silence
from tests.support.fake_slack import Call
from tests.support.payloads import T0, am_alert, am_payload, iso
from tests.support.processes import wait_until
from tests.support.slack_app import WEBHOOK_TOKEN, SlackBot, posted_text, running_slack_bot

PAGE = "<!subteam^S0SEARCH>"
# Five rules on one service, in the order their webhooks come: the first is not the most severe.
STORM = [
    ("SearchLatencyHigh", "warning"),
    ("SearchErrorsHigh", "critical"),
    ("SearchQueueBacklog", "warning"),
    ("SearchIndexerDown", "critical"),
    ("SearchCacheMisses", "info"),
]


def send(bot: SlackBot, alerts: list[dict[str, Any]], group_key: str | None = None) -> dict[str, Any]:
    response = bot.http.post(
        f"{bot.url}/webhooks/alertmanager",
        json=am_payload(alerts, group_key=group_key),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def settle(bot: SlackBot, done: Any, *, what: str) -> Any:
    """Wait for ``done()``, moving the bot's clock on so waiting rows come due (the clock is the test's)."""

    def check() -> Any:
        bot.clock.now += timedelta(seconds=2)
        bot.app.state.worker.wake()
        return done()

    return wait_until(check, what=what, timeout=30, interval=0.05)


def header_id(call: Call) -> int:
    """The incident a root-like post is about, from its header ("SEV2 · #4 · title")."""
    blocks = call.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    header = next(b for b in blocks if b["type"] == "header")["text"]["text"]
    return int(re.search(r"· #(\d+) ·", header).group(1))  # type: ignore[union-attr]


def posts(bot: SlackBot) -> list[Call]:
    return bot.slack.calls_to("chat.postMessage", ok=True)


def incidents(bot: SlackBot) -> list[Incident]:
    with bot.services.db.read() as conn:
        return [Incident(**row._mapping) for row in conn.execute(select(Incident).order_by(Incident.id))]


def test_a_fifty_alert_storm_on_one_service_is_one_channel_message_with_its_incidents_threaded_and_one_page(
    tmp_path: Path, database_url: str
) -> None:
    with running_slack_bot(tmp_path, database_url, slack_sev1_mention=PAGE) as bot:
        for rule, (name, severity) in enumerate(STORM):
            alerts = [
                am_alert(
                    name,
                    instance=f"search-{i}:9200",
                    severity=severity,
                    service="search",
                    starts_at=T0 + timedelta(seconds=rule * 3 + i // 4),
                )
                for i in range(10)
            ]
            assert len(send(bot, alerts)["opened"]) == 1

        def story_posted() -> bool:
            return len(posts(bot)) >= 5 and all(i.slack_ts for i in incidents(bot))

        settle(bot, story_posted, what="the storm's five posts")
        all_posts = posts(bot)
        channel = [c for c in all_posts if "thread_ts" not in c.args]
        assert len(channel) == 1, [posted_text(c)[:80] for c in channel]  # ONE channel message
        root_ts = channel[0].response["ts"]
        assert "#1 " in posted_text(channel[0]) and "SearchLatencyHigh" in posted_text(channel[0])
        threaded = [c for c in all_posts if c.args.get("thread_ts") == root_ts]
        cards = [c for c in threaded if "Related* to #1" in posted_text(c)]
        assert sorted(header_id(c) for c in cards) == [2, 3, 4, 5]  # each related incident once
        # One page for the lot: the first SEV1 (#2, a reply in the thread) mentions; #4, also SEV1, does not.
        paging = [c for c in all_posts if PAGE in str(c.args.get("text", ""))]
        assert len(paging) == 1 and paging[0].args.get("thread_ts") == root_ts
        assert "#2" in str(paging[0].args["text"])
        stored = incidents(bot)
        assert [i.related_to for i in stored] == [None, 1, 1, 1, 1]
        assert {i.slack_channel for i in stored} == {channel[0].response["channel"]}

        def root_lists_related() -> Call | None:
            updates = [c for c in bot.slack.calls_to("chat.update", ok=True) if c.args.get("ts") == root_ts]
            latest = updates[-1] if updates else None
            return latest if latest and all(f"#{n} " in posted_text(latest) for n in (2, 3, 4, 5)) else None

        root = settle(bot, root_lists_related, what="the root listing its related incidents")
        assert "Related" in posted_text(root) and "incident_ack_related" in posted_text(root)
        assert PAGE not in str(root.args.get("text", ""))  # an edit never pings again

        response = bot.click(
            {"action_id": "incident_ack_related", "value": "1", "block_id": "incident:1", "type": "button"}
        )
        assert response.status_code == 200
        settle(
            bot,
            lambda: all(i.status == "acknowledged" for i in incidents(bot)),
            what="every incident of the story acknowledged",
        )


def pending_slack_rows(bot: SlackBot) -> int:
    with bot.services.db.read() as conn:
        rows = conn.execute(
            select(OutboxMessage.id).where(OutboxMessage.topic == "slack", OutboxMessage.status == "pending")
        )
        return len(list(rows))


def test_a_flapping_alert_is_one_alert_with_its_count_and_one_reply_kept_up_to_date(
    tmp_path: Path, database_url: str
) -> None:
    pod = am_alert(
        "KubePodCrashLooping", instance="search-indexer-6c9f7b8d4-x2kqp", severity="warning", service="search"
    )
    with running_slack_bot(tmp_path, database_url) as bot:
        for cycle in range(8):  # fires for 2 minutes every 8 minutes: 8 firings in 56 minutes
            starts = T0 + timedelta(minutes=8 * cycle)
            firing = {**pod, "startsAt": iso(starts), "endsAt": iso(starts + timedelta(minutes=5))}
            send(bot, [firing])
            send(bot, [{**firing, "status": "resolved", "endsAt": iso(starts + timedelta(minutes=2))}])
            settle(bot, lambda: pending_slack_rows(bot) == 0, what=f"cycle {cycle} delivered")

        [incident] = incidents(bot)
        assert incident.flapping and incident.alert_count == 8  # eight firings, stored as such
        root_ts = str(incident.slack_ts)
        root_updates = [c for c in bot.slack.calls_to("chat.update", ok=True) if c.args["ts"] == root_ts]
        assert "1 alert, fired 8× in 56 min" in posted_text(root_updates[-1])
        assert "8 (0 firing)" not in posted_text(root_updates[-1])

        replies = [c for c in posts(bot) if c.args.get("thread_ts") == root_ts]
        flapping = [i for i, c in enumerate(replies) if "Flapping" in str(c.args["text"])]
        assert len(flapping) == 1  # one reply since it was flagged flapping: nothing posted after it
        assert flapping[0] == len(replies) - 1
        flap_ts = replies[flapping[0]].response["ts"]
        edits = [c for c in bot.slack.calls_to("chat.update", ok=True) if c.args["ts"] == flap_ts]
        assert edits and "fired 8×" in str(edits[-1].args["text"])
        assert not any("more alert" in str(c.args["text"]) for c in replies)  # refires are not new alerts


def test_noise_with_a_duration_rates_the_incident_and_silences_it_for_that_long(
    tmp_path: Path, database_url: str
) -> None:
    admins = {"U0ADMIN": {"is_admin": True}}
    with running_slack_bot(tmp_path, database_url, users=admins) as bot:
        send(bot, [am_alert("DiskPredictedFull", severity="warning", service="search")])
        bot.root(1)
        answer = bot.ask("noise 1 2h flaky predictor", user_id="U0ADMIN")
        assert "marked not actionable" in answer and "until" in answer
        posted = len(posts(bot))

        send(bot, [am_alert("DiskPredictedFull", instance="other", severity="warning", service="search")])
        with bot.services.db.read() as conn:
            [silence] = conn.execute(select(Silence)).all()
            [feedback] = conn.execute(select(Feedback)).all()
        assert silence.expires_at - silence.created_at == timedelta(hours=2)
        assert (feedback.kind, feedback.reason) == ("noise", "flaky predictor")
        settle(bot, lambda: pending_slack_rows(bot) == 0, what="the silenced update handled")
        assert len(posts(bot)) <= posted + 1  # at most the noise line itself; the new alert posts nothing
        assert not any("joined" in str(c.args["text"]) for c in posts(bot)[posted:])
