"""Training the severity model: features ─► DictVectorizer ─► multinomial LogisticRegression (pure).

Options learned from data (the alert-name 4-gram value) are chosen by grouped cross-validation on the
training examples alone (:func:`select_options`); the same function runs inside each fold of
``analytics.evaluate``, so what is measured is what ships.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from analytics.examples import TrainingExample
from analytics.features import DEFAULT_OPTIONS, FeatureDict, FeatureOptions, alert_features
from analytics.model import LeanScorer, SeverityModel, TrainingSummary, model_version
from analytics.records import Severity

logger = logging.getLogger(__name__)

DEFAULT_C = 1.0
INNER_FOLDS = 3
# Values of the alert-name 4-gram features tried inside each training fold (0: none). Fixed before looking
# at any held-out fold; the inner choice keeps the outer folds untouched.
NAME_GRAM_CHOICES: tuple[float, ...] = (0.0, 0.5, 1.0)
_SUMMARY_FEATURES = 40


def macro_f1(y: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the levels present in ``y`` (levels only predicted count as errors, not classes)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(y))
    return float(f1_score(list(y), list(pred), labels=labels, average="macro", zero_division=0))


def fit_pipeline(
    rows: Sequence[Mapping[str, float]],
    y: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    seed: int = 0,
    c: float = DEFAULT_C,
    class_weight: str | None = "balanced",
) -> Any:
    """The fitted scikit-learn pipeline (DictVectorizer ─► multinomial LogisticRegression) on feature rows.

    Newton-CG reaches the same optimum as lbfgs here in a fraction of the time (the objective is smooth and
    small), which is what makes choosing options inside each training fold affordable.
    """
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            ("vectorize", DictVectorizer(sparse=True, sort=True)),
            (
                "classify",
                LogisticRegression(
                    C=c, class_weight=class_weight, solver="newton-cg", max_iter=1000, random_state=seed
                ),
            ),
        ]
    )
    sample_weight = None if weights is None else np.asarray(weights, dtype=np.float64)
    pipeline.fit(list(rows), list(y), classify__sample_weight=sample_weight)
    return pipeline


def train_model(
    examples: Sequence[TrainingExample],
    *,
    seed: int = 0,
    c: float = DEFAULT_C,
    class_weight: str | None = "balanced",
    options: FeatureOptions = DEFAULT_OPTIONS,
    rows: Sequence[FeatureDict] | None = None,
    name_gram_choices: Sequence[float] = (),
) -> SeverityModel:
    """Fit the pipeline on weighted examples and return the model with its lean scorer and metadata.

    Feedback is simply more examples (``origin="feedback"``) with a larger ``weight``. ``rows`` may hold the
    examples' features already computed with ``options`` (evaluation reuses them across folds). With two or
    more ``name_gram_choices`` (e.g. ``analytics.evaluate.NAME_GRAM_CHOICES``) the value of the alert-name
    4-grams is chosen by grouped cross-validation on these examples, as ``sevbot model evaluate`` does
    inside each training fold; the choice is kept in the model's options.
    """
    import sklearn

    levels = sorted({e.level for e in examples}, key=lambda s: s.rank)
    if len(levels) < 2:
        raise ValueError("training needs examples of at least two severity levels")
    if len(set(name_gram_choices)) > 1:
        candidates = [replace(options, name_grams=v) for v in dict.fromkeys(name_gram_choices)]
        options, _ = select_options(examples, candidates=candidates, seed=seed, c=c)
        rows = None
    if rows is None:
        rows = [alert_features(e.alert, e.context, options=options) for e in examples]
    elif len(rows) != len(examples):
        raise ValueError("rows and examples differ in length")
    y = [e.level.value for e in examples]
    pipeline = fit_pipeline(
        rows, y, weights=[e.weight for e in examples], seed=seed, c=c, class_weight=class_weight
    )
    vectorizer, classifier = pipeline.named_steps["vectorize"], pipeline.named_steps["classify"]
    lean = LeanScorer(
        classes=[Severity(str(c)) for c in classifier.classes_],
        feature_names=[str(n) for n in vectorizer.feature_names_],
        coef=classifier.coef_,
        intercept=classifier.intercept_,
    )
    predicted = lean.proba_batch(rows).argmax(axis=1)
    summary = TrainingSummary(
        n_examples=len(examples),
        n_features=len(lean.feature_names),
        by_level=dict(sorted(Counter(y).items())),
        by_origin=dict(sorted(Counter(e.origin for e in examples).items())),
        seed=seed,
        c=c,
        class_weight=class_weight,
        sklearn_version=sklearn.__version__,
        level_distribution=_shares(lean.classes[i].value for i in predicted),
        feature_share=feature_shares(rows, top=_SUMMARY_FEATURES),
    )
    logger.info("severity model trained", extra={"examples": len(examples), "features": summary.n_features})
    return SeverityModel(
        lean=lean, options=options, summary=summary, version=model_version(lean), pipeline=pipeline
    )


def _shares(items: Iterable[str]) -> dict[str, float]:
    counts = Counter(items)
    total = sum(counts.values()) or 1
    return {key: counts[key] / total for key in sorted(counts)}


def feature_shares(rows: Sequence[Mapping[str, float]], *, top: int | None = None) -> dict[str, float]:
    """Share of rows that carry each feature (the ``top`` commonest when given)."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(row.keys())
    total = len(rows) or 1
    common = counts.most_common(top)
    return {name: count / total for name, count in common}


def train_default_model(*, seed: int = 0) -> SeverityModel:
    """The bundled model: trained from sevbot's own catalogue of alert archetypes (a few seconds)."""
    from analytics.catalogue import catalogue_examples

    return train_model(catalogue_examples(seed=seed), seed=seed)


def training_set(
    *,
    rules: Sequence[TrainingExample] = (),
    feedback: Sequence[TrainingExample] = (),
    include_catalogue: bool = True,
    seed: int = 0,
) -> list[TrainingExample]:
    """What ``sevbot model train`` fits: the catalogue, a team's rule files, and people's corrections."""
    from analytics.catalogue import catalogue_examples

    base = catalogue_examples(seed=seed) if include_catalogue else []
    return [*base, *rules, *feedback]


def select_options(
    examples: Sequence[TrainingExample],
    *,
    candidates: Sequence[FeatureOptions],
    folds: int = INNER_FOLDS,
    seed: int = 0,
    c: float = DEFAULT_C,
    extra_training: Sequence[TrainingExample] = (),
    rows: Mapping[FeatureOptions, Sequence[FeatureDict]] | None = None,
) -> tuple[FeatureOptions, dict[FeatureOptions, float]]:
    """Pick feature options by grouped cross-validation on the given (training) examples alone.

    Returns the candidate with the best out-of-fold macro-F1 (ties go to the earlier candidate) and every
    candidate's score. ``rows`` may hold precomputed features per candidate, aligned with ``examples``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.array([e.group or f"row-{i}" for i, e in enumerate(examples)])
    y = np.array([e.level.value for e in examples])
    folds = min(folds, len(set(groups.tolist())))
    if len(candidates) == 1 or folds < 2:
        return candidates[0], {}
    splits = list(
        StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(
            np.zeros(len(y)), y, groups
        )
    )
    extra_y = [e.level.value for e in extra_training]
    extra_w = [e.weight for e in extra_training]
    scores: dict[FeatureOptions, float] = {}
    for options in candidates:
        features = (
            rows[options]
            if rows is not None
            else [alert_features(e.alert, e.context, options=options) for e in examples]
        )
        extra_rows = [alert_features(e.alert, e.context, options=options) for e in extra_training]
        pred = np.empty(len(y), dtype=object)
        for train_idx, test_idx in splits:
            if len(set(y[train_idx].tolist())) < 2:
                pred[test_idx] = y[train_idx][0]
                continue
            pipeline = fit_pipeline(
                [features[i] for i in train_idx] + extra_rows,
                [*y[train_idx].tolist(), *extra_y],
                weights=[examples[i].weight for i in train_idx] + extra_w,
                seed=seed,
                c=c,
            )
            pred[test_idx] = pipeline.predict([features[i] for i in test_idx])
        scores[options] = macro_f1(y.tolist(), pred.astype(str).tolist())
    best = max(candidates, key=lambda o: (scores[o], -candidates.index(o)))
    return best, scores
