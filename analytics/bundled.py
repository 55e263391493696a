"""The bundled content model: trained on published alert rules of other organisations (pure; data passed in).

Data flow: rows of ``../shared/data/alert_rules.jsonl`` (read by ``sevbot model bundle``) + sevbot's own
archetype catalogue ─► :func:`build_bundled` ─► ``SeverityModel`` (urgency kind) ─► committed as
``analytics/data/bundled-model.json`` (vocabulary and coefficients only; no rule text).

It scores alerts that carry no severity word (with a word, the word decides). It is a balanced logistic
regression of "page-worthy" (the source said critical, or an archetype is SEV1/SEV2) against the rest,
on ``alert_features`` without the word, read as an urgency:

* every organisation counts the same (sample weights 1 / its number of rules), the catalogue being one
  more organisation: what must generalise is "unseen organisation", not "more sapcc";
* C and the probability from which an alert counts as page-worthy are chosen among :data:`C_CHOICES` and
  :data:`PAGE_CHOICES` by leave-one-source-out cross-validation inside the training rules, on the mean
  page-worthy F1 over the held-out sources; held-out sources are alert-name-disjoint from the rest (rules
  shared through upstream mixins would otherwise be recognised rather than judged);
* the urgency is ``2.5 + (logit − logit(page)) / LOGITS_PER_LEVEL``: page-worthy from 2.5 (SEV2), SEV1 one
  level on; the SEV3/SEV4 edge is the cut of the out-of-fold urgencies that best separates warning from
  info rules.

Only rules under CC-BY-4.0 or Apache-2.0 are learned from (the README names the sources); rules whose
licence is another (LGPL) or unverified are left out.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.examples import TrainingExample, rule_alert
from analytics.features import DEFAULT_OPTIONS, alert_features
from analytics.model import URGENCY, ContentModel, LeanScorer, SeverityModel
from analytics.records import Severity
from analytics.scoring import map_severity
from analytics.training import _finish, fit_feature_pipeline

C_CHOICES: tuple[float, ...] = (0.1, 0.3, 1.0)
PAGE_CHOICES: tuple[float, ...] = (0.3, 0.4, 0.5)
LOGITS_PER_LEVEL = 1.5
PAGE_EDGE = 2.5
SEV1_EDGE = PAGE_EDGE + 1.0
LICENCES = ("CC-BY-4.0", "Apache-2.0")
CATALOGUE = "sevbot/catalogue"
PAGE_LEVELS = frozenset({Severity.SEV1, Severity.SEV2})


def licence_ok(licence: str) -> bool:
    """True for rules published under one of :data:`LICENCES` (for mixins, the upstream's own licence)."""
    return licence.startswith(LICENCES)


def rule_examples_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[TrainingExample]:
    """Rows of ``alert_rules.jsonl`` as examples without their word (``origin``: the source)."""
    out = []
    for row in rows:
        level = map_severity(str(row.get("severity") or ""))
        if level is None:
            continue
        alert = rule_alert(
            alertname=str(row["alertname"]),
            expr=str(row.get("expr") or ""),
            for_duration=str(row.get("for") or "") or None,
            labels={str(k): str(v) for k, v in (row.get("labels") or {}).items()},
            summary=str(row.get("summary") or ""),
            description=str(row.get("description") or ""),
        )
        group = f"{row['source']}::{row.get('path', '')}::{row.get('group', '')}"
        out.append(TrainingExample(alert=alert, level=level, group=group, origin=str(row["source"])))
    return out


def catalogue_rules() -> list[TrainingExample]:
    """sevbot's archetypes, each once with its first component, as rules of one more organisation."""
    from analytics.catalogue import COMPONENTS, _fill, load_archetypes

    out = []
    for archetype in load_archetypes():
        component = COMPONENTS[archetype.kind][0]
        alert = rule_alert(
            alertname=_fill(archetype.name, component),
            expr=_fill(archetype.expr, component),
            for_duration=archetype.for_duration,
            labels={},
            summary=_fill(archetype.summary, component),
            description=_fill(archetype.description, component),
        )
        out.append(
            TrainingExample(
                alert=alert, level=archetype.level, group=f"catalogue:{archetype.name}", origin=CATALOGUE
            )
        )
    return out


def training_rules(
    rows: Sequence[Mapping[str, Any]], *, exclude: Sequence[str] = ()
) -> list[TrainingExample]:
    """Licensed rules of every source but ``exclude``, deduplicated, plus the catalogue."""
    from analytics.evaluate import deduplicate

    kept = [r for r in rows if licence_ok(str(r.get("license") or "")) and r["source"] not in exclude]
    return [*deduplicate(rule_examples_from_rows(kept)), *catalogue_rules()]


def _weights(examples: Sequence[TrainingExample]) -> list[float]:
    counts = Counter(e.origin for e in examples)
    share = len(examples) / len(counts)
    return [share / counts[e.origin] for e in examples]


def _page(examples: Sequence[TrainingExample]) -> list[int]:
    return [int(e.level in PAGE_LEVELS) for e in examples]


def page_f1(truth: Sequence[int], predicted: Sequence[int]) -> float:
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


@dataclass(frozen=True)
class UrgencyReference:
    """The bundled urgency computed with the fitted scikit-learn pipeline (to check the lean path)."""

    pipeline: Any
    page_probability: float

    def decision(self, alerts: Sequence[Any]) -> np.ndarray[Any, Any]:
        rows = [alert_features(a, options=DEFAULT_OPTIONS) for a in alerts]
        logits = self.pipeline.decision_function(rows)
        return np.array([[_urgency(float(z), self.page_probability)] for z in logits])


@dataclass(frozen=True, slots=True)
class BundledChoice:
    c: float
    page_probability: float
    info_edge: float
    scores: Mapping[str, float]  # mean held-out page-worthy F1 of each (C, page probability)


def _fit(examples: Sequence[TrainingExample], c: float, seed: int) -> Any:
    rows = [alert_features(e.alert, options=DEFAULT_OPTIONS) for e in examples]
    return fit_feature_pipeline(
        rows, _page(examples), weights=_weights(examples), seed=seed, c=c, positive_is_urgent=True
    )


def _urgency(logit: float, page_probability: float) -> float:
    return PAGE_EDGE + (logit - math.log(page_probability / (1 - page_probability))) / LOGITS_PER_LEVEL


def choose(examples: Sequence[TrainingExample], *, seed: int = 0) -> BundledChoice:
    """Leave-one-source-out inside ``examples`` (held-out names never in training) for C and the page cut."""
    sources = sorted({e.origin for e in examples if e.origin != CATALOGUE})
    logits: dict[float, dict[int, float]] = {c: {} for c in C_CHOICES}
    for source in sources:
        test = [i for i, e in enumerate(examples) if e.origin == source]
        names = {examples[i].alert.alertname for i in test}
        train = [e for e in examples if e.origin != source and e.alert.alertname not in names]
        rows = [alert_features(examples[i].alert, options=DEFAULT_OPTIONS) for i in test]
        for c in C_CHOICES:
            model = _fit(train, c, seed)
            for i, z in zip(test, model.decision_function(rows).tolist(), strict=True):
                logits[c][i] = float(z)
    truth = _page(examples)
    scores: dict[str, float] = {}
    best: tuple[float, float, float] | None = None
    for c in C_CHOICES:
        for p in PAGE_CHOICES:
            cut = math.log(p / (1 - p))
            per_source = []
            for source in sources:
                idx = [i for i, e in enumerate(examples) if e.origin == source]
                per_source.append(page_f1([truth[i] for i in idx], [int(logits[c][i] >= cut) for i in idx]))
            score = float(np.mean(per_source))
            scores[f"C={c:g},page={p:g}"] = score
            if best is None or score > best[0]:
                best = (score, c, p)
    assert best is not None
    _, c, p = best
    return BundledChoice(c=c, page_probability=p, info_edge=_info_edge(examples, logits[c], p), scores=scores)


def _info_edge(
    examples: Sequence[TrainingExample], logits: Mapping[int, float], page_probability: float
) -> float:
    """The urgency below which a non-page alert is information: the out-of-fold cut that is right most often.

    Accuracy, each organisation weighted the same, not macro-F1: a warning called information is the costlier
    mistake (it hides), and macro-F1 traded 588 of 1,788 warnings for 233 of 434 info rules.
    """
    weights = _weights(examples)
    below = [
        (i, _urgency(z, page_probability))
        for i, z in logits.items()
        if examples[i].level not in PAGE_LEVELS and _urgency(z, page_probability) < PAGE_EDGE
    ]
    if not below:
        return PAGE_EDGE - 1.0
    cuts = sorted({round(u, 3) for _, u in below})
    best = (-1.0, min(cuts) - 0.5)
    for cut in [min(cuts) - 0.5, *cuts]:
        right = sum(weights[i] for i, u in below if (u < cut) == (examples[i].level is Severity.SEV4))
        if right > best[0]:
            best = (right, cut)
    return min(best[1], PAGE_EDGE - 0.25)


def build_bundled(
    rows: Sequence[Mapping[str, Any]],
    *,
    exclude: Sequence[str] = (),
    seed: int = 0,
    choice: BundledChoice | None = None,
) -> SeverityModel:
    """The bundled model from published rules (every source but ``exclude``) and the catalogue."""
    examples = training_rules(rows, exclude=exclude)
    if choice is None:
        choice = choose(examples, seed=seed)
    pipeline = _fit(examples, choice.c, seed)
    vectorizer, classifier = pipeline.named_steps["vectorize"], pipeline.named_steps["classify"]
    names = [str(n) for n in vectorizer.feature_names_]
    scale = 1.0 / LOGITS_PER_LEVEL
    cut = math.log(choice.page_probability / (1 - choice.page_probability))
    coef = classifier.coef_ * scale  # monotone words already projected in the fitted classifier
    intercept = PAGE_EDGE + (classifier.intercept_ - cut) * scale
    content = ContentModel(
        kind=URGENCY,
        lean=LeanScorer(feature_names=names, coef=coef, intercept=intercept),
        options=DEFAULT_OPTIONS,
        edges=(SEV1_EDGE, PAGE_EDGE, choice.info_edge),
        sharpness=LOGITS_PER_LEVEL,
    )
    by_source = Counter(e.origin for e in examples)
    provenance = {
        "kind": "bundled",
        "trained_on": dict(sorted(by_source.items())),
        "excluded": list(exclude),
        "c": choice.c,
        "page_probability": choice.page_probability,
        "info_edge": choice.info_edge,
        "loso_page_f1": dict(choice.scores),
        "licences": list(LICENCES),
    }
    reference = UrgencyReference(pipeline=pipeline, page_probability=choice.page_probability)
    return _finish(content, examples, seed=seed, c=choice.c, reference=reference, provenance=provenance)


def sources(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    by: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        by[str(row["source"])] += 1
    return sorted(by)
