"""Helpers of the fault-injection suite (tests/faults): settings for real sevbot processes on the fake Slack,
reading what reached the database, scraping /metrics, and printing each test's figures."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from storage.db import create_database
from storage.models import Alert, OutboxMessage
from tests.support.fake_slack import FakeSlack
from tests.support.processes import wait_until
from tests.support.slack import BOT_TOKEN

WEBHOOK_TOKEN = "fault-suite-webhook-token"
SLACK_ENV = {"SLACK_BOT_TOKEN": BOT_TOKEN}


def quick_settings(**overrides: str) -> dict[str, str]:
    """Short intervals for tests (no minute-long waits): the rule scorer, a fast poll, quiet logs."""
    return {"scorer": "rules", "outbox_poll_seconds": "0.1", "log_level": "WARNING", **overrides}


def slack_settings(slack: FakeSlack, **overrides: str) -> dict[str, str]:
    """Deliver to the fake Slack: one channel, no pacing or batching delays."""
    return quick_settings(
        slack_api_url=slack.api_url,
        slack_channel="#alerts",
        slack_channel_interval="0",
        slack_reply_interval="0s",
        **overrides,
    )


def stored_fingerprints(database_url: str) -> set[str]:
    db = create_database(database_url)
    try:
        with db.read() as conn:
            return set(conn.execute(select(Alert.fingerprint)).scalars())
    finally:
        db.dispose()


def outbox_rows(database_url: str, topic: str | None = "slack") -> list[dict[str, Any]]:
    db = create_database(database_url)
    try:
        with db.read() as conn:
            stmt = select(OutboxMessage).order_by(OutboxMessage.id)
            if topic is not None:
                stmt = stmt.where(OutboxMessage.topic == topic)
            return [dict(r._mapping) for r in conn.execute(stmt)]
    finally:
        db.dispose()


def all_done(database_url: str) -> bool:
    """Every outbox row of every topic is done (nothing pending, parked or failed)."""
    rows = outbox_rows(database_url, topic=None)
    return bool(rows) and all(r["status"] == "done" for r in rows)


def wait_all_done(database_url: str, *, timeout: float = 60.0) -> None:
    """Wait (polling, bounded) until every outbox row is done; the error lists the rows that are not."""
    try:
        wait_until(lambda: all_done(database_url), what="every outbox row done", timeout=timeout)
    except TimeoutError as exc:
        left = [
            {k: r[k] for k in ("id", "topic", "kind", "status", "attempts", "last_error", "next_attempt_at")}
            for r in outbox_rows(database_url, topic=None)
            if r["status"] != "done"
        ]
        raise TimeoutError(f"{exc}: {left}") from exc


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (``name`` as exported, e.g. ``sevbot_outbox_lease_lost_total``)
    whose labels include ``labels``, scraped from ``url`` (a /metrics endpoint)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def report(test: str, **figures: Any) -> None:
    """Print a test's figures on one line (``pytest -s`` shows them; the issue asks for every figure)."""
    print(f"\nFIGURES {test} {json.dumps(figures, sort_keys=True, default=str)}")
