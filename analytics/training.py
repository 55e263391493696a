"""Training a team's content model: the baseline, the feature model and their blends, chosen by CV (pure).

Data flow: a team's rule examples (+ corrections) ─► :func:`train_team_model` ─► ``SeverityModel``.

Three models are fitted on the team's examples, none of them sees the severity word (it is the target):

* **text**: TF-IDF over name words, summary and description with a balanced logistic regression (C=1):
  exactly the baseline ``analytics.evaluate`` compares against, so the baseline itself is a candidate;
* **features**: ``alert_features`` (words, labels, PromQL, ``for``) with a balanced logistic regression;
* **features + prior**: the same, plus the bundled model's urgency for the alert as one more input (what
  published rules of other organisations say; its weight per level is learned from the team's rules).

The served model is ``α · features-model logits + (1 − α) · text logits`` with α in :data:`BLEND_WEIGHTS`,
and the feature model with or without the prior, whichever has the best macro-F1 out of fold in an inner
grouped cross-validation on the training examples alone (ties go to the smaller α, towards the baseline:
α = 0 *is* the baseline). With fewer than :data:`MIN_GROUPS_TO_CHOOSE` rule groups there is no choice to
make reliably, and the baseline serves. All three are linear in their features, so the blend is one
linear map over the union of their features (the prior folded into its own features' coefficients):
exact per-feature terms and one gather-and-dot at serving.

Monotone words: a feature that is the word "critical", "prod" or "production" (in the name, the text or
the query) must never push towards a less urgent level. After fitting, each such feature's coefficients
are projected onto non-increasing ones from SEV1 to SEV4 (pool-adjacent-violators on at most four values).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.examples import TrainingExample
from analytics.features import DEFAULT_OPTIONS, FeatureDict, FeatureOptions, alert_features
from analytics.model import (
    SOFTMAX,
    URGENCY,
    ContentModel,
    LeanScorer,
    SeverityModel,
    TrainingSummary,
    model_version,
)
from analytics.records import AlertRecord
from analytics.text import FIXED_WORDS
from analytics.tfidf import TOKEN_PREFIX, TextView, alert_text

logger = logging.getLogger(__name__)

DEFAULT_C = 1.0
INNER_FOLDS = 3
# Below this many rule groups the inner cross-validation cannot tell the candidates apart (three folds of
# two or three groups each): the baseline serves. On thanos's 8 groups (6–7 per outer training fold) the
# inner choice cost −0.022 macro-F1 on every seed; the baseline cannot lose to itself.
MIN_GROUPS_TO_CHOOSE = 10
# Weight of the feature model in the blend; 0 is the text baseline alone. Fixed before looking at any data.
BLEND_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
MONOTONE_WORDS = FIXED_WORDS
PRIOR_FEATURE = "prior:urgency"
# The prior enters centred on the SEV2/SEV3 edge, so that its intercept part is small.
PRIOR_CENTRE = 2.5
_SUMMARY_FEATURES = 40
_WORD_FAMILIES = ("name", "text", "topic", "mword", "tok")


def macro_f1(y: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the levels present in ``y`` (levels only predicted count as errors, not classes)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(y))
    return float(f1_score(list(y), list(pred), labels=labels, average="macro", zero_division=0))


def fit_feature_pipeline(
    rows: Sequence[Mapping[str, float]],
    y: Sequence[Any],
    *,
    weights: Sequence[float] | None = None,
    seed: int = 0,
    c: float = DEFAULT_C,
    class_weight: str | None = "balanced",
    positive_is_urgent: bool = False,
) -> Any:
    """DictVectorizer ─► LogisticRegression on feature dicts, monotone words projected (see the docstring).

    Newton-CG reaches the same optimum as lbfgs here in a fraction of the time, which is what makes
    choosing inside each training fold affordable. ``positive_is_urgent``: for 0/1 targets where 1 is the
    urgent side (severity levels sort most urgent first, so there the second class is the less urgent).
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
    names = [str(n) for n in pipeline.named_steps["vectorize"].feature_names_]
    _project_fitted(pipeline.named_steps["classify"], names, binary_positive_is_urgent=positive_is_urgent)
    return pipeline


def fit_text_pipeline(
    texts: Sequence[str], y: Sequence[Any], *, weights: Sequence[float] | None = None, seed: int = 0
) -> Any:
    """TF-IDF ─► LogisticRegression (C=1, balanced): the evaluation's baseline, built the same way (with
    the monotone words projected, as every served model)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(
        TfidfVectorizer(),
        LogisticRegression(C=DEFAULT_C, class_weight="balanced", max_iter=5000, random_state=seed),
    )
    sample_weight = None if weights is None else np.asarray(weights, dtype=np.float64)
    pipeline.fit(list(texts), list(y), logisticregression__sample_weight=sample_weight)
    vectorizer, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    names = [TOKEN_PREFIX + str(t) for t in vectorizer.get_feature_names_out()]
    _project_fitted(classifier, names, binary_positive_is_urgent=False)
    return pipeline


def _columns(coef: NDArray[np.float64], intercept: NDArray[np.float64], n_classes: int) -> tuple[Any, Any]:
    """A binary regression's one row as two columns (−z/2, z/2): the same softmax, one logit per class."""
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if coef.shape[0] == 1 and n_classes == 2:
        return np.vstack([-coef[0] / 2.0, coef[0] / 2.0]), np.array([-intercept[0] / 2.0, intercept[0] / 2.0])
    return coef, intercept


def _decision_columns(scores: NDArray[np.float64], n_classes: int) -> NDArray[np.float64]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1 and n_classes == 2:
        return np.stack([-scores / 2.0, scores / 2.0], axis=1)
    return scores


def is_monotone_feature(name: str) -> bool:
    """True for one of :data:`MONOTONE_WORDS` as a word of the alert, and for the prior's urgency."""
    if name == PRIOR_FEATURE:
        return True
    family, _, rest = name.partition(":")
    return family in _WORD_FAMILIES and rest in MONOTONE_WORDS


def non_increasing(values: Sequence[float]) -> list[float]:
    """The closest non-increasing sequence in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for v in values:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    out: list[float] = []
    for total, count in blocks:
        out.extend([total / count] * int(count))
    return out


def project_monotone(
    feature_names: Sequence[str], coef: NDArray[np.float64], *, binary_positive_is_urgent: bool
) -> NDArray[np.float64]:
    """Coefficients with every monotone feature made monotone (rows: classes, most urgent first).

    One row (a binary regression) is a single direction: clipped at zero on the side that would make the
    feature point away from urgency (``binary_positive_is_urgent`` says which side that is).
    """
    coef = np.array(coef, dtype=np.float64, copy=True)
    for j, name in enumerate(feature_names):
        if not is_monotone_feature(name):
            continue
        if coef.shape[0] == 1:
            coef[0, j] = max(coef[0, j], 0.0) if binary_positive_is_urgent else min(coef[0, j], 0.0)
        else:
            coef[:, j] = non_increasing(coef[:, j].tolist())
    return coef


def _project_fitted(
    classifier: Any, feature_names: Sequence[str], *, binary_positive_is_urgent: bool
) -> None:
    """Make a fitted LogisticRegression monotone in place, so scikit-learn and serving compute one model."""
    classifier.coef_ = project_monotone(
        feature_names, classifier.coef_, binary_positive_is_urgent=binary_positive_is_urgent
    )


@dataclass(frozen=True)
class ReferenceModel:
    """The content scores computed with the fitted scikit-learn estimators, to check the lean path against.

    ``decision(alerts)`` = ``alpha`` · features pipeline (with the prior's urgency as an input when used) +
    (1 − ``alpha``) · text pipeline, as columns one per class.
    """

    alpha: float
    n_classes: int
    features: Any = None
    text: Any = None
    prior: ContentModel | None = None
    options: FeatureOptions = DEFAULT_OPTIONS

    def decision(self, alerts: Sequence[AlertRecord]) -> NDArray[np.float64]:
        total = np.zeros((len(alerts), self.n_classes))
        if self.alpha > 0:
            rows = [feature_row(a, options=self.options, prior=self.prior) for a in alerts]
            total += self.alpha * _decision_columns(self.features.decision_function(rows), self.n_classes)
        if self.alpha < 1:
            texts = [alert_text(a) for a in alerts]
            total += (1 - self.alpha) * _decision_columns(self.text.decision_function(texts), self.n_classes)
        return total


def feature_row(alert: AlertRecord, *, options: FeatureOptions, prior: ContentModel | None) -> FeatureDict:
    """The feature model's input: ``alert_features``, plus the prior's centred urgency when there is one."""
    row = alert_features(alert, options=options)
    if prior is not None:
        row[PRIOR_FEATURE] = (
            float(prior.lean.decision(alert_features(alert, options=prior.options))[0]) - PRIOR_CENTRE
        )
    return row


def usable_prior(prior: ContentModel | None, options: FeatureOptions) -> ContentModel | None:
    """The prior when it can be folded into a feature model with ``options`` (an urgency over features)."""
    if prior is None or prior.kind != URGENCY or prior.text is not None or not prior.reads_features:
        return None
    return prior if prior.options == options else None


@dataclass(frozen=True, slots=True)
class Choice:
    """What the inner cross-validation chose, and every candidate's out-of-fold macro-F1."""

    alpha: float
    with_prior: bool
    scores: Mapping[str, float]

    @property
    def name(self) -> str:
        if self.alpha == 0.0:
            return "text baseline"
        model = "features + prior" if self.with_prior else "features"
        return model if self.alpha == 1.0 else f"{self.alpha:g} · {model} + {1 - self.alpha:g} · text"


def _candidate_key(alpha: float, with_prior: bool) -> str:
    return f"alpha={alpha:g}" + (",prior" if with_prior and alpha > 0 else "")


def choose_blend(
    examples: Sequence[TrainingExample],
    *,
    prior: ContentModel | None,
    options: FeatureOptions = DEFAULT_OPTIONS,
    folds: int = INNER_FOLDS,
    seed: int = 0,
    c: float = DEFAULT_C,
) -> Choice:
    """Grouped cross-validation on ``examples`` alone: out-of-fold logits of each model, then every blend."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.array([e.group or f"row-{i}" for i, e in enumerate(examples)])
    y = np.array([e.level.value for e in examples])
    weights = np.array([e.weight for e in examples])
    classes = sorted(set(y.tolist()))
    n_groups = len(set(groups.tolist()))
    folds = min(folds, n_groups)
    if folds < 2 or n_groups < MIN_GROUPS_TO_CHOOSE:
        return Choice(alpha=0.0, with_prior=False, scores={})
    splits = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(
        np.zeros(len(y)), y, groups
    )
    prior = usable_prior(prior, options)
    plain = [alert_features(e.alert, options=options) for e in examples]
    with_prior = [feature_row(e.alert, options=options, prior=prior) for e in examples] if prior else None
    texts = [alert_text(e.alert) for e in examples]
    n = len(classes)
    oof = {name: np.zeros((len(y), n)) for name in ("features", "prior", "text")}
    for train_idx, test_idx in splits:
        train_classes = sorted(set(y[train_idx].tolist()))
        positions = [classes.index(k) for k in train_classes]
        if len(train_classes) < 2:
            for block in oof.values():
                block[np.ix_(test_idx, positions)] = 1.0
            continue
        y_train, w_train = y[train_idx].tolist(), weights[train_idx].tolist()
        inputs: list[tuple[str, Any]] = [("features", plain), ("text", texts)]
        if with_prior is not None:
            inputs.append(("prior", with_prior))
        for name, data in inputs:
            train = [data[i] for i in train_idx]
            test = [data[i] for i in test_idx]
            if name == "text":
                model = fit_text_pipeline(train, y_train, weights=w_train, seed=seed)
            else:
                model = fit_feature_pipeline(train, y_train, weights=w_train, seed=seed, c=c)
            scores = _decision_columns(model.decision_function(test), len(train_classes))
            block = np.full((len(test_idx), n), -1e9)  # a level missing from this training fold: never chosen
            block[:, positions] = scores
            oof[name][test_idx] = block
    results: dict[str, float] = {}
    best: tuple[float, float, bool] | None = None
    for alpha in BLEND_WEIGHTS:
        for use_prior in (False, True) if with_prior is not None and alpha > 0 else (False,):
            logits = alpha * oof["prior" if use_prior else "features"] + (1 - alpha) * oof["text"]
            if alpha == 0.0:
                logits = oof["text"]
            pred = [classes[k] for k in logits.argmax(axis=1)]
            score = macro_f1(y.tolist(), pred)
            results[_candidate_key(alpha, use_prior)] = score
            if best is None or score > best[0]:  # strictly better: ties stay with the earlier, smaller α
                best = (score, alpha, use_prior)
    assert best is not None
    return Choice(alpha=best[1], with_prior=best[2], scores=results)


def train_team_model(
    examples: Sequence[TrainingExample],
    *,
    prior: ContentModel | None = None,
    seed: int = 0,
    c: float = DEFAULT_C,
    options: FeatureOptions | None = None,
    choice: Choice | None = None,
) -> SeverityModel:
    """The team's content model: the blend :func:`choose_blend` picks (or ``choice``), fitted on all examples.

    Feedback is simply more examples (``origin="feedback"``) with a larger ``weight``. The feature model
    reads the alert with the prior's feature options (so the prior folds into it), else the defaults.
    """
    if options is None:
        options = prior.options if prior is not None else DEFAULT_OPTIONS

    levels = sorted({e.level for e in examples}, key=lambda s: s.rank)
    if len(levels) < 2:
        raise ValueError("training needs examples of at least two severity levels")
    if choice is None:
        choice = choose_blend(examples, prior=prior, options=options, seed=seed, c=c)
    prior_used = usable_prior(prior, options) if choice.with_prior else None
    y = [e.level.value for e in examples]
    weights = [e.weight for e in examples]
    n = len(levels)
    parts: list[tuple[list[str], NDArray[np.float64], NDArray[np.float64]]] = []
    reference = ReferenceModel(alpha=choice.alpha, n_classes=n, prior=prior_used, options=options)
    text_view: TextView | None = None
    if choice.alpha > 0:
        rows = [feature_row(e.alert, options=options, prior=prior_used) for e in examples]
        pipeline = fit_feature_pipeline(rows, y, weights=weights, seed=seed, c=c)
        names = [str(f) for f in pipeline.named_steps["vectorize"].feature_names_]
        classifier = pipeline.named_steps["classify"]
        coef, intercept = _columns(classifier.coef_, classifier.intercept_, n)
        coef, intercept = coef * choice.alpha, intercept * choice.alpha
        if prior_used is not None:
            names, coef, intercept = _fold_prior(names, coef, intercept, prior_used)
        parts.append((names, coef, intercept))
        reference = ReferenceModel(
            alpha=choice.alpha, n_classes=n, features=pipeline, prior=prior_used, options=options
        )
    if choice.alpha < 1:
        texts = [alert_text(e.alert) for e in examples]
        text_pipeline = fit_text_pipeline(texts, y, weights=weights, seed=seed)
        vectorizer, classifier = text_pipeline.steps[0][1], text_pipeline.steps[1][1]
        text_view = TextView.from_vectorizer(vectorizer)
        coef, intercept = _columns(classifier.coef_, classifier.intercept_, n)
        names = [TOKEN_PREFIX + t for t in text_view.tokens]
        parts.append((names, coef * (1 - choice.alpha), intercept * (1 - choice.alpha)))
        reference = ReferenceModel(
            alpha=choice.alpha,
            n_classes=n,
            features=reference.features,
            text=text_pipeline,
            prior=prior_used,
            options=options,
        )
    names, coef, intercept = _merge(parts, n)
    content = ContentModel(
        kind=SOFTMAX,
        lean=LeanScorer(feature_names=names, coef=coef, intercept=intercept),
        options=options,
        classes=tuple(levels),
        text=text_view,
        reads_features=choice.alpha > 0,
    )
    return _finish(
        content,
        examples,
        seed=seed,
        c=c,
        reference=reference,
        provenance={
            "kind": "team",
            "chosen": choice.name,
            "alpha": choice.alpha,
            "prior": choice.with_prior,
            "inner_macro_f1": dict(choice.scores),
        },
    )


def _fold_prior(
    names: list[str], coef: NDArray[np.float64], intercept: NDArray[np.float64], prior: ContentModel
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """Replace the prior's input column by its own features: a_k · (b + Σ w_j x_j − centre) per class k."""
    j = names.index(PRIOR_FEATURE)
    a = coef[:, j].copy()
    keep = [i for i in range(len(names)) if i != j]
    base_names = [names[i] for i in keep]
    base = coef[:, keep]
    prior_names = list(prior.lean.feature_names)
    prior_coef = a[:, None] * prior.lean.coef[0][None, :]
    intercept = intercept + a * (float(prior.lean.intercept[0]) - PRIOR_CENTRE)
    merged_names, merged, _ = _merge(
        [(base_names, base, np.zeros(len(a))), (prior_names, prior_coef, np.zeros(len(a)))], len(a)
    )
    return merged_names, merged, intercept


def _merge(
    parts: Sequence[tuple[Sequence[str], NDArray[np.float64], NDArray[np.float64]]], n: int
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """Linear maps over different features, added: one map over the union of their features (sorted)."""
    names = sorted({name for part_names, _, _ in parts for name in part_names})
    index = {name: i for i, name in enumerate(names)}
    coef = np.zeros((n, len(names)))
    intercept = np.zeros(n)
    for part_names, part_coef, part_intercept in parts:
        columns = [index[name] for name in part_names]
        coef[:, columns] += part_coef
        intercept += part_intercept
    return names, coef, intercept


def _finish(
    content: ContentModel,
    examples: Sequence[TrainingExample],
    *,
    seed: int,
    c: float,
    reference: Any,
    provenance: Mapping[str, Any],
) -> SeverityModel:
    import sklearn

    rows = [content.features(e.alert) for e in examples]
    summary = TrainingSummary(
        n_examples=len(examples),
        n_features=len(content.lean.feature_names),
        by_level=dict(sorted(Counter(e.level.value for e in examples).items())),
        by_origin=dict(sorted(Counter(e.origin for e in examples).items())),
        seed=seed,
        c=c,
        class_weight="balanced",
        sklearn_version=sklearn.__version__,
        # Alerts from these rules carry their word at serving, so their levels are the words' levels.
        level_distribution=_shares(e.level.value for e in examples),
        feature_share=feature_shares(rows, top=_SUMMARY_FEATURES),
    )
    logger.info("severity model trained", extra={"examples": len(examples), "features": summary.n_features})
    return SeverityModel(
        content=content,
        summary=summary,
        version=model_version(content),
        provenance=dict(provenance),
        reference=reference,
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


def with_summary(
    model: SeverityModel, examples: Sequence[TrainingExample], *, provenance: Mapping[str, Any]
) -> SeverityModel:
    """The same content model, described by (and registered for) other training examples."""
    return _finish(
        model.content,
        examples,
        seed=model.summary.seed,
        c=model.summary.c,
        reference=None,
        provenance=provenance,
    )
