"""Feature extraction: what an alert and its context turn into."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.features import FeatureOptions, alert_features
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import ScoringContext


def make_alert(**overrides: object) -> AlertRecord:
    fields: dict[str, object] = {
        "source": "alertmanager",
        "fingerprint": "f1",
        "status": AlertStatus.FIRING,
        "labels": {"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": "shop-prod"},
        "annotations": {"summary": "Pod is crash looping", "description": "Container restarts often."},
        "starts_at": datetime(2025, 3, 8, 2, 30, tzinfo=UTC),  # a Saturday night
        "ends_at": None,
        "group_key": "g",
    }
    fields.update(overrides)
    return AlertRecord(**fields)  # type: ignore[arg-type]


def test_alert_features_cover_name_text_severity_labels_time() -> None:
    features = alert_features(make_alert(values={"for": "15m"}))
    assert {"name:crash", "text:restarts", "topic:crash", "sev:critical", "sevmap:SEV1"} <= features.keys()
    assert {"has:namespace", "label:namespace=shop-prod", "env:prod", "for:le15m"} <= features.keys()
    assert {"hour:night", "day:weekend"} <= features.keys()
    assert not any(name.startswith("label:severity") for name in features)


def test_source_severity_can_be_left_out_for_training_on_rule_files() -> None:
    features = alert_features(make_alert(), options=FeatureOptions(include_source_severity=False))
    assert not any(name.startswith(("sev:", "sevmap:")) for name in features)


def test_context_features_appear_only_when_there_is_context() -> None:
    quiet = alert_features(make_alert(), ScoringContext())
    assert not any(name.startswith("ctx:") for name in quiet)

    busy = ScoringContext(
        service_criticality="Critical",
        service_alerts_5m=10,
        service_alerts_60m=40,
        service_usual_per_hour=2.0,
        group_alerts_5m=8,
        flapping=True,
        duplicates=3,
        past_ratings={"SEV1": 3, "SEV3": 1},
    )
    features = alert_features(make_alert(), busy)
    assert {"ctx:criticality=critical", "ctx:burst", "ctx:rate_ratio", "ctx:group_5m"} <= features.keys()
    assert {"ctx:flapping", "ctx:duplicates", "ctx:rated=SEV1", "ctx:rated=SEV3"} <= features.keys()
    assert features["ctx:rated=SEV1"] > features["ctx:rated=SEV3"]
    assert alert_features(make_alert(), busy, options=FeatureOptions(include_context=False)).keys() == (
        alert_features(make_alert()).keys()
    )
