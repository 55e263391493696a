"""The severity model: train offline, score in microseconds, explain exactly (pure; I/O in save/load only).

Data flow: training examples ─► :func:`train_model` (``alert_features`` ─► DictVectorizer ─► multinomial
LogisticRegression) ─► :class:`SeverityModel` ─► :class:`ModelScorer` (the ``Scorer`` ingestion calls).

Serving never touches the scikit-learn pipeline: :class:`LeanScorer` holds the fitted vocabulary, coefficient
matrix and intercepts and computes the same logits with a gather and a dot product, then the same softmax
(equal to ``Pipeline.predict_proba`` within 1e-9). A logit is a sum of per-feature terms
(coefficient × value) plus an intercept, so :meth:`SeverityModel.explain` returns contributions that add up
to the decision score exactly. Models are saved as JSON (vocabulary, coefficients, metadata): loading runs
no code, and floats round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.explain import TOP_REASONS, Contribution, Explanation, describe_feature
from analytics.features import FeatureDict, FeatureOptions, alert_features
from analytics.records import AlertRecord, Severity
from analytics.scoring import Reason, Score, ScoringContext


@dataclass(frozen=True, slots=True)
class TrainingSummary:
    """What a model was trained on; ``level_distribution`` and ``feature_share`` are drift baselines."""

    n_examples: int
    n_features: int
    by_level: Mapping[str, int]
    by_origin: Mapping[str, int]
    seed: int
    c: float
    class_weight: str | None
    sklearn_version: str
    level_distribution: Mapping[str, float]  # share of each predicted level over the training examples
    feature_share: Mapping[str, float]  # share of training examples carrying each of the commonest features


class LeanScorer:
    """Logits and probabilities from a fitted multinomial logistic regression, without scikit-learn.

    ``weights`` has one row per feature, then a row holding the intercepts (its value is always 1) and a row
    of zeros that unknown features point to, so a logit is ``values @ weights[indices]``: the same terms
    scikit-learn sums.
    """

    __slots__ = ("classes", "feature_names", "intercept_index", "unknown_index", "vocabulary", "weights")

    def __init__(
        self,
        *,
        classes: Sequence[Severity],
        feature_names: Sequence[str],
        coef: NDArray[np.float64],
        intercept: NDArray[np.float64],
    ) -> None:
        coef = np.asarray(coef, dtype=np.float64)
        intercept = np.asarray(intercept, dtype=np.float64)
        if coef.shape[0] == 1 and len(classes) == 2:
            # Binary logistic regression: p(second) = sigmoid(z) = softmax([-z/2, z/2])[1].
            coef = np.vstack([-coef[0] / 2.0, coef[0] / 2.0])
            intercept = np.array([-intercept[0] / 2.0, intercept[0] / 2.0])
        if coef.shape != (len(classes), len(feature_names)):
            raise ValueError("coefficient matrix does not match classes and feature names")
        self.classes: tuple[Severity, ...] = tuple(classes)
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self.vocabulary: dict[str, int] = {name: i for i, name in enumerate(self.feature_names)}
        self.intercept_index = len(self.feature_names)
        self.unknown_index = self.intercept_index + 1
        zeros = np.zeros((1, len(self.classes)))
        self.weights: NDArray[np.float64] = np.ascontiguousarray(
            np.vstack([coef.T, intercept[None, :], zeros])
        )

    @property
    def coef(self) -> NDArray[np.float64]:
        return np.ascontiguousarray(self.weights[: self.intercept_index].T)

    @property
    def intercept(self) -> NDArray[np.float64]:
        return np.array(self.weights[self.intercept_index])

    def lookup(self, features: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Row indices (unknown features on the zero row) and values, the intercept row last."""
        get, unknown = self.vocabulary.get, self.unknown_index
        indices = [get(name, unknown) for name in features]
        indices.append(self.intercept_index)
        values = list(features.values())
        values.append(1.0)
        return indices, values

    def encode(self, features: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Known feature indices and values, plus the intercept row (unknown features carry no weight)."""
        get = self.vocabulary.get
        pairs = zip(map(get, features), features.values(), strict=True)
        known = [(j, value) for j, value in pairs if j is not None]
        indices = [j for j, _ in known]
        values = [value for _, value in known]
        indices.append(self.intercept_index)
        values.append(1.0)
        return indices, values

    def decision(self, features: Mapping[str, float]) -> NDArray[np.float64]:
        """Logits, one per class (``decision_function`` of the fitted pipeline)."""
        indices, values = self.lookup(features)
        logits: NDArray[np.float64] = np.array(values) @ self.weights[indices]
        return logits

    def proba(self, features: Mapping[str, float]) -> NDArray[np.float64]:
        proba: NDArray[np.float64] = _softmax(self.decision(features)[None, :])[0]
        return proba

    def decision_batch(self, batch: Sequence[Mapping[str, float]]) -> NDArray[np.float64]:
        """Logits for many feature dicts at once: one gather, one multiply, one segmented sum."""
        all_indices: list[int] = []
        all_values: list[float] = []
        starts = np.empty(len(batch), dtype=np.intp)
        for row, features in enumerate(batch):
            starts[row] = len(all_indices)
            indices, values = self.lookup(features)
            all_indices.extend(indices)
            all_values.extend(values)
        if not batch:
            return np.zeros((0, len(self.classes)))
        terms = self.weights[all_indices] * np.array(all_values)[:, None]
        return np.asarray(np.add.reduceat(terms, starts, axis=0), dtype=np.float64)

    def proba_batch(self, batch: Sequence[Mapping[str, float]]) -> NDArray[np.float64]:
        return _softmax(self.decision_batch(batch))


def _softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class SeverityModel:
    """A trained model: lean parameters, feature options, metadata, and the sklearn pipeline when fresh."""

    lean: LeanScorer
    options: FeatureOptions
    summary: TrainingSummary
    version: str
    pipeline: Any = field(default=None, compare=False, repr=False)  # sklearn Pipeline; None after load

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.lean.feature_names

    def features(self, alert: AlertRecord, context: ScoringContext | None = None) -> FeatureDict:
        return alert_features(alert, context, options=self.options)

    def probabilities(
        self, alert: AlertRecord, context: ScoringContext | None = None
    ) -> dict[Severity, float]:
        proba = self.lean.proba(self.features(alert, context))
        return _by_severity(self.lean.classes, proba)

    def explain(
        self, alert: AlertRecord, context: ScoringContext | None = None, *, level: Severity | None = None
    ) -> Explanation:
        """Every feature's contribution to the logit of ``level`` (default: the most probable level)."""
        features = self.features(alert, context)
        logits = self.lean.decision(features)
        k = int(np.argmax(logits)) if level is None else self.lean.classes.index(level)
        indices, values = self.lean.encode(features)
        names = self.lean.feature_names
        contributions = [
            Contribution(
                feature=names[j],
                value=v,
                weight=float(self.lean.weights[j, k] * v),
                text=describe_feature(names[j], v, alert, context),
            )
            for j, v in zip(indices[:-1], values[:-1], strict=True)
        ]
        contributions.sort(key=lambda c: -abs(c.weight))
        proba = _softmax(logits[None, :])[0]
        return Explanation(
            level=self.lean.classes[k],
            score=float(logits[k]),
            intercept=float(self.lean.weights[self.lean.intercept_index, k]),
            contributions=tuple(contributions),
            probabilities=_by_severity(self.lean.classes, proba),
        )

    def scorer(self) -> ModelScorer:
        return ModelScorer(self)


_LEVELS = tuple(Severity)  # iterating an Enum class is slow enough to matter on the request path


def _by_severity(classes: Sequence[Severity], proba: NDArray[np.float64]) -> dict[Severity, float]:
    out = dict.fromkeys(_LEVELS, 0.0)
    for severity, p in zip(classes, proba.tolist(), strict=True):  # tolist: Python floats in one call
        out[severity] = p
    return out


class ModelScorer:
    """The :class:`~analytics.scoring.Scorer` ingestion calls: level, probabilities, and exact reasons.

    The reasons are the largest contributions to the chosen level's logit, the intercept ("base rate"), and
    the sum of the rest ("N other signals"), so their weights add up to the logit.
    """

    def __init__(self, model: SeverityModel, *, top_reasons: int = TOP_REASONS) -> None:
        self.model = model
        self.top_reasons = top_reasons

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        # The request path: one small matrix product over the alert's known features, then plain Python
        # over a few dozen floats (cheaper than more numpy calls on arrays this small).
        lean = self.model.lean
        features = self.model.features(alert, context)
        indices, values = lean.encode(features)  # known features, then the intercept row
        terms = lean.weights[indices] * np.array(values)[:, None]
        logits = terms.sum(axis=0)
        proba = _softmax(logits[None, :])[0]
        k = int(np.argmax(logits))
        level = lean.classes[k]
        column: list[float] = terms[:-1, k].tolist()
        magnitude = [-abs(c) for c in column]
        order = sorted(range(len(column)), key=magnitude.__getitem__)[: self.top_reasons]  # stable
        shown = [i for i in order if column[i] != 0.0]
        names = lean.feature_names
        reasons = [
            Reason(describe_feature(names[indices[i]], values[i], alert, context), column[i]) for i in shown
        ]
        if len(column) > len(shown):
            hidden = set(shown)
            remainder = math.fsum(c for i, c in enumerate(column) if i not in hidden)
            reasons.append(Reason(f"{len(column) - len(shown)} other signals", remainder))
        reasons.append(Reason(f"base rate for {level}", float(terms[-1, k])))
        return Score(
            level=level,
            probabilities=_by_severity(lean.classes, proba),
            reasons=tuple(reasons),
            model_version=self.model.version,
        )

    def score_batch(self, items: Sequence[tuple[AlertRecord, ScoringContext]]) -> list[dict[Severity, float]]:
        """Probabilities for many alerts (no reasons): the throughput path for replays and evaluation."""
        batch = [self.model.features(alert, context) for alert, context in items]
        proba = self.model.lean.proba_batch(batch)
        return [_by_severity(self.model.lean.classes, row) for row in proba]


def model_version(lean: LeanScorer) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([c.value for c in lean.classes]).encode())
    digest.update("\n".join(lean.feature_names).encode())
    digest.update(lean.weights.tobytes())
    return f"sevlr-{digest.hexdigest()[:12]}"
