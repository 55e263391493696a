"""The page/no-page rule of a team model: the published rules' urgency and a shift on the page levels (pure).

A team's softmax model decides the level by the largest logit. Its page levels (SEV1, SEV2) against the
rest is the decision on-call engineers care most about, and the one a team's own rules teach worst: their
critical rules are few, and rule groups are mostly all-critical or all-warning, so what a held-out group
looks like is often what the training groups did *not* page for. The bundled model (published rules of
other organisations) ranks page-worthy alerts more steadily there. The page rule adds, to the logit of each
page level only,

    prior_weight · (bundled urgency − PRIOR_CENTRE) + shift

both from small fixed grids chosen with the blend by the inner grouped cross-validation
(``analytics.training.choose_blend``); (0, 0) is no rule at all. The added term is linear in the bundled
model's features, so it folds into the one linear map served, and every term of an explanation stays exact.

The rule also orders a ladder's rungs (``analytics.ladders``: the team's rules of one name at several
thresholds, which no model of one alert tells apart). The top rung adds ``ladder · (mean rank − rank)`` to
each level's logit (rank 1 for SEV1 … 4 for SEV4), the bottom rung subtracts it: ``ladder`` logits per
level towards the urgent end, or away from it. Also linear (in the two rung features), also from a fixed
grid, also chosen with the rest; 0 is no ladder term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.records import Severity

# Logits per level of the bundled urgency on the page levels; 0 leaves the blend's own page decision.
PRIOR_WEIGHTS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
# Logits added to the page levels, nearest to 0 first (ties in the inner CV go to the earlier).
SHIFTS: tuple[float, ...] = (0.0, -0.5, 0.5, -1.0, 1.0)
# Logits per level between a ladder's top and bottom rungs and the rest; 0 leaves the rungs as they are.
LADDER_WEIGHTS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
# The ladder weight where no training rule is on a ladder (so the inner CV cannot weigh the rungs): the
# grid's middle, fixed a priori. Published rules back the direction: of 78 pairs of rules of one name at
# ordered thresholds in the visible organisations' rule files, the stricter was the more urgent in 58 and
# as urgent in 20, never less.
DEFAULT_LADDER = 1.0
PAGE_LEVELS = frozenset({Severity.SEV1.value, Severity.SEV2.value})


@dataclass(frozen=True, slots=True)
class PageRule:
    prior_weight: float = 0.0
    shift: float = 0.0
    ladder: float = 0.0

    @property
    def active(self) -> bool:
        return self.prior_weight != 0.0 or self.shift != 0.0 or self.ladder != 0.0

    def describe(self) -> str:
        parts = []
        if self.prior_weight:
            parts.append(f"{self.prior_weight:g} · published-rules urgency")
        if self.shift:
            parts.append(f"{self.shift:+g}")
        out = "page levels " + " ".join(parts) if parts else ""
        if self.ladder:
            out = (out + "; " if out else "") + f"ladder rungs ±{self.ladder:g} per level"
        return out


NO_RULE = PageRule()


def page_columns(classes: Sequence[str]) -> NDArray[np.bool_]:
    """Which columns (classes as level strings, most urgent first) are page levels."""
    return np.array([c in PAGE_LEVELS for c in classes], dtype=bool)


def ladder_columns(classes: Sequence[str]) -> NDArray[np.float64]:
    """Per column (classes as level strings, most urgent first): mean rank − its rank (SEV1 is rank 1)."""
    ranks = np.array([Severity(c).rank for c in classes], dtype=np.float64)
    out: NDArray[np.float64] = ranks.mean() - ranks
    return out


def rules(with_prior: bool, with_ladders: bool = False) -> list[PageRule]:
    """The candidate rules, simplest first; without a prior, no page term (a ladder term may stay).

    A shift alone brings no new information, only moves the team's own page boundary: without the prior,
    on kube-prometheus's rules the inner CV's shifts bought critical-F1 (+0.08) with macro-F1 (−0.02
    against the baseline, seeds 0–2), so without a prior the blend decides as it is. A ladder term does
    bring information (the rule files' own thresholds), so it is a candidate with or without the prior.
    """
    page = [(w, s) for w in PRIOR_WEIGHTS for s in SHIFTS] if with_prior else [(0.0, 0.0)]
    ladders = LADDER_WEIGHTS if with_ladders else (0.0,)
    return [PageRule(w, s, k) for k in ladders for w, s in page]


def apply(
    logits: NDArray[np.float64],
    pages: NDArray[np.bool_],
    rule: PageRule,
    urgency: NDArray[np.float64] | None,
    rungs: NDArray[np.float64] | None = None,
    ladder: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """``logits`` with the rule's terms: on the page columns (``urgency``: the bundled urgency, centred),
    and the ladder's (``rungs``: +1 top, −1 bottom, 0 otherwise; ``ladder``: :func:`ladder_columns`)."""
    if not rule.active:
        return logits
    out = logits.copy()
    if rule.prior_weight or rule.shift:
        term = np.full(len(logits), rule.shift)
        if rule.prior_weight:
            assert urgency is not None
            term = term + rule.prior_weight * urgency
        out[:, pages] += term[:, None]
    if rule.ladder:
        assert rungs is not None and ladder is not None
        out += rule.ladder * rungs[:, None] * ladder[None, :]
    return out


def macro_and_page_f1(
    y: NDArray[np.intp], pred: NDArray[np.intp], pages: NDArray[np.bool_]
) -> tuple[float, float]:
    """Macro-F1 over the classes present in ``y`` and F1 of page levels against the rest (class indices).

    The same figures as scikit-learn's ``f1_score`` (``average="macro"`` over the present labels, and the
    binary one, ``zero_division=0``), without its validation: the inner CV scores hundreds of candidates.
    """
    k = len(pages)
    confusion = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    present = confusion.sum(axis=1) > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    macro = float(f1[present].mean()) if present.any() else 0.0
    true_page, pred_page = pages[y], pages[pred]
    page_tp = float(np.sum(true_page & pred_page))
    page_denominator = float(np.sum(true_page) + np.sum(pred_page))
    page = 2 * page_tp / page_denominator if page_denominator else 0.0
    return macro, page
