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
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from analytics.explain import (
    TOP_REASONS,
    Explanation,
    describe_signal,
)
from analytics.features import FeatureDict, FeatureKey, feature_key
from analytics.lean import URGENCY, ContentModel, TrainingSummary
from analytics.policy import band, level_probabilities, settle
from analytics.reasons import explain, unknown_word
from analytics.records import AlertRecord, Severity
from analytics.scoring import Reason, Score, ScoringContext, map_severity, source_severity


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
        return explain(self.content, alert, context or ScoringContext(), top=None)

    def probabilities(
        self, alert: AlertRecord, context: ScoringContext | None = None
    ) -> dict[Severity, float]:
        return dict(self.explain(alert, context).probabilities)

    def scorer(self) -> ModelScorer:
        return ModelScorer(self)


# The content part of a word-less alert's score: its anchor, the shown reasons, then "N other signals"
# and the base (what follows the context's terms), and the level and probabilities of the anchor alone
# (the settled result when the context adds no term).
_ContentPart = tuple[float, tuple[Reason, ...], tuple[Reason, ...], Severity, Mapping[Severity, float]]
CONTENT_CACHE_SIZE = 8192

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded least-recently-used map, safe across threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class ModelScorer:
    """The :class:`~analytics.scoring.Scorer` ingestion calls: level, probabilities, and exact reasons.

    The reasons are what set the level (the source's word, or the content model's largest signals), the
    context's terms, the sum of the remaining signals ("N other signals") and the base, so their weights
    add up to the score (an urgency, or the chosen level's logit).
    """

    def __init__(
        self, model: SeverityModel, *, top_reasons: int = TOP_REASONS, cache_size: int = CONTENT_CACHE_SIZE
    ) -> None:
        self.model = model
        self.top_reasons = top_reasons
        self._content: LRU[tuple[str, tuple[tuple[str, float], ...]], _ContentPart] = LRU(cache_size)
        # The batch path's content parts by what the features are made of (see ``feature_key``).
        self._by_input: LRU[FeatureKey, _ContentPart] = LRU(cache_size)
        self._by_input_key = model.content.text is None and model.content.reads_features

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        content = self.model.content
        word = source_severity(alert.labels)
        if content.kind == URGENCY and map_severity(word) is None:
            return self._score_urgency(alert, context, word)
        explanation = explain(self.model.content, alert, context, top=self.top_reasons)
        return Score(
            level=explanation.level,
            probabilities=explanation.probabilities,
            reasons=tuple(explanation.reasons(self.top_reasons)),
            model_version=self.model.version,
        )

    def _score_urgency(self, alert: AlertRecord, context: ScoringContext, word: str | None) -> Score:
        """The request path of an urgency model for an alert without a known word: the same terms as
        :meth:`SeverityModel.explain`, in one pass over the alert's features, and only the reasons shown
        put into words (every feature is summed into its signal; the rest into "N other signals").

        The content part (the anchor and its reasons in words) depends on the features and the alert's
        name only, and instances of one rule share both: it is computed once per (name, features) and
        kept in a bounded LRU, and found again by what the features are made of (:meth:`_content_of`);
        the context is added per alert (when it adds no term, the level and probabilities are the
        anchor's, kept with the content part)."""
        content = self.model.content
        anchor, shown, rest, level, probabilities = self._content_of(alert)
        if word is None and adds_no_term(context):
            return Score(level, dict(probabilities), (*shown, *rest), self.model.version)
        settled = settle(
            alert=alert, context=context, anchor=anchor, edges=content.edges, sharpness=content.sharpness
        )
        reasons = [Reason(c.text, c.weight) for c in unknown_word(word)]
        reasons += shown
        reasons += [Reason(t.text, t.weight) for t in settled.terms]
        reasons += rest
        return Score(
            level=settled.level,
            probabilities=settled.probabilities,
            reasons=tuple(reasons),
            model_version=self.model.version,
        )

    def _content_of(self, alert: AlertRecord) -> _ContentPart:
        """The content part of a word-less alert: by what its features are made of (``feature_key``,
        cheaper than the features) when the model reads nothing else, else by (name, features)."""
        by_input = self._by_input_key
        key = feature_key(alert) if by_input else None
        if key is not None:
            found = self._by_input.get(key)
            if found is not None:
                return found
        features = self.model.content.features(alert)
        content_key = (alert.alertname, tuple(features.items()))
        part = self._content.get(content_key)
        if part is None:
            part = self._content_part(alert, features)
            self._content.put(content_key, part)
        if key is not None:
            self._by_input.put(key, part)
        return part

    def _content_part(self, alert: AlertRecord, features: FeatureDict) -> _ContentPart:
        lean = self.model.content.lean
        column, signals = lean.column, lean.signals
        totals: dict[str, float] = {}
        members: dict[str, list[str]] = {}
        for name, value in features.items():
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
        ranked = sorted(totals.items(), key=lambda kv: -abs(kv[1]))  # stable: ties keep feature order
        shown = [(k, w) for k, w in ranked[: self.top_reasons] if w != 0.0]
        words = tuple(Reason(describe_signal(k, members[k], alert), w) for k, w in shown)
        rest: list[Reason] = []
        if len(totals) > len(shown):
            others = math.fsum([w for _, w in ranked[len(shown) :]])
            rest.append(Reason(f"{len(totals) - len(shown)} other signals", others))
        if lean.base != 0.0:
            rest.append(Reason("base urgency of an alert without a severity word", lean.base))
        content = self.model.content
        level = band(anchor, content.edges)
        probabilities = level_probabilities(anchor, edges=content.edges, sharpness=content.sharpness)
        return anchor, words, tuple(rest), level, probabilities

    def score_batch(self, items: Sequence[tuple[AlertRecord, ScoringContext]]) -> list[Score]:
        """Scores for many alerts (the throughput path for replays and evaluation): each one equal to
        :meth:`score` of that alert alone.

        The urgency path in one loop, each word looked up once: the content part as :meth:`score` finds
        it (by ``feature_key``), and for an alert whose context adds no term (no ratings, criticality,
        usual rate or flapping) the level and probabilities of the anchor, kept with the content part,
        instead of settling again."""
        content = self.model.content
        if content.kind != URGENCY:
            return [self.score(alert, context) for alert, context in items]
        score_urgency = self._score_urgency
        out: list[Score] = []
        for alert, context in items:
            word = source_severity(alert.labels)
            if word is not None and map_severity(word) is not None:
                out.append(self.score(alert, context))
            else:
                out.append(score_urgency(alert, context, word))
        return out


def adds_no_term(context: ScoringContext) -> bool:
    """Whether :func:`~analytics.policy.context_terms` is empty for this context whatever the anchor."""
    return (
        not context.past_ratings
        and not context.service_criticality
        and not context.service_usual_per_hour > 0
        and not context.flapping
    )


def model_version(content: ContentModel) -> str:
    """A digest of everything that decides a score: kind, classes, edges, vocabulary, weights, text view,
    ladders."""
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
    if content.ladders:
        digest.update(json.dumps(content.ladders.to_json(), sort_keys=True).encode())
    return f"sevlr-{digest.hexdigest()[:12]}"
