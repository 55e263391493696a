"""The bundled content model: trained on published alert rules of other organisations (pure; data passed in).

Data flow: rows of ``../shared/data/alert_rules.jsonl`` (read by ``sevbot model bundle``) + sevbot's own
archetype catalogue ─► :func:`build_bundled` ─► ``SeverityModel`` (urgency kind) ─► committed as
``analytics/data/bundled-model.json`` (vocabulary and coefficients only; no rule text).

It scores alerts that carry no severity word (with a word, the word decides). It is a balanced logistic
regression of "page-worthy" (the source said critical, or an archetype is SEV1/SEV2) against the rest,
on ``alert_features`` without the word, read as an urgency:

* every organisation counts the same (sample weights 1 / its number of rules), the catalogue being one
  more organisation: what must generalise is "unseen organisation", not "more sapcc";
* the feature options (:data:`OPTION_CHOICES`), C and the probability from which an alert counts as
  page-worthy (:data:`C_CHOICES`, :data:`PAGE_CHOICES`) are chosen by leave-one-source-out
  cross-validation inside the training rules, on the mean page-worthy F1 over the held-out sources;
  held-out sources are alert-name-disjoint from the rest (rules shared through upstream mixins would
  otherwise be recognised rather than judged);
* the urgency is ``2.5 + (logit − logit(page)) / LOGITS_PER_LEVEL``: page-worthy from 2.5 (SEV2), SEV1 one
  level on; the SEV3/SEV4 edge is the out-of-fold cut that is right most often, which on the published
  rules is below every rule: without a word the bundled model says SEV1–SEV3, never SEV4 (warning and
  info rules read too much alike for a cut that would not hide warnings).

Only rules under CC-BY-4.0 or Apache-2.0 are learned from (the README names the sources); rules whose
licence is another (LGPL) or unverified are left out.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.examples import TrainingExample, rule_alert
from analytics.features import FeatureOptions, alert_features
from analytics.fitting import fit_feature_pipeline
from analytics.lean import URGENCY, ContentModel, LeanScorer
from analytics.model import SeverityModel
from analytics.records import AlertRecord, Severity
from analytics.scoring import map_severity
from analytics.training import finish_model

C_CHOICES: tuple[float, ...] = (0.1, 0.3, 1.0)
# Word stems and alert-name 4-grams pool the morphology of names across organisations ("Failing",
# "Failed", "Failure"); whether they do is chosen like C.
OPTION_CHOICES: tuple[FeatureOptions, ...] = (
    FeatureOptions(),
    FeatureOptions(stems=True),
    FeatureOptions(name_grams=0.5),
    FeatureOptions(stems=True, name_grams=0.5),
)
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
        alert = row_alert(row)
        group = f"{row['source']}::{row.get('path', '')}::{row.get('group', '')}"
        out.append(TrainingExample(alert=alert, level=level, group=group, origin=str(row["source"])))
    return out


def row_alert(row: Mapping[str, Any]) -> AlertRecord:
    """A row of ``alert_rules.jsonl`` as the alert its rule sends (``rule_alert``), without instances."""
    return rule_alert(
        alertname=str(row["alertname"]),
        expr=str(row.get("expr") or ""),
        for_duration=str(row.get("for") or "") or None,
        labels={str(k): str(v) for k, v in (row.get("labels") or {}).items()},
        summary=str(row.get("summary") or ""),
        description=str(row.get("description") or ""),
    )


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
    rows: Sequence[Mapping[str, Any]], *, exclude: Sequence[str] = (), exclude_names: Collection[str] = ()
) -> list[TrainingExample]:
    """Licensed rules of every source but ``exclude`` (none named in ``exclude_names``), and the catalogue."""
    from analytics.evaluate import deduplicate

    kept = [
        r
        for r in rows
        if licence_ok(str(r.get("license") or ""))
        and r["source"] not in exclude
        and r["alertname"] not in exclude_names
    ]
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
    options: FeatureOptions

    def decision(self, alerts: Sequence[Any]) -> np.ndarray[Any, Any]:
        rows = [alert_features(a, options=self.options) for a in alerts]
        logits = self.pipeline.decision_function(rows)
        return np.array([[_urgency(float(z), self.page_probability)] for z in logits])


@dataclass(frozen=True, slots=True)
class BundledChoice:
    """What leave-one-source-out chose, and every candidate's mean held-out page-worthy F1."""

    options: FeatureOptions
    c: float
    page_probability: float
    info_edge: float
    scores: Mapping[str, float]


def _fit(examples: Sequence[TrainingExample], *, options: FeatureOptions, c: float, seed: int) -> Any:
    rows = [alert_features(e.alert, options=options) for e in examples]
    return fit_feature_pipeline(
        rows, _page(examples), weights=_weights(examples), seed=seed, c=c, positive_is_urgent=True
    )


def _urgency(logit: float, page_probability: float) -> float:
    return PAGE_EDGE + (logit - math.log(page_probability / (1 - page_probability))) / LOGITS_PER_LEVEL


def _options_key(options: FeatureOptions) -> str:
    return f"stems={int(options.stems)},grams={options.name_grams:g}"


def choose(examples: Sequence[TrainingExample], *, seed: int = 0) -> BundledChoice:
    """Leave-one-source-out inside ``examples`` (held-out names never in training): options, C, page cut."""
    sources = sorted({e.origin for e in examples if e.origin != CATALOGUE})
    candidates = [(o, c) for o in OPTION_CHOICES for c in C_CHOICES]
    logits: dict[tuple[FeatureOptions, float], dict[int, float]] = {k: {} for k in candidates}
    for source in sources:
        test = [i for i, e in enumerate(examples) if e.origin == source]
        names = {examples[i].alert.alertname for i in test}
        train = [e for e in examples if e.origin != source and e.alert.alertname not in names]
        for options in OPTION_CHOICES:
            rows = [alert_features(examples[i].alert, options=options) for i in test]
            for c in C_CHOICES:
                model = _fit(train, options=options, c=c, seed=seed)
                for i, z in zip(test, model.decision_function(rows).tolist(), strict=True):
                    logits[(options, c)][i] = float(z)
    truth = _page(examples)
    by_source = {s: [i for i, e in enumerate(examples) if e.origin == s] for s in sources}
    scores: dict[str, float] = {}
    best: tuple[float, FeatureOptions, float, float] | None = None
    for options, c in candidates:
        for p in PAGE_CHOICES:
            cut = math.log(p / (1 - p))
            found = logits[(options, c)]
            per_source = [
                page_f1([truth[i] for i in idx], [int(found[i] >= cut) for i in idx])
                for idx in by_source.values()
            ]
            score = float(np.mean(per_source))
            scores[f"{_options_key(options)},C={c:g},page={p:g}"] = score
            if best is None or score > best[0]:  # ties keep the earlier, simpler candidate
                best = (score, options, c, p)
    assert best is not None
    _, options, c, p = best
    return BundledChoice(
        options=options,
        c=c,
        page_probability=p,
        info_edge=_info_edge(examples, logits[(options, c)], p),
        scores=scores,
    )


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
    exclude_names: Collection[str] = (),
    seed: int = 0,
    choice: BundledChoice | None = None,
) -> SeverityModel:
    """The bundled model from published rules (every source but ``exclude``) and the catalogue.

    ``exclude_names`` leaves out every rule of those alert names too: how the benchmarks imitate an
    organisation none of whose alerts the model has seen.
    """
    examples = training_rules(rows, exclude=exclude, exclude_names=exclude_names)
    if choice is None:
        choice = choose(examples, seed=seed)
    pipeline = _fit(examples, options=choice.options, c=choice.c, seed=seed)
    vectorizer, classifier = pipeline.named_steps["vectorize"], pipeline.named_steps["classify"]
    names = [str(n) for n in vectorizer.feature_names_]
    scale = 1.0 / LOGITS_PER_LEVEL
    cut = math.log(choice.page_probability / (1 - choice.page_probability))
    coef = classifier.coef_ * scale  # monotone words already projected in the fitted classifier
    intercept = PAGE_EDGE + (classifier.intercept_ - cut) * scale
    content = ContentModel(
        kind=URGENCY,
        lean=LeanScorer(feature_names=names, coef=coef, intercept=intercept),
        options=choice.options,
        edges=(SEV1_EDGE, PAGE_EDGE, choice.info_edge),
        sharpness=LOGITS_PER_LEVEL,
    )
    by_source = Counter(e.origin for e in examples)
    provenance = {
        "kind": "bundled",
        "trained_on": dict(sorted(by_source.items())),
        "excluded": list(exclude),
        "excluded_names": len(exclude_names),
        "options": {"stems": choice.options.stems, "name_grams": choice.options.name_grams},
        "c": choice.c,
        "page_probability": choice.page_probability,
        "info_edge": choice.info_edge,
        "loso_page_f1": dict(choice.scores),
        "licences": list(LICENCES),
    }
    reference = UrgencyReference(
        pipeline=pipeline, page_probability=choice.page_probability, options=choice.options
    )
    return finish_model(content, examples, seed=seed, c=choice.c, reference=reference, provenance=provenance)


def sources(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    by: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        by[str(row["source"])] += 1
    return sorted(by)
