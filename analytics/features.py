"""Turn an alert and its context into sparse features: the one function training and serving share (pure).

Data flow: ``AlertRecord`` + ``ScoringContext`` ─► :func:`alert_features` ─► ``{name: value}`` ─► the model
(``analytics.model``). Pure; no I/O. Feature names are namespaced by a prefix (``name:``, ``text:``,
``sev:``, ``label:``, ``metric:``, ``fn:``, ``ctx:`` …) so that :func:`describe_feature` can put each one
into plain words for "why was this flagged?".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from analytics.burst import context_burst
from analytics.promql import duration_minutes, expression_features, expression_of, for_bucket
from analytics.records import AlertRecord
from analytics.scoring import SEVERITY_LABELS, ScoringContext, map_severity, source_severity
from analytics.text import name_grams, stem, words

FeatureDict = dict[str, float]

# Label keys whose values and presence are features in their own right.
KEY_LABELS: tuple[str, ...] = ("service", "namespace", "job", "env", "cluster")
# Labels that identify one instance rather than a kind of alert: presence only, never the value.
INSTANCE_LABELS = frozenset(
    {
        "alertname",
        "instance",
        "pod",
        "pod_name",
        "container_id",
        "ip",
        "node",
        "host",
        "hostname",
        "uid",
        "fingerprint",
        "id",
        "device",
        "mountpoint",
        "address",
        "target",
        "url",
        "endpoint",
        "name",
        "meta",
        "description",
        "summary",
        "playbook",
        "dashboard",
        "runbook",
        "runbook_url",
    }
)
ENV_WORDS: Mapping[str, str] = {
    "prod": "prod",
    "production": "prod",
    "prd": "prod",
    "live": "prod",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "preprod": "staging",
    "qa": "staging",
    "dev": "dev",
    "development": "dev",
    "test": "dev",
    "testing": "dev",
    "sandbox": "dev",
    "ci": "dev",
}


@dataclass(frozen=True, slots=True)
class FeatureOptions:
    """Switches of the feature function; stored with a trained model so serving uses the same ones.

    ``include_source_severity`` is False when evaluating on rule files, where the severity label is the
    target: the model must then learn from name, query, duration, labels and annotations alone.
    """

    include_source_severity: bool = True
    include_time: bool = True
    include_context: bool = True
    # Word stems beside the words ("restarted", "restarting" → "restart"). Off: on the real rule files it
    # helped one source and cost another (see analytics/evaluate.py's notes), so it stays an option.
    stems: bool = False
    # Value of the alert name's character 4-grams ("ProcessRestarting" shares "star", "tart" with
    # "ApacheRestart"); 0 leaves them out. ``analytics.evaluate`` picks it inside each training fold among
    # NAME_GRAM_CHOICES. Off by default: on the bundled catalogue, whose names are templates filled with
    # component names, grouped 5-fold CV gives macro-F1 0.523 / 0.515 / 0.485 for 0 / 0.5 / 1.
    name_grams: float = 0.0


DEFAULT_OPTIONS = FeatureOptions()


def _env_class(labels: Mapping[str, str]) -> str | None:
    for key in ("env", "environment", "stage", "tier", "cluster", "namespace"):
        value = labels.get(key)
        if not value:
            continue
        for word in words(value):
            env = ENV_WORDS.get(word)
            if env:
                return env
    return None


def _with_stems(found: tuple[str, ...], stems: bool) -> tuple[str, ...]:
    if not stems:
        return found
    return tuple(dict.fromkeys([w for word in found for w in (word, stem(word))]))


@lru_cache(maxsize=16384)
def _wording_names(name: str, summary: str, description: str, stems: bool = False) -> tuple[str, ...]:
    """Name identity and words, annotation words, and topic words (in two of name, summary, description)."""
    name_words = _with_stems(words(name), stems)
    summary_words = _with_stems(words(summary), stems) if summary else ()
    description_words = _with_stems(words(description), stems) if description else ()
    text_words = dict.fromkeys([*summary_words, *description_words])
    # A topic is a word in two of name, summary, description (plain dicts: Counter's ABC checks cost more
    # than the counting on this path, which runs for every alert with freshly rendered annotations).
    counts = dict.fromkeys(name_words, 1)
    for word in text_words:
        counts[word] = counts.get(word, 0) + 1
    for word in set(summary_words).intersection(description_words):
        counts[word] += 1
    return (
        f"alert:{name.lower()}",
        *(f"name:{w}" for w in name_words),
        *(f"text:{w}" for w in text_words),
        *(f"topic:{w}" for w, c in counts.items() if c >= 2),
    )


@lru_cache(maxsize=16384)
def _label_names(key: str, value: str) -> tuple[str, ...]:
    lkey = key.lower()
    if lkey in SEVERITY_LABELS or lkey in INSTANCE_LABELS:
        return ()
    if value and len(value) <= 40 and " " not in value and "{" not in value:
        return (f"has:{lkey}", f"label:{lkey}={value.lower()}")
    return (f"has:{lkey}",)


_SKIPPED_LABELS = INSTANCE_LABELS | frozenset(SEVERITY_LABELS)


def _label_features(labels: Mapping[str, str], out: FeatureDict) -> None:
    for key, value in labels.items():
        if key in _SKIPPED_LABELS:  # per-instance values (pod, instance) would only churn the cache
            continue
        for name in _label_names(key, value):
            out[name] = 1.0
    env = _env_class(labels)
    if env:
        out[f"env:{env}"] = 1.0


def _time_features(started: datetime, out: FeatureDict) -> None:
    hour = started.hour
    part = "night" if hour < 6 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    out[f"hour:{part}"] = 1.0
    out["day:weekend" if started.weekday() >= 5 else "day:weekday"] = 1.0


def _context_features(context: ScoringContext, out: FeatureDict) -> None:
    if context.service_criticality:
        out[f"ctx:criticality={context.service_criticality.strip().lower()}"] = 1.0
    if context.service_alerts_5m or context.service_alerts_60m:
        burst = context_burst(context)
        if burst.ratio > 1.0:
            out["ctx:rate_ratio"] = min(math.log2(burst.ratio), 8.0) / 4.0
        if burst.surprise > 0:
            out["ctx:burst"] = burst.surprise / 10.0
    if context.group_alerts_5m > 1:
        out["ctx:group_5m"] = math.log2(context.group_alerts_5m) / 4.0
    if context.group_alerts_60m > 1:
        out["ctx:group_60m"] = math.log2(context.group_alerts_60m) / 4.0
    if context.flapping:
        out["ctx:flapping"] = 1.0
    if context.duplicates > 0:
        out["ctx:duplicates"] = math.log2(1 + context.duplicates) / 4.0
    total = sum(count for count in context.past_ratings.values() if count > 0)
    if total > 0:
        confidence = total / (total + 2.0)
        for rated, count in context.past_ratings.items():
            mapped = map_severity(rated)
            if mapped is not None and count > 0:
                key = f"ctx:rated={mapped.value}"
                out[key] = out.get(key, 0.0) + confidence * count / total


def alert_features(
    alert: AlertRecord,
    context: ScoringContext | None = None,
    *,
    options: FeatureOptions = DEFAULT_OPTIONS,
) -> FeatureDict:
    """The sparse features of one alert in its context (see the module docstring for the families)."""
    annotations = alert.annotations
    summary = annotations.get("summary") or annotations.get("title") or annotations.get("message") or ""
    name = alert.alertname
    out: FeatureDict = dict.fromkeys(
        _wording_names(name, summary, annotations.get("description") or "", options.stems), 1.0
    )
    if options.name_grams:
        for gram in name_grams(name):
            out[f"gram:{gram}"] = options.name_grams
    if options.include_source_severity:
        said = source_severity(alert.labels)
        if said:
            out[f"sev:{said.strip().lower()}"] = 1.0
            mapped = map_severity(said)
            out[f"sevmap:{mapped.value if mapped else 'unknown'}"] = 1.0
    _label_features(alert.labels, out)
    expr = expression_of(alert)
    if expr:
        out.update(expression_features(expr))
    for_value = alert.values.get("for")
    minutes = duration_minutes(for_value) if isinstance(for_value, str) else None
    if minutes is not None:
        out[f"for:{for_bucket(minutes)}"] = 1.0
    if options.include_time and alert.starts_at is not None:
        _time_features(alert.starts_at, out)
    if options.include_context and context is not None:
        _context_features(context, out)
    return out


def batch_features(
    items: Iterable[tuple[AlertRecord, ScoringContext | None]], *, options: FeatureOptions = DEFAULT_OPTIONS
) -> list[FeatureDict]:
    """:func:`alert_features` over many (alert, context) pairs."""
    return [alert_features(alert, context, options=options) for alert, context in items]
