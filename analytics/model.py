"""The severity model at serving time: word and context as urgency, a content model, exact reasons (pure).

Data flow: ``AlertRecord`` + ``ScoringContext`` ─► :class:`ModelScorer` ─► ``Score`` (level, probabilities,
reasons that add up to the score). Two paths:

* **The source gave a severity word** that ``map_severity`` knows: the urgency starts at that level
  (``analytics.policy``) and only the context moves it, by one level at most without team data. This is
  how every alert with a word is scored, by the bundled model and by a team's model alike: the word is a
  person's decision, and a team's rule files are exactly those decisions.
* **No word** (or one nobody knows): a :class:`ContentModel` reads name, text, labels and PromQL. Its kind
  is ``"urgency"`` (the bundled model: one linear score in levels, so the context adds to it on the same
  scale) or ``"softmax"`` (a team's model: multinomial logits over the levels its rules use; it may be the
  TF-IDF baseline itself, the feature model, or a blend of the two, as cross-validation chose).

Both kinds are one linear map over named features (:class:`LeanScorer`: a gather and a dot product, no
scikit-learn), so every term is one feature's coefficient × value and the explanation is exact. Terms are
added up per signal (``analytics.explain.signal_of``) so that no signal is shown twice.
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

from analytics.explain import (
    OTHERS,
    TOP_REASONS,
    Contribution,
    Explanation,
    describe_signal,
    merge_signals,
    signal_of,
    top_signals,
)
from analytics.features import FeatureDict, FeatureOptions, alert_features
from analytics.policy import WORD_EDGES, WORD_SHARPNESS, Term, settle, word_terms
from analytics.records import AlertRecord, Severity
from analytics.scoring import Reason, Score, ScoringContext, map_severity, source_severity
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


_LEVELS = tuple(Severity)  # iterating an Enum class is slow enough to matter on the request path


@dataclass(frozen=True)
class ContentModel:
    """What an alert's name, text, labels and PromQL say about its level, as one linear map.

    ``kind`` ``"urgency"``: one column, an urgency in levels, read through ``edges`` (lower edges of SEV1,
    SEV2 and SEV3) with ``sharpness`` logits per level for the probabilities. ``kind`` ``"softmax"``: one
    column per class in ``classes`` (most urgent first). ``text`` is the TF-IDF view when the map reads
    ``tok:`` features; ``reads_features`` is False for a text-only model (no ``alert_features`` needed).
    """

    kind: str
    lean: LeanScorer
    options: FeatureOptions = field(default_factory=FeatureOptions)
    classes: tuple[Severity, ...] = ()
    edges: tuple[float, float, float] = WORD_EDGES
    sharpness: float = 1.0
    text: TextView | None = None
    reads_features: bool = True

    def features(self, alert: AlertRecord) -> FeatureDict:
        out: FeatureDict = alert_features(alert, options=self.options) if self.reads_features else {}
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


@dataclass(frozen=True)
class SeverityModel:
    """A servable model: its content model, metadata, and (fresh from training) a scikit-learn reference.

    ``reference`` computes the content model's scores with the fitted scikit-learn estimators (see
    ``analytics.training``); it is None after loading, and serving never uses it.
    """

    content: ContentModel
    summary: TrainingSummary
    version: str
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False)
    reference: Any = field(default=None, compare=False, repr=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.content.lean.feature_names

    def features(self, alert: AlertRecord) -> FeatureDict:
        return self.content.features(alert)

    def explain(self, alert: AlertRecord, context: ScoringContext | None = None) -> Explanation:
        """Every signal's contribution to the score that set the level (see the module docstring)."""
        return _explain(self, alert, context or ScoringContext(), top=None)

    def probabilities(
        self, alert: AlertRecord, context: ScoringContext | None = None
    ) -> dict[Severity, float]:
        return dict(self.explain(alert, context).probabilities)

    def scorer(self) -> ModelScorer:
        return ModelScorer(self)


def _by_severity(classes: Sequence[Severity], proba: NDArray[np.float64]) -> dict[Severity, float]:
    out = dict.fromkeys(_LEVELS, 0.0)
    for severity, p in zip(classes, proba.tolist(), strict=True):  # tolist: Python floats in one call
        out[severity] = p
    return out


def _context_contributions(terms: Sequence[Term]) -> list[Contribution]:
    return [Contribution(feature=t.signal, value=1.0, weight=t.weight, text=t.text) for t in terms]


@dataclass(frozen=True, slots=True)
class _Terms:
    """The content model's terms for one alert: per known feature, in the column that sets the level."""

    names: list[str]
    weights: list[float]
    base: float
    score: float  # base + the terms: an urgency, or the chosen level's logit
    level: Severity | None  # softmax: the chosen level (urgency: read off after the context)
    logits: NDArray[np.float64] | None


def _content_terms(content: ContentModel, alert: AlertRecord) -> _Terms:
    lean = content.lean
    features = content.features(alert)
    if content.kind == URGENCY:
        # One column: plain Python over a few dozen floats is cheaper than any numpy call at this size.
        column = lean.column
        names = [name for name in features if name in column]
        weights = [column[name] * features[name] for name in names]
        base = lean.base
        return _Terms(names, weights, base, math.fsum([base, *weights]), None, None)
    indices, values = lean.encode(features)  # known features, then the intercept row
    terms = lean.weights[indices] * np.array(values)[:, None]
    logits = terms.sum(axis=0)
    k = int(np.argmax(logits))
    all_names = lean.feature_names
    return _Terms(
        names=[all_names[j] for j in indices[:-1]],
        weights=terms[:-1, k].tolist(),
        base=float(terms[-1, k]),
        score=float(logits[k]),
        level=content.classes[k],
        logits=logits,
    )


def _unknown_word(word: str | None) -> list[Contribution]:
    if not word:
        return []
    return [Contribution("source", 0.0, 0.0, f"source severity {word!r} is not a word sevbot knows")]


def _explain(
    model: SeverityModel, alert: AlertRecord, context: ScoringContext, *, top: int | None
) -> Explanation:
    """The explanation of one score; ``top``: put only that many content signals into words (serving)."""
    word = source_severity(alert.labels)
    mapped = map_severity(word)
    if word is not None and mapped is not None:
        anchor = word_terms(word, mapped)
        settled = settle(alert=alert, context=context, anchor=anchor[0].weight, sharpness=WORD_SHARPNESS)
        return Explanation(
            level=settled.level,
            score=settled.urgency,
            intercept=0.0,
            contributions=tuple(_context_contributions([*anchor, *settled.terms])),
            probabilities=settled.probabilities,
            scale=URGENCY,
        )
    content = model.content
    terms = _content_terms(content, alert)
    if top is None:
        signals = merge_signals(terms.names, terms.weights, alert)
    else:
        found = top_signals(terms.names, terms.weights, alert, top=top)
        signals = list(found.shown)
        if found.others:
            text = f"{found.others} other signals"
            signals.append(Contribution(OTHERS, float(found.others), found.others_weight, text))
    if content.kind == URGENCY:
        settled = settle(
            alert=alert, context=context, anchor=terms.score, edges=content.edges, sharpness=content.sharpness
        )
        return Explanation(
            level=settled.level,
            score=settled.urgency,
            intercept=terms.base,
            contributions=tuple([*_unknown_word(word), *signals, *_context_contributions(settled.terms)]),
            probabilities=settled.probabilities,
            scale=URGENCY,
            base_text="base urgency of an alert without a severity word",
        )
    assert terms.level is not None and terms.logits is not None
    return Explanation(
        level=terms.level,
        score=terms.score,
        intercept=terms.base,
        contributions=tuple([*_unknown_word(word), *signals]),
        probabilities=_by_severity(content.classes, softmax(terms.logits)),
        scale="logit",
        base_text=f"base rate for {terms.level}",
    )


class ModelScorer:
    """The :class:`~analytics.scoring.Scorer` ingestion calls: level, probabilities, and exact reasons.

    The reasons are what set the level (the source's word, or the content model's largest signals), the
    context's terms, the sum of the remaining signals ("N other signals") and the base, so their weights
    add up to the score (an urgency, or the chosen level's logit).
    """

    def __init__(self, model: SeverityModel, *, top_reasons: int = TOP_REASONS) -> None:
        self.model = model
        self.top_reasons = top_reasons

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        content = self.model.content
        if content.kind == URGENCY and map_severity(source_severity(alert.labels)) is None:
            return self._score_urgency(alert, context)
        explanation = _explain(self.model, alert, context, top=self.top_reasons)
        return Score(
            level=explanation.level,
            probabilities=explanation.probabilities,
            reasons=tuple(explanation.reasons(self.top_reasons)),
            model_version=self.model.version,
        )

    def _score_urgency(self, alert: AlertRecord, context: ScoringContext) -> Score:
        """The request path of an urgency model for an alert without a known word: the same terms as
        :meth:`SeverityModel.explain`, in one pass over the alert's features, and only the reasons shown
        put into words (every feature is summed into its signal; the rest into "N other signals")."""
        content = self.model.content
        lean = content.lean
        column, signals = lean.column, lean.signals
        totals: dict[str, float] = {}
        members: dict[str, list[str]] = {}
        for name, value in content.features(alert).items():
            weight = column.get(name)
            if weight is None:
                continue
            key = signals[name]
            if key in totals:
                totals[key] += weight * value
                members[key].append(name)
            else:
                totals[key] = weight * value
                members[key] = [name]
        anchor = math.fsum([lean.base, *totals.values()])
        settled = settle(
            alert=alert, context=context, anchor=anchor, edges=content.edges, sharpness=content.sharpness
        )
        ranked = sorted(totals.items(), key=lambda kv: -abs(kv[1]))  # stable: ties keep feature order
        shown = [(k, w) for k, w in ranked[: self.top_reasons] if w != 0.0]
        word = source_severity(alert.labels)
        reasons = [Reason(c.text, c.weight) for c in _unknown_word(word)]
        reasons += [Reason(describe_signal(k, members[k], alert), w) for k, w in shown]
        reasons += [Reason(t.text, t.weight) for t in settled.terms]
        if len(totals) > len(shown):
            rest = math.fsum([w for _, w in ranked[len(shown) :]])
            reasons.append(Reason(f"{len(totals) - len(shown)} other signals", rest))
        if lean.base != 0.0:
            reasons.append(Reason("base urgency of an alert without a severity word", lean.base))
        return Score(
            level=settled.level,
            probabilities=settled.probabilities,
            reasons=tuple(reasons),
            model_version=self.model.version,
        )

    def score_batch(
        self, items: Sequence[tuple[AlertRecord, ScoringContext]]
    ) -> list[Mapping[Severity, float]]:
        """Probabilities for many alerts (the throughput path for replays and evaluation)."""
        return [self.score(alert, context).probabilities for alert, context in items]


def model_version(content: ContentModel) -> str:
    """A digest of everything that decides a score: kind, classes, edges, vocabulary, weights, text view."""
    digest = hashlib.sha256()
    header = {
        "kind": content.kind,
        "classes": [c.value for c in content.classes],
        "edges": list(content.edges),
        "sharpness": content.sharpness,
        "options": [content.options.stems, content.options.name_grams],
        "reads_features": content.reads_features,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update("\n".join(content.lean.feature_names).encode())
    digest.update(content.lean.weights.tobytes())
    if content.text is not None:
        digest.update("\n".join(content.text.tokens).encode())
        digest.update(np.array([content.text.idf[t] for t in content.text.tokens]).tobytes())
    return f"sevlr-{digest.hexdigest()[:12]}"
