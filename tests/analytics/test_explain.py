"""Explanations: contributions in plain words that add up to the score, rendered with signs."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.catalogue import catalogue_examples
from analytics.explain import describe_feature, render_reason, signed
from analytics.features import alert_features
from analytics.model import SeverityModel
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import Reason, ScoringContext


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


def test_describe_feature_puts_features_in_plain_words() -> None:
    alert = make_alert(labels={"alertname": "HighErrorRate", "service": "checkout"})
    context = ScoringContext(service_alerts_5m=5, service_alerts_60m=24, service_usual_per_hour=2.0)
    assert describe_feature("ctx:rate_ratio", 1.0, alert, context) == "30× the usual alert rate for checkout"
    assert "burst on checkout" in describe_feature("ctx:burst", 1.0, alert, context)
    assert describe_feature("sev:critical", 1.0, alert, context) == "source says critical"
    assert describe_feature("fn:absent", 0.5, alert, context) == "query uses absent()"
    assert describe_feature("hour:night", 1.0, alert, context) == "night (00–06 UTC)"


def test_explanation_adds_up_to_the_decision_score_for_every_level(default_model: SeverityModel) -> None:
    examples = catalogue_examples(seed=3)[::40]
    for example in examples:
        decision = default_model.pipeline.decision_function([alert_features(example.alert, example.context)])[
            0
        ]
        for k, level in enumerate(default_model.lean.classes):
            explanation = default_model.explain(example.alert, example.context, level=level)
            assert abs(explanation.total - decision[k]) < 1e-9
            assert abs(explanation.score - decision[k]) < 1e-9
        chosen = default_model.explain(example.alert, example.context)
        assert chosen.level is max(chosen.probabilities, key=lambda s: chosen.probabilities[s])


def test_reasons_render_in_plain_words_with_signs(default_model: SeverityModel) -> None:
    assert render_reason(Reason("source says critical", 1.94)) == "source says critical +1.9"
    assert render_reason(Reason("night (00–06 UTC)", -0.2)) == "night (00–06 UTC) \u22120.2"
    assert render_reason(Reason("label env=dev", 0.04)) == "label env=dev +0.04"
    assert signed(-0.001) == "±0"
    example = catalogue_examples(seed=5)[17]
    explanation = default_model.explain(example.alert, example.context)
    lines = explanation.lines(top=3)
    assert len(lines) == 5
    assert lines[0] == render_reason(
        Reason(explanation.contributions[0].text, explanation.contributions[0].weight)
    )
    assert lines[-1].startswith(f"base rate for {explanation.level} ")
    assert lines[-2].startswith(f"{len(explanation.contributions) - 3} other signals ")
