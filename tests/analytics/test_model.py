"""The serving model: lean scores equal the pipeline, reasons add up to the logit, context counts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from analytics.catalogue import catalogue_examples
from analytics.examples import rule_alert
from analytics.features import alert_features
from analytics.model import ModelScorer, SeverityModel
from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import Scorer, ScoringContext
from tests.support.alerts import checkout_alert


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


def test_lean_scorer_equals_pipeline_on_thousands_of_real_and_catalogue_alerts(
    default_model: SeverityModel, real_rules: list[dict[str, Any]], real_instances: list[dict[str, Any]]
) -> None:
    alerts = real_alerts(real_rules, real_instances)
    contexts = sample_contexts(len(alerts))
    rows = [alert_features(a, c) for a, c in zip(alerts, contexts, strict=True)]
    rows += [alert_features(e.alert, e.context) for e in catalogue_examples(seed=7)]
    assert len(rows) > 4000
    expected = default_model.pipeline.predict_proba(rows)
    batch = default_model.lean.proba_batch(rows)
    single = np.stack([default_model.lean.proba(r) for r in rows])
    assert np.abs(batch - expected).max() < 1e-9
    assert np.abs(single - expected).max() < 1e-9
    assert (
        np.abs(default_model.lean.decision_batch(rows) - default_model.pipeline.decision_function(rows)).max()
        < 1e-9
    )


def test_model_scorer_gives_level_probabilities_and_reasons_that_sum_to_the_logit(
    default_model: SeverityModel,
) -> None:
    scorer: Scorer = default_model.scorer()
    example = catalogue_examples(seed=5)[17]
    score = scorer.score(example.alert, example.context)
    assert score.model_version == scorer.version == default_model.version
    assert set(score.probabilities) == set(Severity)
    assert abs(sum(score.probabilities.values()) - 1.0) < 1e-12
    assert score.level is max(score.probabilities, key=lambda s: score.probabilities[s])
    explanation = default_model.explain(example.alert, example.context)
    assert abs(sum(r.weight for r in score.reasons) - explanation.score) < 1e-9
    assert score.reasons[-1].text == f"base rate for {score.level}"
    batch = ModelScorer(default_model).score_batch([(example.alert, example.context)])
    assert batch[0] == pytest.approx(score.probabilities, abs=1e-12)


def test_same_alert_scores_higher_on_a_critical_service_during_a_burst(default_model: SeverityModel) -> None:
    scorer = default_model.scorer()
    burst = ScoringContext(
        service_criticality="critical",
        service_alerts_5m=20,
        service_alerts_60m=60,
        service_usual_per_hour=2.0,
        group_alerts_5m=12,
        group_alerts_60m=25,
    )
    calm = ScoringContext(service_criticality="low", service_alerts_60m=1, service_usual_per_hour=2.0)
    hot = scorer.score(checkout_alert(service="checkout", env="prod"), burst)
    cold = scorer.score(checkout_alert(service="checkout", env="dev"), calm)
    assert hot.level.rank < cold.level.rank
    urgent = (Severity.SEV1, Severity.SEV2)
    assert sum(hot.probabilities[s] for s in urgent) > sum(cold.probabilities[s] for s in urgent) + 0.5
    assert any(
        "usual alert rate for checkout" in r.text or "burst on checkout" in r.text for r in hot.reasons
    )
    assert not any("burst" in r.text for r in cold.reasons)


def _fields(alert: AlertRecord) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in alert.__dataclass_fields__}
