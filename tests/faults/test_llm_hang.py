"""The LLM stand-in accepts requests and never answers: webhooks and Slack messages are unaffected, and each
draft falls back to the template once the client's timeout has passed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.fake_llm import Answer, FakeLLM
from tests.support.fake_slack import Call, FakeSlack
from tests.support.faults import SLACK_ENV, WEBHOOK_TOKEN, metric, report, slack_settings
from tests.support.payloads import am_alert, am_payload
from tests.support.processes import start_sevbot, wait_until

pytestmark = pytest.mark.faults

INCIDENTS = 3


def is_template_draft(call: Call) -> bool:
    return call.ok and "thread_ts" in call.args and "Template draft" in call.args.get("text", "")


def test_a_hanging_llm_holds_up_neither_webhooks_nor_slack_and_drafts_fall_back(
    tmp_path: Path, slack: FakeSlack
) -> None:
    llm = FakeLLM()
    llm.script(*[Answer(hold=True) for _ in range(50)])  # every request hangs (until the test ends)
    # 5 s: long enough that the roots' ordering before the first draft does not depend on how soon the
    # niced worker child is scheduled (at 1 s, a stall of the child could put a root after a draft).
    settings = slack_settings(slack, llm_timeout_seconds="5", llm_max_retries="0", llm_model="hung-model")
    with (
        llm.running(),
        start_sevbot(
            data_dir=tmp_path,
            token=WEBHOOK_TOKEN,
            settings=settings,
            env={**SLACK_ENV, "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"},
        ) as sevbot,
        httpx.Client(base_url=sevbot.url, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}) as client,
    ):
        latencies: list[float] = []

        def send(name: str, instance: str) -> int:
            started = time.perf_counter()
            code = client.post(
                "/webhooks/alertmanager",
                json=am_payload([am_alert(name=name, instance=instance, service=name.lower())]),
            ).status_code
            latencies.append(time.perf_counter() - started)
            return code

        codes = [send(f"Alert{i}", "a") for i in range(INCIDENTS)]
        roots = slack.wait_for(
            "chat.postMessage", INCIDENTS, where=lambda c: c.ok and "thread_ts" not in c.args
        )
        # A draft request is hanging at the LLM … (a generous wait: the worker child runs at nice 10, and
        # a loaded machine can starve it for seconds; once failed at 10 s beside a benchmark)
        llm.wait_for(1, timeout=60)
        codes += [send(f"Alert{i}", "b") for i in range(INCIDENTS)]  # … and webhooks go on
        replies = slack.wait_for(
            "chat.postMessage",
            INCIDENTS,
            where=lambda c: c.ok and "thread_ts" in c.args and "joined" in c.args.get("text", ""),
            timeout=30,
        )
        drafts = slack.wait_for("chat.postMessage", INCIDENTS, where=is_template_draft, timeout=60)
        timeouts = wait_until(
            lambda: metric(sevbot.url + "/metrics", "sevbot_llm_calls_total", outcome="timeout"),
            what="the LLM timeouts counted",
            timeout=30,
        )
        hanging = list(llm.requests)  # every one of them is still waiting for its answer

    report(
        "llm_hang",
        webhooks=len(codes),
        webhook_answers=sorted(set(codes)),
        webhook_latency_max_s=round(max(latencies), 3),
        root_posts=len(roots),
        update_replies=len(replies),
        template_drafts=len(drafts),
        llm_requests_hanging=len(hanging),
        llm_timeouts_counted=timeouts,
        posts_per_message=sorted(set(slack.post_counts().values())),
    )
    assert set(codes) == {202}
    assert len({c.args["metadata"]["event_payload"]["incident_id"] for c in drafts}) == INCIDENTS
    first_draft = min(c.at for c in drafts)
    assert all(c.at < first_draft for c in roots)  # the roots did not wait for the hanging drafts
    assert timeouts >= INCIDENTS
    assert all(count == 1 for count in slack.post_counts().values())
