"""Grouped cross-validation against the text baseline: the same folds, the baseline fixed, what ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.catalogue import catalogue_examples
from analytics.evaluate import Evaluation, baseline_text, deduplicate, evaluate, render_evaluation
from analytics.examples import TrainingExample
from analytics.records import Severity
from analytics.tfidf import alert_text
from bot.model.rulefiles import load_rule_paths, rule_examples
from tests.analytics.conftest import as_rules


def test_evaluation_reports_both_methods_on_the_same_grouped_folds(
    catalogue_rules: list[TrainingExample],
) -> None:
    examples = catalogue_rules[::2]
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
    assert {"n", "macro_f1", "critical_f1", "baseline_macro_f1", "baseline_critical_f1", "per_class"} <= set(
        document
    )
    assert len(document["chosen"]) == 3
    text = render_evaluation(evaluation, title="catalogue")
    assert "macro-F1" in text and "SEV4" in text and text.startswith("catalogue")
    assert "chosen inside each training fold" in text


def test_the_text_model_reads_exactly_what_the_baseline_reads(catalogue_rules: list[TrainingExample]) -> None:
    assert all(alert_text(e.alert) == baseline_text(e) for e in catalogue_rules)


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


def test_on_real_rule_files_the_model_is_not_worse_than_the_baseline(shared_data: Path) -> None:
    # One small real source here (the full table, every source and seed, is bench/teams.py).
    folder = shared_data / "upstream" / "prometheus-operator__kube-prometheus"
    examples = rule_examples(load_rule_paths([folder])).examples
    evaluation = evaluate(examples, folds=5, seed=0, prior=None)
    assert evaluation.n > 100
    assert evaluation.model.macro_f1 >= evaluation.baseline.macro_f1
