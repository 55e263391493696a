"""An alert read as a runbook search: its fields (name, service labels, summary, description, PromQL
metrics) and their weights, and which labels name the service it is about (pure).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from analytics.promql import expression_features
from bot.llm.runbook_text import WORD, name_key, tokens, without_templates, word_parts

# A label matcher of a PromQL selector, ``type="web-pages"`` or ``job=~"api|web"`` (bounded quantifiers).
_MATCHER = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]{0,63})[ \t]{0,8}(=~|=)[ \t]{0,8}\"([^\"\\\n]{0,200})\"")


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


# A compound word of free text that is probably a name ("web-pages", "kube-state-metrics").
_COMPOUND = re.compile(r"[A-Za-z0-9]{1,40}(?:[-_][A-Za-z0-9]{1,40}){1,5}")


MAX_ALERT_TEXT = 4000  # characters of an alert field read; annotations are already clipped to 800


# Weights of what an alert says. Its name, the service it names and its summary are what a person would
# search by (1.0). The description repeats the summary with templated detail, and the metrics of its
# PromQL are noisier than its wording: half each, as analytics.promql.STRUCTURE_VALUE (chosen there by
# grouped cross-validation on real rule files).
QUERY_WEIGHTS = {
    "name": 1.0,
    "service": 1.0,
    "summary": 1.0,
    "description": 0.5,
    "metrics": 0.5,
    "scrape": 0.5,
}


CORE_FIELDS = frozenset({"name", "service", "summary"})  # relevance is measured on these


# Labels whose value names what the alert is about, most specific first (the first that names a service
# document is the one shown): ``type`` is the service in many organisations' conventions.
SERVICE_LABELS = (
    "service",
    "service_name",
    "type",
    "app",
    "application",
    "app_kubernetes_io_name",
    "k8s_app",
    "component",
    "app_kubernetes_io_component",
    "system",
    "subsystem",
    "feature_category",
)


# Labels that name what produced the metric: ``job="kube-state-metrics"`` or ``container="etcd"`` is the
# exporter or sidecar as often as the service (every Kubernetes workload alert of kube-prometheus reads
# kube-state-metrics), and ``namespace`` is a whole team's. They name the service only when the alert's
# name or summary says so too; otherwise their words count at half weight, as the description's.
SCRAPE_LABELS = ("job", "container", "namespace")


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """What one alert says about itself, as the library reads it."""

    alertname: str
    summary: str = ""
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    expression: str | None = None
    runbook_url: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceHint:
    key: str
    shown: str
    source: str  # "label type", "PromQL matcher job", "the alert name", "the summary"


def name_variants(alertname: str) -> set[str]:
    """The alert name's key, also without a trailing level word ("…LagCritical" is "…Lag"'s alert)."""
    key = name_key(alertname)
    variants = {key} if len(key) >= 6 else set()
    for level in ("critical", "warning", "info", "major", "minor"):
        if key.endswith(level) and len(key) - len(level) >= 6:
            variants.add(key[: -len(level)])
    return variants


@dataclass(frozen=True, slots=True)
class LabelValue:
    key: str  # the label, "type"
    value: str  # its value, "web-pages"
    where: str  # "label" or "PromQL matcher"
    names_service: bool  # a service label, or a scrape label whose value the alert's name or summary holds


def label_values(alert: AlertQuery) -> list[LabelValue]:
    """The service-naming and scrape labels of the alert and of its PromQL's matchers, most specific first."""
    found: list[tuple[str, str, str]] = [
        (key.lower(), without_templates(value[:200]).strip(), "label")
        for key, value in alert.labels.items()
        if isinstance(value, str)
    ]
    expression = (alert.expression or "")[:MAX_ALERT_TEXT]
    for key, _, value in _MATCHER.findall(expression):
        found.extend(
            (key.lower(), alternative, "PromQL matcher")
            for alternative in value.split("|")
            if _PLAIN_VALUE.fullmatch(alternative)
        )
    said = name_key(alert.alertname) + " " + name_key(without_templates(alert.summary[:MAX_ALERT_TEXT]))
    rank = {key: i for i, key in enumerate((*SERVICE_LABELS, *SCRAPE_LABELS))}
    out = [
        LabelValue(
            key=key,
            value=value,
            where=where,
            names_service=key in SERVICE_LABELS or (len(name_key(value)) >= 3 and name_key(value) in said),
        )
        for key, value, where in found
        if key in rank and name_key(value)
    ]
    out.sort(key=lambda item: (not item.names_service, rank[item.key]))
    return list({(v.key, v.value): v for v in out}.values())


def service_hints(alert: AlertQuery) -> list[list[ServiceHint]]:
    """Who the alert may be about, in order of trust: labels, then its name's parts, then its summary."""
    labelled = [
        ServiceHint(name_key(v.value), v.value, f"{v.where} {v.key}")
        for v in label_values(alert)
        if v.names_service
    ]
    # Alert names lead with what they are about ("WebPagesServiceApdexSLOViolation", "etcdNoLeader",
    # "CNPGClusterHACritical"), so only the name's first parts are read as a service, longest first.
    parts = [p for word in WORD.findall(alert.alertname) for p in word_parts(word)]
    named = [
        ServiceHint("".join(parts[:j]), "-".join(parts[:j]), "the alert name")
        for j in range(min(len(parts), 4), 0, -1)
        if len("".join(parts[:j])) >= 3
    ]
    summary = without_templates(alert.summary[:MAX_ALERT_TEXT])
    compounds = [ServiceHint(name_key(c), c, "the summary") for c in _COMPOUND.findall(summary)]
    return [labelled, named, compounds]


def query_terms(alert: AlertQuery) -> tuple[dict[str, float], set[str]]:
    """Each word of the alert with the weight of the most important field it is in, and the core words."""
    values = label_values(alert)
    fields: dict[str, list[str]] = {
        "name": tokens(alert.alertname),
        "service": [w for v in values if v.names_service for w in tokens(v.value)],
        "scrape": [w for v in values if not v.names_service for w in tokens(v.value)],
        "summary": tokens(without_templates(alert.summary[:MAX_ALERT_TEXT])),
        "description": tokens(without_templates(alert.description[:MAX_ALERT_TEXT])),
        "metrics": metric_words(alert.expression),
    }
    weights: dict[str, float] = {}
    core: set[str] = set()
    for name, words in fields.items():
        for word in words:
            weights[word] = max(weights.get(word, 0.0), QUERY_WEIGHTS[name])
            if name in CORE_FIELDS:
                core.add(word)
    return weights, core


def metric_words(expression: str | None) -> list[str]:
    if not expression:
        return []
    out: list[str] = []
    for feature, _ in expression_features(expression[:MAX_ALERT_TEXT]):
        if feature.startswith("metric:"):
            out.extend(tokens(feature.removeprefix("metric:")))
    return out
