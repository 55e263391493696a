"""Training: reproducible, two levels at least, feedback counts, the 4-gram value chosen by grouped CV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from analytics.catalogue import catalogue_examples
from analytics.examples import TrainingExample, feedback_example, rule_alert
from analytics.features import FeatureOptions, alert_features
from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import ScoringContext
from analytics.training import train_model
from tests.support.alerts import alert_fields, checkout_alert


def real_alerts(rules: list[dict[str, Any]], instances: list[dict[str, Any]]) -> list[AlertRecord]:
    """Real rules as the alerts they raise (severity label kept, as serving sees it) and real firings."""
    alerts = [
        rule_alert(
            alertname=r["alertname"],
            expr=r["expr"],
            for_duration=r["for"] or None,
            labels={**r["labels"], "severity": r["severity"]},
            summary=r["summary"],
            description=r["description"],
        )
        for r in rules
    ]
    for i in instances:
        labels = {**i["labels"], "alertname": i["alertname"], "severity": i["severity"]}
        alerts.append(
            AlertRecord(
                source="alertmanager",
                fingerprint=i["alertname"],
                status=AlertStatus.FIRING,
                labels=labels,
                annotations=i["annotations"],
                starts_at=datetime(2025, 5, 1, 3, 0, tzinfo=UTC),
                ends_at=None,
                group_key="g",
            )
        )
    return alerts


def sample_contexts(n: int) -> list[ScoringContext]:
    rng = np.random.default_rng(1)
    return [
        ScoringContext(
            service_criticality=str(rng.choice(["critical", "high", "low", "unknown"])),
            service_alerts_5m=int(rng.integers(0, 30)),
            service_alerts_60m=int(rng.integers(0, 200)),
            service_usual_per_hour=float(rng.uniform(0, 20)),
            group_alerts_5m=int(rng.integers(0, 20)),
            group_alerts_60m=int(rng.integers(0, 50)),
            flapping=bool(rng.random() < 0.2),
            duplicates=int(rng.integers(0, 4)),
            past_ratings={"SEV2": int(rng.integers(0, 4))},
        )
        for _ in range(n)
    ]


def test_feedback_teaches_the_model_how_people_rate_an_alert_pattern() -> None:
    base = catalogue_examples(seed=0)
    template = checkout_alert(service="reports", env="prod")
    noisy = AlertRecord(
        **{
            **alert_fields(template),
            "labels": {
                "alertname": "ReportsDown",
                "service": "reports",
                "env": "prod",
                "severity": "critical",
            },
            "annotations": {
                "summary": "reports is unreachable",
                "description": "Every reports target is down.",
            },
        }
    )
    before = train_model(base, seed=0).scorer().score(noisy, ScoringContext())
    assert before.level is Severity.SEV1
    feedback = [feedback_example(alert=noisy, chosen=Severity.SEV3) for _ in range(3)]
    after = train_model([*base, *feedback], seed=0).scorer().score(noisy, ScoringContext())
    assert after.level is Severity.SEV3
    assert after.probabilities[Severity.SEV3] > before.probabilities[Severity.SEV3] + 0.3
    assert any("reports" in r.text.lower() for r in after.reasons)


def test_two_level_training_still_matches_the_pipeline() -> None:
    examples = [e for e in catalogue_examples(seed=2) if e.level in (Severity.SEV1, Severity.SEV4)]
    model = train_model(examples, seed=0, options=FeatureOptions(include_source_severity=False))
    assert model.lean.classes == (Severity.SEV1, Severity.SEV4)
    rows = [alert_features(e.alert, e.context, options=model.options) for e in examples]
    assert np.abs(model.lean.proba_batch(rows) - model.pipeline.predict_proba(rows)).max() < 1e-9
    explanation = model.explain(examples[0].alert, examples[0].context)
    assert abs(explanation.total - explanation.score) < 1e-9


def test_training_needs_two_levels() -> None:
    one_level = [e for e in catalogue_examples(seed=2) if e.level is Severity.SEV3]
    with pytest.raises(ValueError, match="two severity levels"):
        train_model(one_level)


def test_training_is_reproducible() -> None:
    examples: list[TrainingExample] = catalogue_examples(seed=4)[::3]
    assert train_model(examples, seed=0).version == train_model(examples, seed=0).version


def test_training_can_choose_the_name_gram_value_by_grouped_cross_validation() -> None:
    examples = catalogue_examples(seed=6, variants=2)
    chosen = train_model(examples, seed=0, name_gram_choices=(0.0, 1.0))
    assert chosen.options.name_grams in (0.0, 1.0)
    again = train_model(examples, seed=0, name_gram_choices=(0.0, 1.0))
    assert again.version == chosen.version
    fixed = train_model(examples, seed=0, options=chosen.options)
    assert fixed.version == chosen.version
