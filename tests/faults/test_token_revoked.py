"""Slack answers ``token_revoked`` for a while (seconds here, a minute in the issue: only the length
differs): rows are parked, not dropped, /readyz says degraded and why; webhooks are unaffected; after the
token is fixed, ``sevbot outbox retry --parked`` delivers everything once, in order per incident."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.faults import (
    SLACK_ENV,
    WEBHOOK_TOKEN,
    metric,
    outbox_rows,
    report,
    slack_settings,
    wait_all_done,
)
from tests.support.payloads import T0, am_alert, am_payload
from tests.support.processes import sevbot_command, sevbot_env, start_sevbot, wait_until

pytestmark = pytest.mark.faults

INCIDENTS = 4
UPDATES = 3


def test_a_revoked_token_parks_rows_and_retry_parked_delivers_them_once_in_order(
    tmp_path: Path, database_url: str, slack: FakeSlack
) -> None:
    settings = slack_settings(slack)
    slack.refuse("token_revoked")
    with start_sevbot(
        data_dir=tmp_path, token=WEBHOOK_TOKEN, database_url=database_url, settings=settings, env=SLACK_ENV
    ) as sevbot:
        client = httpx.Client(base_url=sevbot.url, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})

        def send(step: int) -> list[int]:
            return [
                client.post(
                    "/webhooks/alertmanager",
                    json=am_payload(
                        [
                            am_alert(
                                name=f"Alert{i}",
                                service=f"svc-{i}",  # unrelated incidents: a root each
                                instance=f"i{step}",
                                starts_at=T0 + timedelta(seconds=step),
                            )
                        ]
                    ),
                ).status_code
                for i in range(INCIDENTS)
            ]

        codes = send(0)

        def parked() -> dict[str, Any] | None:
            body = client.get("/readyz").json()
            return body if body.get("outbox", {}).get("parked", 0) >= INCIDENTS else None

        degraded = wait_until(parked, what="every incident's first row parked", timeout=30)
        for step in range(1, UPDATES + 1):  # Slack still refuses; webhooks go on as usual
            codes += send(step)

        def parked_counted() -> float | None:
            # Counted in the worker child; serve's /metrics leaves out a child that is slow to answer.
            total = metric(sevbot.url + "/metrics", "sevbot_outbox_parked_total", reason="token_revoked")
            return total if total >= INCIDENTS else None

        parked_total = wait_until(parked_counted, what="the worker child's parked counter", timeout=30)
        refused = len(slack.calls)

        slack.restore()  # the operator installs a good token …
        retry = subprocess.run(  # … and replays what was parked
            [*sevbot_command(), "outbox", "retry", "--parked"],
            env=sevbot_env(data_dir=tmp_path, token=None, database_url=database_url, **settings),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        wait_all_done(database_url)
        healthy = client.get("/readyz").json()
        client.close()

    counts = slack.post_counts()
    posts = slack.calls_to("chat.postMessage", ok=True)
    by_incident: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for call in posts:
        payload = call.args["metadata"]["event_payload"]
        by_incident[payload["incident_id"]].append((payload["outbox_id"], payload["part"]))
    rows = outbox_rows(database_url)
    report(
        "token_revoked",
        database=database_url.split(":", 1)[0],
        webhooks=len(codes),
        webhook_answers=sorted(set(codes)),
        parked_rows=degraded["outbox"]["parked"],
        parked_counted=parked_total,
        slack_calls_refused=refused,
        retry_output=retry.stdout.strip(),
        messages=len(counts),
        posts_accepted=sum(counts.values()),
        posts_per_message=sorted(set(counts.values())),
    )
    assert set(codes) == {202}
    assert degraded["status"] == "degraded" and degraded["outbox"]["parked_reasons"] == {
        "token_revoked": INCIDENTS
    }
    assert "sevbot outbox retry --parked" in degraded["degraded"][0]
    assert parked_total == INCIDENTS
    assert retry.returncode == 0 and f"{INCIDENTS} parked row(s) queued again" in retry.stdout, retry.stderr
    assert healthy["status"] == "ok"
    assert all(count == 1 for count in counts.values()), counts
    assert len(by_incident) == INCIDENTS
    for incident, sent in by_incident.items():
        assert sent[0][1] == "root", (incident, sent)
        assert [outbox_id for outbox_id, _ in sent] == sorted(outbox_id for outbox_id, _ in sent), sent
    assert all(r["status"] == "done" for r in rows)
