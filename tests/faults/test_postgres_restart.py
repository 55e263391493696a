"""PostgreSQL crashes and comes back under webhook load (a private cluster this test starts, never the
machine's shared server): webhooks get 503 while it is down, never 500; no acknowledged alert is lost;
sevbot recovers by itself, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.faults import WEBHOOK_TOKEN, quick_settings, report, stored_fingerprints
from tests.support.load import WebhookLoad
from tests.support.private_postgres import postgres_bin_dir, private_postgres
from tests.support.processes import http_status, start_sevbot
from tests.support.requirements import missing

pytestmark = pytest.mark.faults

BEFORE = 1000  # alerts acknowledged before the crash
AFTER = 1000  # more alerts acknowledged after PostgreSQL is back


def readyz_becomes(url: str, expected: int, *, timeout: float = 30.0) -> int | None:
    """``/readyz``'s status once it is ``expected``, or the last one seen after ``timeout`` seconds.

    One check could time out while the load keeps serve busy; the status is what is asserted, not how fast.
    """
    deadline = time.monotonic() + timeout
    while True:
        status = http_status(url + "/readyz", timeout=10.0)
        if status == expected or time.monotonic() >= deadline:
            return status
        time.sleep(0.2)


def test_a_postgres_restart_under_load_gives_503s_loses_nothing_and_heals_itself(tmp_path: Path) -> None:
    if postgres_bin_dir() is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found")
    with (
        private_postgres() as cluster,
        start_sevbot(
            data_dir=tmp_path, token=WEBHOOK_TOKEN, database_url=cluster.url, settings=quick_settings()
        ) as sevbot,
    ):
        load = WebhookLoad(sevbot.url, WEBHOOK_TOKEN, clients=4).start()
        try:
            load.wait_acknowledged(BEFORE, timeout=60)
            cluster.stop("immediate")  # a crash: no checkpoint; the next start recovers from the WAL
            load.wait_answers(503, 20, timeout=30)
            ready_while_down = readyz_becomes(sevbot.url, 503)
            acknowledged_at_restart = load.acknowledged_count()
            cluster.start()
            load.wait_acknowledged(acknowledged_at_restart + AFTER, timeout=60)
            ready_after = readyz_becomes(sevbot.url, 200)
        finally:
            tally = load.stop()
        stored = stored_fingerprints(cluster.url)
        still_serving = sevbot.process.poll() is None

    lost = tally.acknowledged - stored
    report(
        "postgres_restart",
        webhooks_sent=tally.sent,
        answers={str(k): v for k, v in tally.statuses.items()},
        alerts_acknowledged=len(tally.acknowledged),
        alerts_acknowledged_after_restart=len(tally.acknowledged) - acknowledged_at_restart,
        alerts_lost=len(lost),
        readyz_while_down=ready_while_down,
        readyz_after=ready_after,
    )
    assert not lost, sorted(lost)[:10]
    # None: no answer within the client's 10 s while the database restarted (seen once with the whole
    # suite on two busy cores); the client resends, as Alertmanager does. No 500, and nothing lost.
    assert tally.statuses[500] == 0 and set(tally.statuses) <= {202, 503, None}, tally.statuses
    assert tally.statuses[202] > 0 and tally.statuses[503] > 0, tally.statuses
    assert ready_while_down == 503 and ready_after == 200
    assert still_serving  # the same process throughout: it healed without a restart
