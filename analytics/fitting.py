"""Fitting the team model's parts: feature and text pipelines, monotone coefficients, the folded prior (pure).

What :mod:`analytics.training` chooses between; :class:`ReferenceModel` keeps the fitted scikit-learn
estimators so tests can prove the lean serving path equal to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.features import DEFAULT_OPTIONS, FeatureDict, FeatureOptions, alert_features
from analytics.ladders import BOTTOM, TOP, Ladders, rung_values
from analytics.lean import URGENCY, ContentModel
from analytics.paging import NO_RULE, PageRule
from analytics.records import AlertRecord
from analytics.text import FIXED_WORDS
from analytics.tfidf import TOKEN_PREFIX, alert_text

DEFAULT_C = 1.0


MONOTONE_WORDS = FIXED_WORDS


PRIOR_FEATURE = "prior:urgency"


# The prior enters centred on the SEV2/SEV3 edge, so that its intercept part is small.
PRIOR_CENTRE = 2.5


WORD_FAMILIES = ("name", "text", "topic", "mword", "tok")


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
    project_fitted(pipeline.named_steps["classify"], names, binary_positive_is_urgent=positive_is_urgent)
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
    project_fitted(classifier, names, binary_positive_is_urgent=False)
    return pipeline


def columns(coef: NDArray[np.float64], intercept: NDArray[np.float64], n_classes: int) -> tuple[Any, Any]:
    """A binary regression's one row as two columns (−z/2, z/2): the same softmax, one logit per class."""
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if coef.shape[0] == 1 and n_classes == 2:
        return np.vstack([-coef[0] / 2.0, coef[0] / 2.0]), np.array([-intercept[0] / 2.0, intercept[0] / 2.0])
    return coef, intercept


def decision_columns(scores: NDArray[np.float64], n_classes: int) -> NDArray[np.float64]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1 and n_classes == 2:
        return np.stack([-scores / 2.0, scores / 2.0], axis=1)
    return scores


def is_monotone_feature(name: str) -> bool:
    """True for one of :data:`MONOTONE_WORDS` as a word of the alert, the prior's urgency and the top rung
    of a ladder (``analytics.ladders``): features that may only push towards a more urgent level."""
    if name in (PRIOR_FEATURE, TOP):
        return True
    family, _, rest = name.partition(":")
    return family in WORD_FAMILIES and rest in MONOTONE_WORDS


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
        # The bottom rung of a ladder may only push towards a less urgent level: the same, sign flipped.
        sign = 1.0 if is_monotone_feature(name) else -1.0 if name == BOTTOM else 0.0
        if not sign:
            continue
        if coef.shape[0] == 1:
            urgent = coef[0, j] if binary_positive_is_urgent else -coef[0, j]
            coef[0, j] = coef[0, j] if sign * urgent >= 0 else 0.0
        else:
            coef[:, j] = sign * np.array(non_increasing((sign * coef[:, j]).tolist()))
    return coef


def project_fitted(classifier: Any, feature_names: Sequence[str], *, binary_positive_is_urgent: bool) -> None:
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
    page: PageRule = NO_RULE  # added to the page levels' columns (``pages``): see analytics.paging
    page_prior: ContentModel | None = None
    pages: tuple[bool, ...] = ()
    ladders: Ladders | None = None
    ladder_step: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # paging.ladder_columns

    def decision(self, alerts: Sequence[AlertRecord]) -> NDArray[np.float64]:
        total = np.zeros((len(alerts), self.n_classes))
        if self.page.active:
            term = np.full(len(alerts), self.page.shift)
            if self.page_prior is not None:
                term += self.page.prior_weight * np.array([prior_urgency(a, self.page_prior) for a in alerts])
            total[:, np.array(self.pages, dtype=bool)] += term[:, None]
        if self.page.ladder:
            rungs = rung_values(self.ladders, alerts)
            total += self.page.ladder * rungs[:, None] * self.ladder_step[None, :]
        if self.alpha > 0:
            rows = [
                feature_row(a, options=self.options, prior=self.prior, ladders=self.ladders) for a in alerts
            ]
            total += self.alpha * decision_columns(self.features.decision_function(rows), self.n_classes)
        if self.alpha < 1:
            texts = [alert_text(a) for a in alerts]
            total += (1 - self.alpha) * decision_columns(self.text.decision_function(texts), self.n_classes)
        return total


def feature_row(
    alert: AlertRecord, *, options: FeatureOptions, prior: ContentModel | None, ladders: Ladders | None = None
) -> FeatureDict:
    """The feature model's input: ``alert_features`` and the alert's ladder rung (``analytics.ladders``),
    plus the prior's centred urgency when there is one."""
    row = alert_features(alert, options=options)
    if ladders:
        row.update(ladders.features(alert))
    if prior is not None:
        row[PRIOR_FEATURE] = prior_urgency(alert, prior)
    return row


def prior_urgency(alert: AlertRecord, prior: ContentModel) -> float:
    """The bundled model's urgency for the alert, centred on the SEV2/SEV3 edge."""
    return float(prior.lean.decision(alert_features(alert, options=prior.options))[0]) - PRIOR_CENTRE


def usable_prior(prior: ContentModel | None, options: FeatureOptions) -> ContentModel | None:
    """The prior when it can be folded into a feature model with ``options`` (an urgency over features)."""
    if prior is None or prior.kind != URGENCY or prior.text is not None or not prior.reads_features:
        return None
    return prior if prior.options == options else None
