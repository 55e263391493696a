"""Grouped cross-validation against the text baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.catalogue import catalogue_examples
from analytics.evaluate import Evaluation, deduplicate, evaluate, render_evaluation
from analytics.examples import TrainingExample, rule_alert
from analytics.features import FeatureOptions
from analytics.records import Severity
from analytics.training import NAME_GRAM_CHOICES, select_options
from bot.model.rulefiles import load_rule_paths, rule_examples


def as_rules(examples: list[TrainingExample]) -> list[TrainingExample]:
    """Catalogue rows as rule-file rows: no context, no source severity, grouped by archetype."""
    out = []
    for e in examples:
        alert = rule_alert(
            alertname=e.alert.alertname,
            expr=e.alert.expression,
            for_duration=None,
            labels=e.alert.labels,
            summary=e.alert.annotations.get("summary"),
            description=e.alert.annotations.get("description"),
        )
        out.append(TrainingExample(alert=alert, level=e.level, group=e.group, origin="rules"))
    return out


def test_evaluation_reports_both_methods_on_the_same_grouped_folds() -> None:
    examples = as_rules(catalogue_examples(seed=0, variants=2))
    evaluation = evaluate(examples, folds=3)
    assert isinstance(evaluation, Evaluation)
    assert evaluation.n == len(deduplicate(examples))
    assert evaluation.labels == ("SEV1", "SEV2", "SEV3", "SEV4")
    for scores in (evaluation.model, evaluation.baseline):
        assert sum(map(sum, scores.confusion)) == evaluation.n
        assert 0.0 <= scores.macro_f1 <= 1.0
        for label, row in zip(evaluation.labels, scores.confusion, strict=True):
            assert sum(row) == scores.per_class[label].support
    document = evaluation.to_json()
    json.dumps(document)
    assert {
        "n",
        "macro_f1",
        "critical_f1",
        "baseline_macro_f1",
        "baseline_critical_f1",
        "per_class",
    } <= document.keys()
    assert document["per_class"]["SEV1"]["support"] == evaluation.model.per_class["SEV1"].support
    text = render_evaluation(evaluation, title="catalogue")
    assert "macro-F1" in text and "SEV4" in text and text.startswith("catalogue")
    assert "chosen inside each training fold" in text


def test_duplicates_are_removed_before_splitting() -> None:
    examples = as_rules(catalogue_examples(seed=0, variants=1))
    doubled = examples + [TrainingExample(alert=e.alert, level=e.level, group="elsewhere") for e in examples]
    assert len(deduplicate(doubled)) == len(deduplicate(examples))


def test_too_few_groups_is_an_error() -> None:
    examples = as_rules(catalogue_examples(seed=0, variants=1))[:40]
    with pytest.raises(ValueError, match="groups"):
        evaluate([TrainingExample(alert=e.alert, level=e.level, group="one") for e in examples])
    one_level = [e for e in as_rules(catalogue_examples(seed=0, variants=1)) if e.level is Severity.SEV3]
    with pytest.raises(ValueError, match="two severity levels"):
        evaluate(one_level)


@pytest.mark.parametrize(
    "source", ["samber__awesome-prometheus-alerts", "monitoring-mixins__website", "sapcc__helm-charts"]
)
def test_model_beats_the_baseline_on_real_rule_files(shared_data: Path, source: str) -> None:
    examples = rule_examples(load_rule_paths([shared_data / "upstream" / source])).examples
    evaluation = evaluate(examples, folds=5, seed=0)
    assert evaluation.n > 500
    assert evaluation.model.macro_f1 > evaluation.baseline.macro_f1
    assert evaluation.model.critical_f1 > evaluation.baseline.critical_f1
    assert len(evaluation.name_grams_chosen) == 5
    assert set(evaluation.name_grams_chosen) <= set(NAME_GRAM_CHOICES)


def test_name_gram_value_is_chosen_on_training_rows_only() -> None:
    examples = as_rules(catalogue_examples(seed=0, variants=2))
    candidates = [FeatureOptions(include_source_severity=False, name_grams=v) for v in (0.0, 1.0)]
    best, scores = select_options(examples, candidates=candidates, folds=3, seed=0)
    assert set(scores) == set(candidates) and best in candidates
    assert scores[best] == max(scores.values())
    # The choice is a function of the rows it is given: the same rows give the same choice.
    assert select_options(examples, candidates=candidates, folds=3, seed=0) == (best, scores)
    # One candidate: nothing to choose, nothing fitted.
    assert select_options(examples, candidates=candidates[:1]) == (candidates[0], {})
    evaluation = evaluate(examples, folds=3, name_gram_choices=(0.0,))
    assert evaluation.name_grams_chosen == (0.0, 0.0, 0.0)
    assert evaluation.to_json()["name_grams_chosen"] == [0.0, 0.0, 0.0]
