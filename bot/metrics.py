"""Prometheus metrics for one app instance, on its own registry (nothing is registered at import time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Callback(Collector):
    """A gauge whose value is read when Prometheus scrapes (e.g. the outbox backlog from SQL)."""

    def __init__(
        self, name: str, documentation: str, read: Callable[[], dict[str, float]], label: str
    ) -> None:
        self._name, self._doc, self._read, self._label = name, documentation, read, label

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._doc, labels=[self._label])
        for value_label, value in self._read().items():
            family.add_metric([value_label], value)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.alerts_received = Counter(
            "sevbot_alerts_received",
            "Alerts received, by source and outcome (new, resolved, duplicate).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.webhook_requests = Counter(
            "sevbot_webhook_requests",
            "Webhook requests, by source and HTTP status code.",
            ["source", "code"],
            registry=self.registry,
        )
        self.alerts_truncated = Counter(
            "sevbot_alerts_truncated",
            "Alerts a sender said it left out of a notification (Alertmanager's truncatedAlerts).",
            ["source"],
            registry=self.registry,
        )
        self.group_commit_restarts = Counter(
            "sevbot_group_commit_restarts",
            "Group-commit writer tasks that died and were replaced (each one is a bug worth reporting).",
            registry=self.registry,
        )
        self.incidents_opened = Counter(
            "sevbot_incidents_opened", "Incidents opened (reopened ones not counted).", registry=self.registry
        )
        self.ingest_seconds = Histogram(
            "sevbot_ingest_seconds",
            "Time to validate, score, group and commit one webhook, by source.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outbox_delivered = Counter(
            "sevbot_outbox_delivered",
            "Outbox messages delivered, by topic and outcome.",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.slack_api_errors = Counter(
            "sevbot_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack's error (ratelimited, http_500, …).",
            ["method", "error"],
            registry=self.registry,
        )

        self.model_info = Gauge(
            "sevbot_model_info",
            "The severity scorer serving (1), by version and origin (registry, bundled, rules).",
            ["version", "origin"],
            registry=self.registry,
        )
        self.model_drift_psi = Gauge(
            "sevbot_model_drift_psi",
            "Population stability index of the last day's alerts against the serving model's training data: "
            "what=levels for the predicted levels, what=feature:<name> for the most drifted features.",
            ["what"],
            registry=self.registry,
        )

        self.llm_calls = Counter(
            "sevbot_llm_calls",
            "Draft requests by outcome: ok, cached, timeout, error, budget (template), disabled (no LLM).",
            ["outcome"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "sevbot_llm_tokens",
            "Tokens sent to (in) and received from (out) the LLM.",
            ["direction"],
            registry=self.registry,
        )
        self.llm_latency = Histogram(
            "sevbot_llm_latency_seconds",
            "Time for one successful LLM draft call (client retries included).",
            buckets=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
            registry=self.registry,
        )
        self.llm_budget_fallbacks = Counter(
            "sevbot_llm_budget_fallbacks",
            "Drafts written from the template because the LLM budget (calls/hour, tokens/day) was spent.",
            registry=self.registry,
        )

    def watch_outbox(self, read: Callable[[], dict[str, float]]) -> None:
        """Expose the outbox rows by status (pending is the backlog) as ``sevbot_outbox_messages``."""
        self.registry.register(
            _Callback(
                "sevbot_outbox_messages", "Outbox rows by status; pending is the backlog.", read, "status"
            )
        )
