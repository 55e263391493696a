"""Feature extraction: what an alert's content turns into, and what is no feature at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from analytics.bundled import OPTION_CHOICES, row_alert
from analytics.features import (
    FeatureOptions,
    alert_features,
    alert_features_uncached,
    feature_key,
    rule_features,
)
from analytics.model import ModelScorer, SeverityModel
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import ScoringContext


def make_alert(**overrides: object) -> AlertRecord:
    fields: dict[str, object] = {
        "source": "alertmanager",
        "fingerprint": "f1",
        "status": AlertStatus.FIRING,
        "labels": {
            "alertname": "KubePodCrashLooping",
            "severity": "critical",
            "namespace": "shop",
            "env": "prod",
            "environment": "production",
        },
        "annotations": {"summary": "Pod is crash looping", "description": "Container restarts often."},
        "starts_at": datetime(2025, 3, 8, 2, 30, tzinfo=UTC),  # a Saturday night
        "ends_at": None,
        "group_key": "g",
    }
    fields.update(overrides)
    return AlertRecord(**fields)  # type: ignore[arg-type]


def test_alert_features_cover_name_text_labels_and_for() -> None:
    features = alert_features(make_alert(values={"for": "15m"}))
    assert {"name:crash", "text:restarts", "topic:crash", "has:namespace", "label:namespace=shop"} <= set(
        features
    )
    assert "for:le15m" in features


def test_the_word_the_environment_and_the_time_are_no_features() -> None:
    features = alert_features(make_alert())
    families = {name.partition(":")[0] for name in features}
    assert not families & {"sev", "sevmap", "env", "hour", "day", "ctx"}
    assert not any(
        name.startswith(("label:severity", "has:severity", "label:env", "has:env")) for name in features
    )
    night = alert_features(make_alert(starts_at=datetime(2025, 3, 10, 14, 0, tzinfo=UTC)))
    assert night == features


def test_fixed_words_are_never_stemmed_or_split_into_grams() -> None:
    alert = make_alert(labels={"alertname": "ProductionDiskCritical"})
    features = alert_features(alert, options=FeatureOptions(stems=True, name_grams=0.5))
    assert {"name:production", "name:critical", "name:disk"} <= set(features)
    assert "name:product" not in features  # "production" would stem to it, whose sign is learned elsewhere
    grams = {name[5:] for name in features if name.startswith("gram:")}
    assert grams == {"<dis", "disk", "isk>"}


def _instances(row: dict[str, Any], n: int) -> list[AlertRecord]:
    """A rule row's alert, as ``row_alert`` makes it and as Alertmanager sends it (the query only in the
    generator URL), for ``n`` instances with their own instance labels and rendered annotations."""
    base = row_alert(row)
    url = f"http://prometheus:9090/graph?g0.expr={quote_plus(base.expression or '')}&g0.tab=1"
    out = []
    for i in range(n):
        host = f"10.0.{i}.{7 * i % 250}:9100"
        out.append(
            replace(
                base,
                labels={**base.labels, "instance": host, "pod": f"pod-{i}"},
                annotations={k: f"{v} (on {host}, {i * 0.37:.2f})" for k, v in base.annotations.items()},
                expression=base.expression if i % 2 else None,
                generator_url=url if i % 2 == 0 else None,
            )
        )
    return out


def test_rule_level_cache_gives_the_uncached_features_on_the_real_rules(
    real_rules: list[dict[str, Any]],
) -> None:
    assert len(real_rules) > 3000
    rule_features.cache_clear()
    differ = []
    for options in OPTION_CHOICES:
        for row in real_rules:
            for alert in _instances(row, 3):  # the second and third instances hit the rule's cache
                cached = list(alert_features(alert, options=options).items())
                if cached != list(alert_features_uncached(alert, options=options).items()):
                    differ.append((options, row["alertname"]))
    assert rule_features.cache_info().hits > 0
    assert differ == []


def test_cached_content_reasons_equal_a_fresh_scorers_on_the_real_rules(
    real_rules: list[dict[str, Any]], default_model: SeverityModel
) -> None:
    cached = default_model.scorer()
    differ = []
    for row in real_rules[::7]:
        for alert in _instances(row, 2):
            alert = replace(alert, labels={k: v for k, v in alert.labels.items() if k != "severity"})
            context = ScoringContext(service_alerts_5m=len(row["alertname"]) % 9, duplicates=1)
            first, again = cached.score(alert, context), cached.score(alert, context)
            fresh = ModelScorer(default_model, cache_size=1).score(alert, context)
            if not first == again == fresh:
                differ.append(row["alertname"])
    assert len(cached._content) > 0
    assert differ == []


def test_alerts_with_one_feature_key_have_the_same_features_on_the_real_rules(
    real_rules: list[dict[str, Any]],
) -> None:
    """``feature_key`` stands for the features in the scorer's cache: one key must never mean two."""
    by_key: dict[object, list[tuple[str, float]]] = {}
    differ, shared = [], 0
    for row in real_rules[::3]:
        alerts = _instances(row, 3)
        base = alerts[0]
        alerts += [
            replace(base, labels={**base.labels, "team": "payments"}),
            replace(base, labels={**base.labels, "instance": "elsewhere", "pod": "other"}),  # same features
            replace(base, annotations={**base.annotations, "summary": "disk full on {{ $labels.host }}"}),
            replace(base, values={**base.values, "for": "1h"}),
        ]
        for alert in alerts:
            key = feature_key(alert)
            for options in OPTION_CHOICES:
                features = list(alert_features_uncached(alert, options=options).items())
                seen = by_key.setdefault((key, options), features)
                shared += seen is not features
                if seen != features:
                    differ.append(row["alertname"])
    assert shared > len(real_rules) // 3  # the instances and the other pod share their rule's key
    assert differ == []
