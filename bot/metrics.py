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


class _LabelledCallback(Collector):
    """A gauge read at scrape time whose values carry several labels."""

    def __init__(
        self,
        name: str,
        documentation: str,
        read: Callable[[], dict[tuple[str, ...], float]],
        labels: list[str],
    ) -> None:
        self._name, self._doc, self._read, self._labels = name, documentation, read, labels

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._doc, labels=self._labels)
        for values, value in self._read().items():
            family.add_metric(list(values), value)
        yield family


def _build_versions() -> tuple[str, str, str]:
    import platform
    from importlib import metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "unknown"

    return version("sevbot"), platform.python_version(), version("scikit-learn")


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
        self.webhook_last_received = Gauge(
            "sevbot_webhook_last_received_timestamp_seconds",
            "When the last webhook of each source was accepted (Unix time): a quiet source shows here.",
            ["source"],
            registry=self.registry,
        )
        self.build_info = Gauge(
            "sevbot_build_info",
            "sevbot's version and the versions that matter to its answers (1).",
            ["version", "python", "sklearn"],
            registry=self.registry,
        )
        self.build_info.labels(*_build_versions()).set(1)

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
        self.outbox_parked = Counter(
            "sevbot_outbox_parked",
            "Outbox rows parked on an error only an operator can fix, by topic and reason (token_revoked …).",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.outbox_lease_lost = Counter(
            "sevbot_outbox_lease_lost",
            "Attempts whose outbox row was taken over by another worker after the lease ran out "
            "(their writes changed nothing).",
            ["topic"],
            registry=self.registry,
        )
        self.retention_pruned = Counter(
            "sevbot_retention_pruned",
            "Rows pruned by retention: outbox_rows (finished outbox rows) and llm_prompts (prompts cleared).",
            ["what"],
            registry=self.registry,
        )
        self.slack_post_lookups = Counter(
            "sevbot_slack_post_lookups",
            "Looks in Slack for a post an earlier attempt may have made (after a timeout, a crash or a lost "
            "lease), by part (root, reply) and outcome (adopted: found, not posted again; absent: posted).",
            ["part", "outcome"],
            registry=self.registry,
        )
        self.slack_api_errors = Counter(
            "sevbot_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack's error (ratelimited, http_500, …).",
            ["method", "error"],
            registry=self.registry,
        )

        self.escalation_events = Counter(
            "sevbot_escalation_events",
            "Escalations queued: reminders (an open incident waited unacknowledged) and pager events "
            "(trigger, acknowledge, resolve), by event.",
            ["event"],
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
            "what=levels for the predicted levels, what=feature:<family> for the most drifted feature of "
            "each family (name, text, label …; the features themselves are alert words, so not here).",
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

    def watch_heartbeats(self, read: Callable[[], dict[tuple[str, ...], float]]) -> None:
        """Expose when each heartbeat alert last arrived, by source and alert name (Unix time)."""
        self.registry.register(
            _LabelledCallback(
                "sevbot_heartbeat_last_seen_timestamp_seconds",
                "When each heartbeat alert (Watchdog …) last arrived, by source and alertname (Unix time).",
                read,
                ["source", "alertname"],
            )
        )


def merge_expositions(texts: list[str]) -> bytes:
    """Several processes' ``/metrics`` texts as one (``sevbot serve`` and its worker child).

    Samples of the same name and labels add up (counters, histograms: each process counted its own
    events), except gauges, where the largest is kept (a backlog both read from SQL, the model version
    both serve, the newest timestamp). A family only one process has is kept as it is.
    """
    from prometheus_client.exposition import generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Sample]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            samples = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = samples.get(key)
                if seen is None:
                    samples[key] = sample
                elif family.type == "gauge" or sample.name.endswith("_created"):
                    samples[key] = sample if sample.value > seen.value else seen
                else:
                    samples[key] = seen._replace(value=seen.value + sample.value)
            into.samples = list(samples.values())

    class Merged(Collector):
        def collect(self) -> Iterator[Metric]:
            return iter(merged.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Merged())
    return generate_latest(registry)
