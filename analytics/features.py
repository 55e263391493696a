"""Turn an alert into sparse content features: the one function training and serving share (pure).

Data flow: ``AlertRecord`` ─► :func:`alert_features` ─► ``{name: value}`` ─► a content model
(``analytics.model``). Feature names are namespaced by a prefix (``name:``, ``text:``, ``label:``,
``metric:``, ``fn:`` …) so that ``analytics.explain`` can put each one, or the one signal several of them
share, into a sentence about the alert.

What is *not* here, on purpose: the source's severity word and the scoring context are no content of the
alert; they are terms of the urgency policy (``analytics.policy``), with fixed, monotone weights. The hour
and the weekday are no signal at all, and neither is the environment label (``env=prod`` once gave both
"label env=prod" and "prod environment", each −0.5: the same signal twice, lowering production).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from analytics.promql import (
    duration_minutes,
    expression_features,
    expression_of,
    expression_of_parts,
    for_bucket,
)
from analytics.records import AlertRecord
from analytics.scoring import SEVERITY_LABELS
from analytics.text import FIXED_WORDS, name_grams, stem, words

FeatureDict = dict[str, float]

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
# Labels that say where an alert runs, not what it is about: never a feature (production must never lower
# a severity, and a rule's wording is the same in every environment).
ENVIRONMENT_LABELS = frozenset({"env", "environment", "stage", "deployment_environment"})


@dataclass(frozen=True, slots=True)
class FeatureOptions:
    """Switches of the feature function; stored with a trained model so serving uses the same ones."""

    # Word stems beside the words ("restarted", "restarting" → "restart").
    stems: bool = False
    # Value of the alert name's character 4-grams ("ProcessRestarting" shares "star", "tart" with
    # "ApacheRestart"); 0 leaves them out. Off by default; the bundled model chooses stems and 4-grams by
    # leave-one-source-out (``analytics.bundled.OPTION_CHOICES``) and a team model reads what its prior reads.
    name_grams: float = 0.0


DEFAULT_OPTIONS = FeatureOptions()
_SKIPPED_LABELS = INSTANCE_LABELS | frozenset(SEVERITY_LABELS) | ENVIRONMENT_LABELS


def _with_stems(found: tuple[str, ...], stems: bool) -> tuple[str, ...]:
    if not stems:
        return found
    return tuple(
        dict.fromkeys([w for word in found for w in ((word,) if word in FIXED_WORDS else (word, stem(word)))])
    )


def _wording_names(name: str, summary: str, description: str, stems: bool = False) -> tuple[str, ...]:
    """Name identity and words, annotation words, and topic words (in two of name, summary, description).

    Rendered annotations are new text for every firing, but their *words* repeat (values, addresses and
    numbers are no words), so what follows the tokenising is cached on the words: on the benchmark's
    rendered instances that takes the wording from 26 to 16 µs (with stems), the features from 43 to 29.
    """
    return _wording_of_words(
        name.lower(),
        words(name),
        words(summary) if summary else (),
        words(description) if description else (),
        stems,
    )


@lru_cache(maxsize=16384)
def _wording_of_words(
    lower_name: str,
    raw_name_words: tuple[str, ...],
    raw_summary_words: tuple[str, ...],
    raw_description_words: tuple[str, ...],
    stems: bool,
) -> tuple[str, ...]:
    name_words = _with_stems(raw_name_words, stems)
    summary_words = _with_stems(raw_summary_words, stems)
    description_words = _with_stems(raw_description_words, stems)
    text_words = dict.fromkeys([*summary_words, *description_words])
    # A topic is a word in two of name, summary, description (plain dicts: Counter's ABC checks cost more
    # than the counting on this path, which runs for every alert with freshly rendered annotations).
    counts = dict.fromkeys(name_words, 1)
    for word in text_words:
        counts[word] = counts.get(word, 0) + 1
    for word in set(summary_words).intersection(description_words):
        counts[word] += 1
    return (
        f"alert:{lower_name}",
        *(f"name:{w}" for w in name_words),
        *(f"text:{w}" for w in text_words),
        *(f"topic:{w}" for w, c in counts.items() if c >= 2),
    )


@lru_cache(maxsize=16384)
def _label_names(key: str, value: str) -> tuple[str, ...]:
    lkey = key.lower()
    if lkey in _SKIPPED_LABELS:
        return ()
    if value and len(value) <= 40 and " " not in value and "{" not in value:
        return (f"has:{lkey}", f"label:{lkey}={value.lower()}")
    return (f"has:{lkey}",)


def _label_features(labels: Mapping[str, str], out: FeatureDict) -> None:
    for key, value in labels.items():
        if key in _SKIPPED_LABELS:  # per-instance values (pod, instance) would only churn the cache
            continue
        for name in _label_names(key, value):
            out[name] = 1.0


def alert_features(alert: AlertRecord, *, options: FeatureOptions = DEFAULT_OPTIONS) -> FeatureDict:
    """The sparse content features of one alert (see the module docstring for the families).

    Alerts of one rule share their name, their PromQL and their ``for``: what follows from those alone
    (the name's words and 4-grams, the query's features, the ``for`` bucket) is computed once per rule
    (:func:`rule_features`, a bounded cache keyed by exactly those inputs); only the rendered annotations
    and the labels are read per alert. The result, order included, is that of
    :func:`alert_features_uncached`.
    """
    rule = rule_features(alert.alertname, alert.expression, alert.generator_url, _for_value(alert), options)
    annotations = alert.annotations
    summary = annotations.get("summary") or annotations.get("title") or annotations.get("message") or ""
    description = annotations.get("description") or ""
    out: FeatureDict = dict.fromkeys(
        _wording_of_words(
            rule.lower_name,
            rule.name_words,
            words(summary) if summary else (),
            words(description) if description else (),
            options.stems,
        ),
        1.0,
    )
    out.update(rule.grams)
    _label_features(alert.labels, out)
    out.update(rule.tail)
    return out


FeatureKey = tuple[object, ...]


def feature_key(alert: AlertRecord) -> FeatureKey:
    """Everything of ``alert`` that :func:`alert_features` reads, for any options: alerts with equal keys
    have equal features, order included (the annotations as their words, the labels but those skipped).

    Cheaper than the features themselves (no wording, no dict), so a batch can look an alert's content
    part up by it and compute the features only for a key it has not seen."""
    annotations = alert.annotations
    summary = annotations.get("summary") or annotations.get("title") or annotations.get("message") or ""
    description = annotations.get("description") or ""
    return (
        alert.alertname,
        alert.expression,
        alert.generator_url,
        _for_value(alert),
        words(summary) if summary else (),
        words(description) if description else (),
        tuple([(k, v) for k, v in alert.labels.items() if k not in _SKIPPED_LABELS]),
    )


@dataclass(frozen=True, slots=True)
class RuleFeatures:
    """The part of an alert's features that its rule decides (name, PromQL, ``for``)."""

    lower_name: str
    name_words: tuple[str, ...]  # the name's words, before stems (the wording adds those)
    grams: tuple[tuple[str, float], ...]  # the name's 4-gram features, in order
    tail: tuple[tuple[str, float], ...]  # the query's features, then the ``for`` bucket, in order


RULE_CACHE_SIZE = 4096


@lru_cache(maxsize=RULE_CACHE_SIZE)
def rule_features(
    name: str,
    expression: str | None,
    generator_url: str | None,
    for_value: str | None,
    options: FeatureOptions = DEFAULT_OPTIONS,
) -> RuleFeatures:
    """The rule-level features of alerts named ``name`` with this query and ``for`` (bounded cache)."""
    grams = tuple((f"gram:{g}", options.name_grams) for g in name_grams(name)) if options.name_grams else ()
    tail: dict[str, float] = {}
    expr = expression_of_parts(expression, generator_url)
    if expr:
        tail.update(expression_features(expr))
    minutes = duration_minutes(for_value) if for_value is not None else None
    if minutes is not None:
        tail[f"for:{for_bucket(minutes)}"] = 1.0
    return RuleFeatures(name.lower(), words(name), grams, tuple(tail.items()))


def _for_value(alert: AlertRecord) -> str | None:
    value = alert.values.get("for")
    return value if isinstance(value, str) else None


def alert_features_uncached(alert: AlertRecord, *, options: FeatureOptions = DEFAULT_OPTIONS) -> FeatureDict:
    """:func:`alert_features` computed whole for one alert, with no rule-level cache (the reference)."""
    annotations = alert.annotations
    summary = annotations.get("summary") or annotations.get("title") or annotations.get("message") or ""
    name = alert.alertname
    out: FeatureDict = dict.fromkeys(
        _wording_names(name, summary, annotations.get("description") or "", options.stems), 1.0
    )
    if options.name_grams:
        for gram in name_grams(name):
            out[f"gram:{gram}"] = options.name_grams
    _label_features(alert.labels, out)
    expr = expression_of(alert)
    if expr:
        out.update(expression_features(expr))
    for_value = alert.values.get("for")
    minutes = duration_minutes(for_value) if isinstance(for_value, str) else None
    if minutes is not None:
        out[f"for:{for_bucket(minutes)}"] = 1.0
    return out
