"""kill -9 of ``sevbot serve`` under webhook load: every acknowledged alert is in the database after the
restart, and the restarted process is ready (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import WEBHOOK_TOKEN, quick_settings, report, stored_fingerprints
from tests.support.load import WebhookLoad
from tests.support.processes import http_status, kill_hard, start_sevbot

pytestmark = pytest.mark.faults

ACKNOWLEDGED_BEFORE_KILL = 4000  # alerts answered 202 before the kill (5 per webhook)


def test_kill_9_under_load_loses_no_acknowledged_alert_and_the_restart_is_ready(
    tmp_path: Path, database_url: str
) -> None:
    settings = quick_settings()
    with start_sevbot(
        data_dir=tmp_path, token=WEBHOOK_TOKEN, database_url=database_url, settings=settings
    ) as server:
        load = WebhookLoad(server.url, WEBHOOK_TOKEN, clients=6).start()
        try:
            load.wait_acknowledged(ACKNOWLEDGED_BEFORE_KILL, timeout=60)
            kill_hard(server.process)  # mid-flight: some webhooks are being committed right now
        finally:
            tally = load.stop()

    with start_sevbot(
        data_dir=tmp_path, token=WEBHOOK_TOKEN, database_url=database_url, settings=settings
    ) as again:
        ready = http_status(again.url + "/readyz")
        stored = stored_fingerprints(database_url)

    lost = tally.acknowledged - stored
    report(
        "serve_kill_9",
        database=database_url.split(":", 1)[0],
        webhooks_sent=tally.sent,
        answers={str(k): v for k, v in tally.statuses.items()},
        alerts_acknowledged=len(tally.acknowledged),
        alerts_stored=len(stored),
        alerts_lost=len(lost),
        ready_after_restart=ready,
    )
    assert len(tally.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    assert not lost, sorted(lost)[:10]
    assert ready == 200
    assert set(tally.statuses) <= {202, None}  # answered, or no answer once the process was gone
