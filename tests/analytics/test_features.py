"""Feature extraction: what an alert's content turns into, and what is no feature at all."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.features import FeatureOptions, alert_features
from analytics.records import AlertRecord, AlertStatus


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
