"""The severity model: lean scores equal the pipeline, explanations are exact, context and feedback count."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.artifact import (
    ArtifactError,
    default_artifact_name,
    default_scorer,
    load_model,
    load_scorer,
    save_model,
)
from analytics.catalogue import catalogue_examples
from analytics.examples import TrainingExample, feedback_example, rule_alert
from analytics.explain import render_reason, signed
from analytics.features import FeatureOptions, alert_features
from analytics.model import ModelScorer, SeverityModel
from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import Reason, Scorer, ScoringContext
from analytics.training import train_model


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


def checkout_alert(*, service: str, env: str) -> AlertRecord:
    return AlertRecord(
        source="alertmanager",
        fingerprint=f"{service}-{env}",
        status=AlertStatus.FIRING,
        labels={"alertname": "HighErrorRate", "service": service, "env": env, "severity": "warning"},
        annotations={"summary": f"{service} returns many 5xx", "description": "Server errors above 5%."},
        starts_at=datetime(2025, 3, 4, 14, 0, tzinfo=UTC),
        ends_at=None,
        group_key=f"{service}-{env}",
    )


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


def test_feedback_teaches_the_model_how_people_rate_an_alert_pattern() -> None:
    base = catalogue_examples(seed=0)
    template = checkout_alert(service="reports", env="prod")
    noisy = AlertRecord(
        **{
            **_fields(template),
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


def _fields(alert: AlertRecord) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in alert.__dataclass_fields__}


def test_save_and_load_round_trip_exactly(default_model: SeverityModel, tmp_path: Path) -> None:
    path = save_model(default_model, tmp_path / "model.json")
    loaded = load_model(path)
    assert loaded.version == default_model.version
    assert loaded.feature_names == default_model.feature_names
    assert loaded.options == default_model.options
    assert loaded.summary == default_model.summary
    rows = [alert_features(e.alert, e.context) for e in catalogue_examples(seed=11)[::5]]
    assert np.abs(loaded.lean.proba_batch(rows) - default_model.lean.proba_batch(rows)).max() < 1e-12
    example = catalogue_examples(seed=11)[0]
    assert load_scorer(path).score(example.alert, example.context) == default_model.scorer().score(
        example.alert, example.context
    )


def test_load_refuses_other_files_and_tampered_coefficients(
    default_model: SeverityModel, tmp_path: Path
) -> None:
    path = save_model(default_model, tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["coef"][0][0] += 1.0
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="recorded version"):
        load_model(path)
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a sevbot"):
        load_model(tmp_path / "other.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=1), "unsupported model format version 1"),
        (lambda d: d.update(format_version=99), "unsupported model format version 99"),
        (lambda d: d.pop("coef"), "malformed model artifact: KeyError"),
        (lambda d: d.update(coef=[[1.0, 2.0]]), "do not match"),
        (lambda d: d.update(classes=["SEV1", "SEV9", "SEV3", "SEV4"]), "malformed model artifact"),
        (lambda d: d.update(feature_names=[1, 2]), "feature_names must be a list of strings"),
        (lambda d: d["options"].update(run="os.system"), "malformed model artifact: TypeError"),
        (lambda d: d.update(summary=[]), "options and summary must be objects"),
    ],
)
def test_load_names_what_is_wrong_with_a_malformed_artifact(
    default_model: SeverityModel, tmp_path: Path, change: Any, message: str
) -> None:
    document = json.loads(save_model(default_model, tmp_path / "model.json").read_text())
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=message):
        load_model(path)


def test_load_rejects_files_that_are_not_json_objects(tmp_path: Path) -> None:
    for name, text in (("half.json", '{"format": "sevbot-sev'), ("list.json", "[1, 2]")):
        (tmp_path / name).write_text(text)
    with pytest.raises(ArtifactError, match="not JSON"):
        load_model(tmp_path / "half.json")
    with pytest.raises(ArtifactError, match="not a sevbot severity model"):
        load_model(tmp_path / "list.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_model(tmp_path / "latin1.json")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_model(tmp_path / "missing.json")


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


def test_default_scorer_trains_once_then_loads_the_cached_artifact(tmp_path: Path) -> None:
    first = default_scorer(tmp_path)
    artifact = tmp_path / default_artifact_name()
    assert artifact.exists()
    stamp = artifact.stat().st_mtime_ns
    second = default_scorer(tmp_path)
    assert second.version == first.version
    assert artifact.stat().st_mtime_ns == stamp
    assert second.model.pipeline is None  # loaded from the file, not retrained


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
