"""The whole real stack: Prometheus evaluates real rule files → Alertmanager → ``sevbot serve`` → Slack.

The test runs a tiny exporter and flips its metric values; Prometheus (Debian's ``prometheus``, scraping
and evaluating every second, resending after 2 s) fires alerts to a real Alertmanager (grouping by
alertname, 1 s waits), which posts its webhook with a bearer token to a separate ``sevbot serve`` process,
which posts to Slack: the fake Slack Web API over real HTTP (``SLACK_BOT_TOKEN`` and
``SEVBOT_SLACK_API_URL`` point sevbot's real slack_sdk client at it). Incidents must open, group, be
scored and explained, be posted, and resolve when the metrics recover. Slack posts are awaited on the
fake's calls; sevbot's state has no event to await across four processes, so the test polls its JSON API
with short intervals and a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.reporting import build_report
from storage.db import create_database
from tests.support.fake_slack import Call, FakeSlack, fake_slack
from tests.support.processes import (
    RunningProcess,
    WebhookReceiver,
    alertmanager_binary,
    alertmanager_config,
    start_alertmanager,
    start_sevbot,
    wait_until,
)
from tests.support.prometheus import MetricsExporter, prometheus_binary, prometheus_config, start_prometheus
from tests.support.requirements import missing

pytestmark = pytest.mark.e2e

TOKEN = "e2e-prometheus-token-81d3f0"
SLACK_TOKEN = "xoxb-e2e-prometheus-5b1c"
CHECKOUT_EXPR = 'shop_http_error_ratio{service="checkout"} > 0.05'
BILLING_EXPR = 'shop_queue_backlog{service="billing"} > 1000'
RULES = {
    "groups": [
        {
            "name": "shop",
            "rules": [
                {
                    "alert": "CheckoutErrorRatioHigh",
                    "expr": CHECKOUT_EXPR,
                    "for": "1s",
                    "labels": {"severity": "critical", "team": "payments"},
                    "annotations": {
                        "summary": "Checkout 5xx ratio above 5% on {{ $labels.pod }}",
                        "description": "{{ $labels.pod }} answers {{ $value | humanizePercentage }} errors.",
                        "runbook_url": "https://runbooks.example/checkout-errors",
                    },
                },
                {
                    "alert": "BillingQueueBacklog",
                    "expr": BILLING_EXPR,
                    "for": "1s",
                    "labels": {"severity": "warning", "team": "billing"},
                    "annotations": {
                        "summary": "Billing queue backlog above 1000 messages",
                        "description": "{{ $value }} messages waiting.",
                    },
                },
            ],
        }
    ]
}
PODS = ("checkout-a", "checkout-b")


@pytest.fixture(scope="module")
def binaries() -> tuple[str, str]:
    prometheus, alertmanager = prometheus_binary(), alertmanager_binary()
    if prometheus is None or alertmanager is None:
        missing("Prometheus or Alertmanager not found (apt install prometheus prometheus-alertmanager)")
    assert prometheus is not None and alertmanager is not None
    return prometheus, alertmanager


@pytest.fixture
def exporter() -> Iterator[MetricsExporter]:
    metrics = MetricsExporter()
    for pod in PODS:
        metrics.set("shop_http_error_ratio", 0.01, service="checkout", pod=pod)
    metrics.set("shop_queue_backlog", 12, service="billing")
    with metrics.serving():
        yield metrics


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack(tokens={SLACK_TOKEN}) as fake:
        yield fake


@pytest.fixture
def stack(
    binaries: tuple[str, str], exporter: MetricsExporter, slack: FakeSlack, tmp_path: Path
) -> Iterator[tuple[RunningProcess, RunningProcess]]:
    prometheus_bin, alertmanager_bin = binaries
    with start_sevbot(
        data_dir=tmp_path / "sevbot",
        token=TOKEN,
        stdout=tmp_path / "sevbot.out",
        settings={
            "slack_api_url": slack.api_url,
            "slack_channel": "#alerts",
            "slack_reply_interval": "1s",
            "slack_channel_interval": "0",
        },
        env={"SLACK_BOT_TOKEN": SLACK_TOKEN},
    ) as sevbot:
        am_config = alertmanager_config(
            receivers=[
                WebhookReceiver(name="sevbot", url=f"{sevbot.url}/webhooks/alertmanager", token=TOKEN)
            ],
            group_by=["alertname"],
            group_wait="1s",
            group_interval="1s",
        )
        with start_alertmanager(
            binary=alertmanager_bin, config=am_config, workdir=tmp_path / "alertmanager"
        ) as alertmanager:
            config = prometheus_config(
                scrape_targets=[exporter.target],
                alertmanager=alertmanager.url.removeprefix("http://"),
                rule_files=["shop-rules.yml"],
            )
            with start_prometheus(
                binary=prometheus_bin,
                config=config,
                rules={"shop-rules.yml": RULES},
                workdir=tmp_path / "prometheus",
            ) as prometheus:
                yield sevbot, prometheus


def incidents(api: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    response = api.get("/api/incidents", params={"limit": 100})
    assert response.status_code == 200, response.text
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for item in response.json()["items"]:
        by_rule.setdefault(item["labels"].get("alertname"), []).append(item)
    return by_rule


def when(api: httpx.Client, what: str, **wanted: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Poll until each named rule has exactly one incident whose fields include ``wanted[rule]``."""

    def reached() -> dict[str, dict[str, Any]] | None:
        found = incidents(api)
        for rule in wanted:
            assert len(found.get(rule, [])) <= 1, f"{rule} was split into several incidents: {found[rule]}"
        if all(
            len(found.get(rule, [])) == 1 and found[rule][0].items() >= fields.items()
            for rule, fields in wanted.items()
        ):
            return {rule: found[rule][0] for rule in wanted}
        return None

    return wait_until(reached, what=what, timeout=25.0, interval=0.2)


def root_post(incident_id: int) -> Callable[[Call], bool]:
    """A successful root message (not a thread reply) of incident ``incident_id``."""
    return lambda c: (
        c.ok and "thread_ts" not in c.args and f"incident #{incident_id} " in c.args.get("text", "")
    )


def resolved_reply(root_ts: str) -> Callable[[Call], bool]:
    """A successful reply in the thread of ``root_ts`` saying the incident resolved."""
    return lambda c: c.ok and c.args.get("thread_ts") == root_ts and "Resolved" in c.args.get("text", "")


def resolved_root(root_ts: str) -> Callable[[Call], bool]:
    """A successful update of the root message ``root_ts`` showing the incident resolved."""
    return lambda c: c.ok and c.args.get("ts") == root_ts and "*Status*\\nResolved" in json.dumps(c.args)


def detail(api: httpx.Client, incident_id: int) -> dict[str, Any]:
    response = api.get(f"/api/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_prometheus_alerts_open_explained_incidents_that_resolve_when_the_metrics_recover(
    stack: tuple[RunningProcess, RunningProcess], exporter: MetricsExporter, slack: FakeSlack, tmp_path: Path
) -> None:
    sevbot, prometheus = stack
    wait_until(lambda: exporter.scrapes >= 2, what="Prometheus to scrape the exporter", timeout=15.0)
    with httpx.Client(base_url=sevbot.url, timeout=5.0) as api:
        assert incidents(api) == {}, "nothing fires while the metrics are healthy"

        # Both checkout pods start failing and the billing queue backs up.
        for pod in PODS:
            exporter.set("shop_http_error_ratio", 0.25, service="checkout", pod=pod)
        exporter.set("shop_queue_backlog", 5000, service="billing")
        firing = when(
            api,
            "both rules to open one incident each (checkout with both pods)",
            CheckoutErrorRatioHigh={"alert_count": 2, "status": "open"},
            BillingQueueBacklog={"alert_count": 1, "status": "open"},
        )

        checkout, billing = firing["CheckoutErrorRatioHigh"], firing["BillingQueueBacklog"]
        assert checkout["id"] != billing["id"]
        assert checkout["source"] == "alertmanager"
        assert 'alertname="CheckoutErrorRatioHigh"' in checkout["group_key"]
        doc = detail(api, checkout["id"])
        assert sorted(a["labels"]["pod"] for a in doc["alerts"]) == list(PODS)
        assert {a["expression"] for a in doc["alerts"]} == {CHECKOUT_EXPR}
        assert all(a["generator_url"].startswith(prometheus.url) for a in doc["alerts"])
        assert {a["annotations"]["summary"] for a in doc["alerts"]} == {
            f"Checkout 5xx ratio above 5% on {pod}" for pod in PODS
        }
        # Scored and explained: a level with its reasons (which level depends on the model and the hour).
        for incident in (checkout, billing):
            severity = incident["severity"]
            assert severity["level"] in {"SEV1", "SEV2", "SEV3", "SEV4"}
            assert severity["model_version"]
            assert severity["explanation"], f"no reasons for {incident['title']}"
            assert all(r["text"] and isinstance(r["weight"], float) for r in severity["explanation"])
        assert doc["why"]["reasons"], "GET /api/incidents/ID explains the severity"
        # Posted to Slack once each, with the reasons.
        roots: dict[str, str] = {}
        for incident in (checkout, billing):
            name = incident["labels"]["alertname"]
            [post] = slack.wait_for("chat.postMessage", where=root_post(incident["id"]), timeout=15.0)
            posted = json.dumps(post.args, ensure_ascii=False)
            assert "Why this severity" in posted, posted
            assert any(r["text"] in posted for r in incident["severity"]["explanation"]), posted
            roots[name] = post.response["ts"]
        assert post.args["channel"] == "#alerts" and post.token == SLACK_TOKEN

        # The metrics recover: Prometheus resolves the alerts, Alertmanager sends the resolution.
        for pod in PODS:
            exporter.set("shop_http_error_ratio", 0.0, service="checkout", pod=pod)
        exporter.set("shop_queue_backlog", 3, service="billing")
        resolved = when(
            api,
            "both incidents to resolve",
            CheckoutErrorRatioHigh={"status": "resolved", "firing_count": 0},
            BillingQueueBacklog={"status": "resolved", "firing_count": 0},
        )

    assert resolved["CheckoutErrorRatioHigh"]["id"] == checkout["id"]
    assert resolved["CheckoutErrorRatioHigh"]["alert_count"] == 2
    for name, ts in roots.items():
        slack.wait_for("chat.postMessage", where=resolved_reply(ts), timeout=15.0)
        slack.wait_for("chat.update", where=resolved_root(ts), timeout=15.0)
        root = slack.message(slack.channel_id("#alerts"), ts)
        assert root is not None and "*Status*\\nResolved" in json.dumps(root.blocks), name
    assert len(slack.calls_to("chat.postMessage", ok=True)) >= 4
    assert len([c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]) == 2
    # The same data feeds the report: two incidents, three alerts, both resolved.
    db = create_database(f"sqlite:///{tmp_path / 'sevbot' / 'sevbot.db'}")
    try:
        report = build_report(db, since=timedelta(hours=1), now=datetime.now(UTC) + timedelta(minutes=1))
    finally:
        db.dispose()
    data = report.as_json()
    assert (data["incidents"], data["alerts"], data["status"]["resolved"]) == (2, 3, 2)
    assert data["mttr_s"]["count"] == 2 and data["mttr_s"]["median"] > 0
