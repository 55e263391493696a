"""Urgency: the source's word and the alert's context as signed terms on one scale, and its levels (pure).

Data flow: ``AlertRecord`` + ``ScoringContext`` ─► :func:`word_terms` (the rule author's word) or a content
model's urgency (``analytics.model``) ─► :func:`context_terms` ─► :func:`settle` ─► a level, probabilities
and the terms that add up to the urgency exactly.

Urgency is counted in levels: a level's centre is ``URGENCY[level]`` (SEV1 4 … SEV4 1) and its band reaches
half a level either side (SEV1 from 3.5, SEV2 from 2.5, SEV3 from 1.5). The source's word sets the urgency
at its level's centre; context terms then move it. Their weights are fixed here, not learned: they are the
policy an on-call engineer reads in "why", and without team data they may move the level by one at most
(a "cap" term says so when it applies). Each weight is chosen so that one signal alone moves a level or
clearly does not (no sum lands on a band edge): a burst far above the service's usual rate +0.75, flapping
−0.75, a low-criticality service −0.75, a critical one +0.4 and a high one +0.2 (these two move a level
only together with another signal). People's past ratings of the alert pull towards their mean rating,
by n/(n + 2.5) of the distance for n ratings, and once three or more ratings agree on a majority level,
that level is the anchor (team data: the people's word wins over the rule author's), as before.

Hour of day and weekday are no signal (a 3 a.m. page is still a page), and neither is the environment:
a rule author's word is the same in every environment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analytics.burst import context_burst
from analytics.records import AlertRecord, Severity
from analytics.scoring import ScoringContext, map_severity

POLICY_VERSION = "urgency-v1"

URGENCY: Mapping[Severity, float] = {
    Severity.SEV1: 4.0,
    Severity.SEV2: 3.0,
    Severity.SEV3: 2.0,
    Severity.SEV4: 1.0,
}
# Lower edge of SEV1, SEV2 and SEV3 (below the last: SEV4).
WORD_EDGES: tuple[float, float, float] = (3.5, 2.5, 1.5)
# Logits per level of urgency for the probabilities of a level set by a word: a plain "critical" is SEV1
# at 0.88, a plain "warning" SEV3 at 0.79 (it has neighbours on both sides).
WORD_SHARPNESS = 4.0

CRITICALITY_WEIGHT: Mapping[str, float] = {"critical": 0.4, "high": 0.2, "medium": 0.0, "low": -0.7}
BURST_WEIGHT = 0.75
FLAPPING_WEIGHT = -0.75
# Ratings pull by n / (n + RATING_PRIOR) of the way to their mean: one rating one level away does not
# move a level (0.29), three do (0.55); from RATINGS_DECIDE agreeing ratings on, their level is the anchor.
RATING_PRIOR = 2.5
RATINGS_DECIDE = 3
# Without team data, context moves a level by this many levels at most.
MAX_MOVE = 1
# The signals of the terms above: always shown in "why" (they are what moved the level, or the word).
POLICY_SIGNALS = frozenset({"source", "rated", "criticality", "burst", "flapping", "cap"})


@dataclass(frozen=True, slots=True)
class Term:
    """One signed contribution to an alert's urgency, in words (``signal`` names it for merging)."""

    signal: str
    text: str
    weight: float


def band(urgency: float, edges: Sequence[float] = WORD_EDGES) -> Severity:
    """The level whose band holds ``urgency`` (``edges``: lower edges of SEV1, SEV2, SEV3)."""
    if urgency >= edges[0]:
        return Severity.SEV1
    if urgency >= edges[1]:
        return Severity.SEV2
    if urgency >= edges[2]:
        return Severity.SEV3
    return Severity.SEV4


LEVELS = (Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4)
_RANK = {level: i + 1 for i, level in enumerate(LEVELS)}  # Severity.rank, without the Enum's cost


def level_probabilities(urgency: float, *, edges: Sequence[float], sharpness: float) -> dict[Severity, float]:
    """Adjacent-category probabilities: ``log P(k) − log P(k+1) = sharpness · (urgency − edge_k)``.

    The most probable level is always :func:`band`'s (the logits' differences change sign at the edges).
    """
    logits = [0.0, 0.0, 0.0, 0.0]  # SEV4 … SEV1, built up from the least urgent
    for i, edge in enumerate(reversed(edges)):
        logits[i + 1] = logits[i] + sharpness * (urgency - edge)
    top = max(logits)
    exp = [math.exp(z - top) for z in logits]
    total = sum(exp)
    return {level: exp[3 - i] / total for i, level in enumerate(LEVELS)}


def word_terms(word: str, level: Severity) -> list[Term]:
    """The rule author's word: the urgency starts at the centre of its level."""
    return [Term("source", f"source says {word}", URGENCY[level])]


def _rating_levels(context: ScoringContext) -> dict[Severity, int]:
    counts: dict[Severity, int] = {}
    for rated, count in context.past_ratings.items():
        mapped = map_severity(rated)
        if mapped is not None and count > 0:
            counts[mapped] = counts.get(mapped, 0) + count
    return counts


def rated_anchor(context: ScoringContext) -> Severity | None:
    """The level people gave this alert, when enough of them agree that their word decides."""
    return _decided(_rating_levels(context)) if context.past_ratings else None


def _decided(counts: Mapping[Severity, int]) -> Severity | None:
    total = sum(counts.values())
    if total < RATINGS_DECIDE:
        return None
    level = max(counts, key=lambda k: (counts[k], -_RANK[k]))
    return level if counts[level] * 2 > total else None


def context_terms(
    alert: AlertRecord, context: ScoringContext, *, anchor: float, edges: Sequence[float] = WORD_EDGES
) -> list[Term]:
    """The context's terms for an alert whose urgency before context is ``anchor``."""
    service = alert.service or "this service"
    terms: list[Term] = []
    counts = _rating_levels(context) if context.past_ratings else {}
    total = sum(counts.values())
    decided = _decided(counts) if counts else None
    if decided is not None:
        terms.append(
            Term(
                "rated",
                f"people rated this alert {decided} {counts[decided]} of {total} times",
                level_centre(decided, edges) - anchor,
            )
        )
        anchor = level_centre(decided, edges)
    elif total:
        mean = sum(level_centre(level, edges) * n for level, n in counts.items()) / total
        pull = (mean - anchor) * total / (total + RATING_PRIOR)
        if pull:
            rated = ", ".join(
                f"{level} {n}×" for level, n in sorted(counts.items(), key=lambda kv: _RANK[kv[0]])
            )
            terms.append(Term("rated", f"people rated this alert before ({rated})", pull))
    tier = context.service_criticality.strip().lower() if context.service_criticality else ""
    weight = CRITICALITY_WEIGHT.get(tier, 0.0) if tier else 0.0
    if weight:
        terms.append(Term("criticality", f"the catalog rates {service} {tier}", weight))
    if context.service_usual_per_hour > 0:  # a burst needs a usual rate: a first day is not a burst
        burst = context_burst(context)
        if burst.is_burst:
            if context.service_alerts_5m * 12 > context.service_alerts_60m:
                recent = f"{context.service_alerts_5m} alerts for {service} in 5 min"
            else:
                recent = f"{context.service_alerts_60m} alerts for {service} within the hour"
            terms.append(Term("burst", f"{recent}, {burst.ratio:.0f}× its usual rate", BURST_WEIGHT))
    if context.flapping:
        terms.append(
            Term("flapping", "it is flapping (firing and resolving again and again)", FLAPPING_WEIGHT)
        )
    return terms


def cap_term(*, anchor: float, urgency: float, edges: Sequence[float]) -> Term | None:
    """The term that keeps a context move within :data:`MAX_MOVE` levels of the anchor's level, if needed."""
    start, end = _RANK[band(anchor, edges)], _RANK[band(urgency, edges)]
    if abs(end - start) <= MAX_MOVE:
        return None
    allowed = Severity(f"SEV{start + MAX_MOVE if end > start else start - MAX_MOVE}")
    centre = level_centre(allowed, edges)
    return Term("cap", "without team data context moves a level by one at most", centre - urgency)


def level_centre(level: Severity, edges: Sequence[float]) -> float:
    """A point well inside ``level``'s band (its centre; half a level beyond the outer edges)."""
    top, mid, low = edges
    return {
        Severity.SEV1: top + 0.5,
        Severity.SEV2: (top + mid) / 2,
        Severity.SEV3: (mid + low) / 2,
        Severity.SEV4: low - 0.5,
    }[level]


@dataclass(frozen=True, slots=True)
class Settled:
    """An urgency after context: ``anchor`` + the terms' weights == ``urgency``."""

    level: Severity
    urgency: float
    anchor: float
    terms: tuple[Term, ...]  # the context's terms, then the cap when it applied
    probabilities: Mapping[Severity, float]


def settle(
    *,
    alert: AlertRecord,
    context: ScoringContext,
    anchor: float,
    edges: Sequence[float] = WORD_EDGES,
    sharpness: float = WORD_SHARPNESS,
) -> Settled:
    """Add the context to an urgency ``anchor`` (a word's or a content model's), cap, read the level."""
    terms = context_terms(alert, context, anchor=anchor, edges=edges)
    urgency = anchor
    if terms:
        decided = rated_anchor(context)
        cap_from = level_centre(decided, edges) if decided is not None else anchor
        urgency = math.fsum([anchor, *(t.weight for t in terms)])
        cap = cap_term(anchor=cap_from, urgency=urgency, edges=edges)
        if cap is not None:
            terms.append(cap)
            urgency = math.fsum([anchor, *(t.weight for t in terms)])
    return Settled(
        level=band(urgency, edges),
        urgency=urgency,
        anchor=anchor,
        terms=tuple(terms),
        probabilities=level_probabilities(urgency, edges=edges, sharpness=sharpness),
    )
