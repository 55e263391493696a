"""The reasons of a score: every term of the serving model's sum, grouped by signal, in words (pure).

:class:`analytics.model.ModelScorer` adds up terms; this module turns the same terms into an
:class:`~analytics.explain.Explanation` whose contributions add up to the score exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.explain import (
    OTHERS,
    Contribution,
    Explanation,
    merge_signals,
    top_signals,
)
from analytics.lean import URGENCY, ContentModel, by_severity, softmax
from analytics.policy import WORD_SHARPNESS, Term, settle, word_terms
from analytics.records import AlertRecord, Severity
from analytics.scoring import ScoringContext, map_severity, source_severity


def context_contributions(terms: Sequence[Term]) -> list[Contribution]:
    return [Contribution(feature=t.signal, value=1.0, weight=t.weight, text=t.text) for t in terms]


@dataclass(frozen=True, slots=True)
class Terms:
    """The content model's terms for one alert: per known feature, in the column that sets the level."""

    names: list[str]
    weights: list[float]
    base: float
    score: float  # base + the terms: an urgency, or the chosen level's logit
    level: Severity | None  # softmax: the chosen level (urgency: read off after the context)
    logits: NDArray[np.float64] | None


def content_terms(content: ContentModel, alert: AlertRecord) -> Terms:
    lean = content.lean
    features = content.features(alert)
    if content.kind == URGENCY:
        # One column: plain Python over a few dozen floats is cheaper than any numpy call at this size.
        column = lean.column
        names = [name for name in features if name in column]
        weights = [column[name] * features[name] for name in names]
        base = lean.base
        return Terms(names, weights, base, math.fsum([base, *weights]), None, None)
    indices, values = lean.encode(features)  # known features, then the intercept row
    terms = lean.weights[indices] * np.array(values)[:, None]
    logits = terms.sum(axis=0)
    k = int(np.argmax(logits))
    all_names = lean.feature_names
    return Terms(
        names=[all_names[j] for j in indices[:-1]],
        weights=terms[:-1, k].tolist(),
        base=float(terms[-1, k]),
        score=float(logits[k]),
        level=content.classes[k],
        logits=logits,
    )


def unknown_word(word: str | None) -> list[Contribution]:
    if not word:
        return []
    return [Contribution("source", 0.0, 0.0, f"source severity {word!r} is not a word sevbot knows")]


def explain(
    content: ContentModel, alert: AlertRecord, context: ScoringContext, *, top: int | None
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
            contributions=tuple(context_contributions([*anchor, *settled.terms])),
            probabilities=settled.probabilities,
            scale=URGENCY,
        )

    terms = content_terms(content, alert)
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
            contributions=tuple([*unknown_word(word), *signals, *context_contributions(settled.terms)]),
            probabilities=settled.probabilities,
            scale=URGENCY,
            base_text="base urgency of an alert without a severity word",
        )
    assert terms.level is not None and terms.logits is not None
    return Explanation(
        level=terms.level,
        score=terms.score,
        intercept=terms.base,
        contributions=tuple([*unknown_word(word), *signals]),
        probabilities=by_severity(content.classes, softmax(terms.logits)),
        scale="logit",
        base_text=f"base rate for {terms.level}",
    )
