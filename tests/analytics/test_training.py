"""Training a team model: the baseline among the candidates, blends chosen by grouped CV on training rows
alone, monotone words, feedback, reproducibility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analytics.artifact import bundled_model
from analytics.evaluate import baseline_text
from analytics.examples import TrainingExample, feedback_example
from analytics.fitting import fit_text_pipeline, is_monotone_feature, non_increasing, prior_urgency
from analytics.model import SeverityModel
from analytics.paging import NO_RULE, PageRule, macro_and_page_f1, page_columns
from analytics.paging import rules as page_rules
from analytics.records import Severity
from analytics.scoring import ScoringContext
from analytics.training import BLEND_WEIGHTS, Choice, choose_blend, train_team_model


def test_the_text_candidate_is_the_baseline_itself(catalogue_rules: list[TrainingExample]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = [baseline_text(e) for e in catalogue_rules]
    y = [e.level.value for e in catalogue_rules]
    # analytics.evaluate's baseline, as written there
    baseline = make_pipeline(
        TfidfVectorizer(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000, random_state=0)
    ).fit(texts, y)
    text_only = train_team_model(catalogue_rules, choice=Choice(alpha=0.0, with_prior=False, scores={}))
    assert not text_only.content.reads_features and text_only.content.text is not None
    levels = [level.value for level in text_only.content.levels([e.alert for e in catalogue_rules])]
    assert levels == baseline.predict(texts).tolist()
    # Its logits are the baseline's, but where a monotone word ("critical", "prod") had its coefficients
    # projected (see analytics.training): those rows may differ, the levels here do not.
    rows = [text_only.features(e.alert) for e in catalogue_rules]
    lean = text_only.content.lean.decision_batch(rows)
    plain = [i for i, row in enumerate(rows) if not any(is_monotone_feature(name) for name in row)]
    assert len(plain) > 500
    assert np.abs(lean[plain] - baseline.decision_function([texts[i] for i in plain])).max() < 1e-9


def test_the_blend_is_chosen_on_the_training_rows_alone(catalogue_rules: list[TrainingExample]) -> None:
    rows = catalogue_rules[::2]
    prior = bundled_model().content
    choice = choose_blend(rows, prior=prior, options=prior.options, seed=0)
    assert choice.alpha in BLEND_WEIGHTS
    assert choice.page in page_rules(with_prior=True)
    assert _key(choice) in choice.scores
    assert "alpha=0" in choice.scores  # the baseline is always a candidate
    assert choose_blend(rows, prior=prior, options=prior.options, seed=0) == choice
    model = train_team_model(rows, prior=prior, seed=0)
    assert model.provenance["chosen"] == choice.name
    assert train_team_model(rows, prior=prior, seed=0).version == model.version


def _key(choice: Choice) -> str:
    return f"alpha={choice.alpha:g}" + (",prior" if choice.with_prior and choice.alpha > 0 else "")


def test_monotone_words_never_point_away_from_urgency(team_model: SeverityModel) -> None:
    assert non_increasing([1.0, 3.0, 0.0, 2.0]) == [2.0, 2.0, 1.0, 1.0]
    assert is_monotone_feature("name:critical") and is_monotone_feature("tok:production")
    assert not is_monotone_feature("name:critically") and not is_monotone_feature("label:env=prod")
    coef = team_model.content.lean.coef  # rows: SEV1 … SEV4
    checked = [j for j, name in enumerate(team_model.feature_names) if is_monotone_feature(name)]
    assert checked, "the catalogue has monotone words"
    for j in checked:
        assert all(coef[k, j] >= coef[k + 1, j] - 1e-12 for k in range(coef.shape[0] - 1))
    binary = fit_text_pipeline(
        ["disk critical", "disk fine", "node critical", "node fine"], ["SEV1", "SEV3"] * 2
    )
    vocabulary = binary.steps[0][1].vocabulary_
    assert binary.steps[1][1].coef_[0][vocabulary["critical"]] <= 0.0  # positive would favour SEV3


def test_training_needs_two_levels(catalogue_rules: list[TrainingExample]) -> None:
    with pytest.raises(ValueError, match="two severity levels"):
        train_team_model([e for e in catalogue_rules if e.level is Severity.SEV3])


def test_corrections_teach_the_content_model_an_alert_without_a_word(
    catalogue_rules: list[TrainingExample],
) -> None:
    template = next(e.alert for e in catalogue_rules if e.level is Severity.SEV1)
    noisy = replace(template, labels={**template.labels, "severity": "critical"})
    unworded = replace(template, labels={k: v for k, v in template.labels.items() if k != "severity"})
    choice = Choice(alpha=1.0, with_prior=False, scores={})
    before = train_team_model(catalogue_rules, choice=choice).scorer()
    assert before.score(unworded, ScoringContext()).level is Severity.SEV1
    corrections = [feedback_example(alert=noisy, chosen=Severity.SEV4) for _ in range(3)]
    after = train_team_model([*catalogue_rules, *corrections], choice=choice).scorer()
    assert after.score(unworded, ScoringContext()).level is Severity.SEV4
    # With its word the author's level stands until people's ratings reach the scoring context.
    assert after.score(noisy, ScoringContext()).level is Severity.SEV1
    assert after.score(noisy, ScoringContext(past_ratings={"SEV4": 3})).level is Severity.SEV4


def test_the_page_rule_moves_only_the_page_levels_by_the_published_urgency(
    catalogue_rules: list[TrainingExample],
) -> None:
    prior = bundled_model().content
    rows = catalogue_rules[::3]
    alerts = [e.alert for e in catalogue_rules[1::3]]
    plain = train_team_model(rows, prior=prior, choice=Choice(alpha=0.5, with_prior=False, scores={}))
    rule = PageRule(prior_weight=2.0, shift=-0.5)
    ruled = train_team_model(
        rows, prior=prior, choice=Choice(alpha=0.5, with_prior=False, scores={}, page=rule)
    )
    assert [s.value for s in ruled.content.classes] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    before = plain.content.lean.decision_batch([plain.features(a) for a in alerts])
    after = ruled.content.lean.decision_batch([ruled.features(a) for a in alerts])
    urgency = np.array([prior_urgency(a, prior) for a in alerts])
    assert np.abs(after[:, 2:] - before[:, 2:]).max() < 1e-9  # SEV3, SEV4 untouched
    expected = before[:, :2] + (2.0 * urgency - 0.5)[:, None]
    assert np.abs(after[:, :2] - expected).max() < 1e-9
    assert np.abs(after - ruled.reference.decision(alerts)).max() < 1e-9
    assert ruled.provenance["page_rule"] == {"prior_weight": 2.0, "shift": -0.5, "ladder": 0.0}
    assert "page levels 2 · published-rules urgency -0.5" in ruled.provenance["chosen"]
    # The text baseline with a page rule reads the features the prior needs, and nothing else changes.
    text = train_team_model(
        rows, prior=prior, choice=Choice(alpha=0.0, with_prior=False, scores={}, page=rule)
    )
    assert text.content.reads_features and text.content.text is not None


def test_page_rule_candidates_start_with_no_rule_and_need_a_prior() -> None:
    assert page_rules(with_prior=True)[0] == NO_RULE and not NO_RULE.active
    assert page_rules(with_prior=False) == [NO_RULE]
    assert len(page_rules(with_prior=True)) > 10


def test_macro_and_page_f1_are_scikit_learns() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    classes = ["SEV1", "SEV2", "SEV3", "SEV4"]
    pages = page_columns(classes)
    for _ in range(50):
        y = rng.integers(0, 4, size=40) if rng.random() < 0.8 else rng.integers(2, 4, size=40)
        pred = rng.integers(0, 4, size=40)
        labels = sorted(set(y.tolist()))
        expected_macro = f1_score(y, pred, labels=labels, average="macro", zero_division=0)
        expected_page = f1_score(y < 2, pred < 2, zero_division=0)
        macro, page = macro_and_page_f1(y, pred, pages)
        assert macro == pytest.approx(expected_macro, abs=1e-12)
        assert page == pytest.approx(expected_page, abs=1e-12)
