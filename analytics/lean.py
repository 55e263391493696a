"""The serving math: a content model as one linear map over named features, a gather and a dot product
(:class:`LeanScorer`: no scikit-learn at serving time), and what a model was trained on (pure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from analytics.explain import (
    signal_of,
)
from analytics.features import FeatureDict, FeatureOptions, alert_features
from analytics.ladders import Ladders
from analytics.policy import WORD_EDGES
from analytics.records import AlertRecord, Severity
from analytics.tfidf import TextView, alert_text

URGENCY = "urgency"


SOFTMAX = "softmax"


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
    """``k`` linear scores over named features, without scikit-learn.

    ``weights`` has one row per feature, then a row holding the intercepts (its value is always 1) and a row
    of zeros that unknown features point to, so the scores are ``values @ weights[indices]``: the same
    terms scikit-learn sums.
    """

    __slots__ = (
        "base",
        "column",
        "feature_names",
        "intercept_index",
        "signals",
        "unknown_index",
        "vocabulary",
        "weights",
    )

    def __init__(
        self, *, feature_names: Sequence[str], coef: NDArray[np.float64], intercept: NDArray[np.float64]
    ) -> None:
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        if coef.shape != (intercept.shape[0], len(feature_names)):
            raise ValueError("coefficient matrix does not match the intercepts and feature names")
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self.vocabulary: dict[str, int] = {name: i for i, name in enumerate(self.feature_names)}
        self.intercept_index = len(self.feature_names)
        self.unknown_index = self.intercept_index + 1
        zeros = np.zeros((1, intercept.shape[0]))
        self.weights: NDArray[np.float64] = np.ascontiguousarray(
            np.vstack([coef.T, intercept[None, :], zeros])
        )
        # One column (an urgency): its weights by name as Python floats, for the request path.
        single = intercept.shape[0] == 1
        self.column: dict[str, float] = (
            dict(zip(self.feature_names, coef[0].tolist(), strict=True)) if single else {}
        )
        self.base: float = float(intercept[0]) if single else 0.0
        self.signals: dict[str, str] = {name: signal_of(name) for name in self.feature_names}

    @property
    def coef(self) -> NDArray[np.float64]:
        return np.ascontiguousarray(self.weights[: self.intercept_index].T)

    @property
    def intercept(self) -> NDArray[np.float64]:
        return np.array(self.weights[self.intercept_index])

    def encode(self, features: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Known feature indices and values, plus the intercept row (unknown features carry no weight)."""
        get = self.vocabulary.get
        indices: list[int] = []
        values: list[float] = []
        for name, value in features.items():
            j = get(name)
            if j is not None:
                indices.append(j)
                values.append(value)
        indices.append(self.intercept_index)
        values.append(1.0)
        return indices, values

    def decision(self, features: Mapping[str, float]) -> NDArray[np.float64]:
        """The scores, one per column (``decision_function`` of the fitted model)."""
        indices, values = self.encode(features)
        scores: NDArray[np.float64] = np.array(values) @ self.weights[indices]
        return scores

    def decision_batch(self, batch: Sequence[Mapping[str, float]]) -> NDArray[np.float64]:
        """Scores for many feature dicts at once: one gather, one multiply, one segmented sum."""
        if not batch:
            return np.zeros((0, self.weights.shape[1]))
        all_indices: list[int] = []
        all_values: list[float] = []
        starts = np.empty(len(batch), dtype=np.intp)
        for row, features in enumerate(batch):
            starts[row] = len(all_indices)
            indices, values = self.encode(features)
            all_indices.extend(indices)
            all_values.extend(values)
        terms = self.weights[all_indices] * np.array(all_values)[:, None]
        return np.asarray(np.add.reduceat(terms, starts, axis=0), dtype=np.float64)


def softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float64)


LEVELS = tuple(Severity)  # iterating an Enum class is slow enough to matter on the request path


@dataclass(frozen=True)
class ContentModel:
    """What an alert's name, text, labels and PromQL say about its level, as one linear map.

    ``kind`` ``"urgency"``: one column, an urgency in levels, read through ``edges`` (lower edges of SEV1,
    SEV2 and SEV3) with ``sharpness`` logits per level for the probabilities. ``kind`` ``"softmax"``: one
    column per class in ``classes`` (most urgent first). ``text`` is the TF-IDF view when the map reads
    ``tok:`` features; ``reads_features`` is False for a text-only model (no ``alert_features`` needed).
    ``ladders``: the team's rules of one name at several thresholds (``analytics.ladders``), when the map
    reads ``ladder:`` features.
    """

    kind: str
    lean: LeanScorer
    options: FeatureOptions = field(default_factory=FeatureOptions)
    classes: tuple[Severity, ...] = ()
    edges: tuple[float, float, float] = WORD_EDGES
    sharpness: float = 1.0
    text: TextView | None = None
    reads_features: bool = True
    ladders: Ladders | None = None

    def features(self, alert: AlertRecord) -> FeatureDict:
        out: FeatureDict = alert_features(alert, options=self.options) if self.reads_features else {}
        if self.ladders:
            out.update(self.ladders.features(alert))
        if self.text is not None:
            out.update(self.text.features(alert_text(alert)))
        return out

    def decision(self, alert: AlertRecord) -> NDArray[np.float64]:
        return self.lean.decision(self.features(alert))

    def levels(self, alerts: Sequence[AlertRecord]) -> list[Severity]:
        """The content model's level for each alert, as if none carried a severity word."""
        from analytics.policy import band

        scores = self.lean.decision_batch([self.features(a) for a in alerts])
        if self.kind == URGENCY:
            return [band(float(u), self.edges) for u in scores[:, 0]]
        return [self.classes[int(k)] for k in scores.argmax(axis=1)]


def by_severity(classes: Sequence[Severity], proba: NDArray[np.float64]) -> dict[Severity, float]:
    out = dict.fromkeys(LEVELS, 0.0)
    for severity, p in zip(classes, proba.tolist(), strict=True):  # tolist: Python floats in one call
        out[severity] = p
    return out
