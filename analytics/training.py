"""Training a team's content model: the baseline, the feature model and their blends, chosen by CV (pure).

Data flow: a team's rule examples (+ corrections) ─► :func:`train_team_model` ─► ``SeverityModel``.

Three models are fitted on the team's examples, none of them sees the severity word (it is the target):

* **text**: TF-IDF over name words, summary and description with a balanced logistic regression (C=1):
  exactly the baseline ``analytics.evaluate`` compares against, so the baseline itself is a candidate;
* **features**: ``alert_features`` (words, labels, PromQL, ``for``) with a balanced logistic regression;
* **features + prior**: the same, plus the bundled model's urgency for the alert as one more input (what
  published rules of other organisations say; its weight per level is learned from the team's rules).

The served model is ``α · features-model logits + (1 − α) · text logits`` with α in :data:`BLEND_WEIGHTS`,
and the feature model with or without the prior, whichever has the best macro-F1 out of fold in an inner
grouped cross-validation on the training examples alone (ties go to the smaller α, towards the baseline:
α = 0 *is* the baseline). With fewer than :data:`MIN_GROUPS_TO_CHOOSE` rule groups there is no choice to
make reliably, and the baseline serves. With the blend the same inner cross-validation chooses a page
rule (``analytics.paging``: the bundled urgency's weight and a shift on the SEV1/SEV2 logits, and the
weight of a ladder's rungs, ``analytics.ladders``; none is a candidate), on out-of-fold macro-F1 +
critical-F1 (SEV1–2 against SEV3–4), the two figures a team is judged by. All three are linear in their
features, so the blend is one linear map over the union of their features (the prior folded into its
own features' coefficients): exact per-feature terms and one gather-and-dot at serving (the page rule's
terms fold in the same way).

Monotone words: a feature that is the word "critical", "prod" or "production" (in the name, the text or
the query) must never push towards a less urgent level. After fitting, each such feature's coefficients
are projected onto non-increasing ones from SEV1 to SEV4 (pool-adjacent-violators on at most four values).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.examples import TrainingExample
from analytics.features import DEFAULT_OPTIONS, FeatureOptions
from analytics.fitting import (
    DEFAULT_C,
    PRIOR_CENTRE,
    PRIOR_FEATURE,
    ReferenceModel,
    columns,
    decision_columns,
    feature_row,
    fit_feature_pipeline,
    fit_text_pipeline,
    prior_urgency,
    usable_prior,
)
from analytics.ladders import BOTTOM, LADDER_PREFIX, TOP, Ladders, rung_values
from analytics.lean import SOFTMAX, ContentModel, LeanScorer, TrainingSummary
from analytics.model import SeverityModel, model_version
from analytics.paging import (
    DEFAULT_LADDER,
    NO_RULE,
    PageRule,
    ladder_columns,
    macro_and_page_f1,
    page_columns,
)
from analytics.paging import apply as apply_page_rule
from analytics.paging import rules as page_rules
from analytics.tfidf import TOKEN_PREFIX, TextView, alert_text

logger = logging.getLogger(__name__)

INNER_FOLDS = 3
# Below this many rule groups the inner cross-validation cannot tell the candidates apart (three folds of
# two or three groups each): the baseline serves. On thanos's 8 groups (6–7 per outer training fold) the
# inner choice cost −0.022 macro-F1 on every seed; the baseline cannot lose to itself.
MIN_GROUPS_TO_CHOOSE = 10
# Weight of the feature model in the blend; 0 is the text baseline alone. Fixed before looking at any data.
BLEND_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
_SUMMARY_FEATURES = 40


def macro_f1(y: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the levels present in ``y`` (levels only predicted count as errors, not classes)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(y))
    return float(f1_score(list(y), list(pred), labels=labels, average="macro", zero_division=0))


@dataclass(frozen=True, slots=True)
class Choice:
    """What the inner cross-validation chose, and every candidate's out-of-fold macro-F1."""

    alpha: float
    with_prior: bool
    scores: Mapping[str, float]
    page: PageRule = NO_RULE

    @property
    def name(self) -> str:
        if self.alpha == 0.0:
            blend = "text baseline"
        else:
            model = "features + prior" if self.with_prior else "features"
            blend = model if self.alpha == 1.0 else f"{self.alpha:g} · {model} + {1 - self.alpha:g} · text"
        return f"{blend}; {self.page.describe()}" if self.page.active else blend


def _candidate_key(alpha: float, with_prior: bool) -> str:
    return f"alpha={alpha:g}" + (",prior" if with_prior and alpha > 0 else "")


def choose_blend(
    examples: Sequence[TrainingExample],
    *,
    prior: ContentModel | None,
    options: FeatureOptions = DEFAULT_OPTIONS,
    folds: int = INNER_FOLDS,
    seed: int = 0,
    c: float = DEFAULT_C,
    ladders: Ladders | None = None,
) -> Choice:
    """Grouped cross-validation on ``examples`` alone: out-of-fold logits of each model, then every blend.

    ``ladders`` (the team's rule files, levels unread) give the feature models their ladder rungs."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.array([e.group or f"row-{i}" for i, e in enumerate(examples)])
    y = np.array([e.level.value for e in examples])
    weights = np.array([e.weight for e in examples])
    classes = sorted(set(y.tolist()))
    n_groups = len(set(groups.tolist()))
    folds = min(folds, n_groups)
    if folds < 2 or n_groups < MIN_GROUPS_TO_CHOOSE:
        return Choice(alpha=0.0, with_prior=False, scores={})
    splits = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(
        np.zeros(len(y)), y, groups
    )
    prior = usable_prior(prior, options)
    plain = [feature_row(e.alert, options=options, prior=None, ladders=ladders) for e in examples]
    with_prior = (
        [feature_row(e.alert, options=options, prior=prior, ladders=ladders) for e in examples]
        if prior
        else None
    )
    texts = [alert_text(e.alert) for e in examples]
    n = len(classes)
    oof = {name: np.zeros((len(y), n)) for name in ("features", "prior", "text")}
    for train_idx, test_idx in splits:
        train_classes = sorted(set(y[train_idx].tolist()))
        positions = [classes.index(k) for k in train_classes]
        if len(train_classes) < 2:
            for block in oof.values():
                block[np.ix_(test_idx, positions)] = 1.0
            continue
        y_train, w_train = y[train_idx].tolist(), weights[train_idx].tolist()
        inputs: list[tuple[str, Any]] = [("features", plain), ("text", texts)]
        if with_prior is not None:
            inputs.append(("prior", with_prior))
        for name, data in inputs:
            train = [data[i] for i in train_idx]
            test = [data[i] for i in test_idx]
            if name == "text":
                model = fit_text_pipeline(train, y_train, weights=w_train, seed=seed)
            else:
                model = fit_feature_pipeline(train, y_train, weights=w_train, seed=seed, c=c)
            scores = decision_columns(model.decision_function(test), len(train_classes))
            block = np.full((len(test_idx), n), -1e9)  # a level missing from this training fold: never chosen
            block[:, positions] = scores
            oof[name][test_idx] = block
    urgency = np.array([prior_urgency(e.alert, prior) for e in examples]) if prior is not None else None
    rungs = rung_values(ladders, [e.alert for e in examples])
    ladder = ladder_columns(classes)
    y_index = np.array([classes.index(v) for v in y.tolist()], dtype=np.intp)
    pages = page_columns(classes)
    results: dict[str, float] = {}
    best: tuple[float, float, bool, PageRule] | None = None
    for alpha in BLEND_WEIGHTS:
        for use_prior in (False, True) if with_prior is not None and alpha > 0 else (False,):
            logits = alpha * oof["prior" if use_prior else "features"] + (1 - alpha) * oof["text"]
            if alpha == 0.0:
                logits = oof["text"]
            for rule in page_rules(urgency is not None, bool(rungs.any())):
                ruled = apply_page_rule(logits, pages, rule, urgency, rungs, ladder)
                macro, page = macro_and_page_f1(y_index, ruled.argmax(axis=1), pages)
                if not rule.active:
                    results[_candidate_key(alpha, use_prior)] = macro
                # Both figures an on-call team is judged by; strictly better: ties stay with the earlier
                # candidate (smaller α, then no page rule, then the smaller one).
                if best is None or macro + page > best[0]:
                    best = (macro + page, alpha, use_prior, rule)
    assert best is not None
    rule = best[3]
    if ladders and not rungs.any():
        # No training rule is on a ladder, so no candidate could show what the rungs are worth: the
        # default weight (what published rules of other organisations say, see analytics.paging).
        rule = replace(rule, ladder=DEFAULT_LADDER)
    return Choice(alpha=best[1], with_prior=best[2], scores=results, page=rule)


def train_team_model(
    examples: Sequence[TrainingExample],
    *,
    prior: ContentModel | None = None,
    seed: int = 0,
    c: float = DEFAULT_C,
    options: FeatureOptions | None = None,
    choice: Choice | None = None,
    ladders: Ladders | None = None,
) -> SeverityModel:
    """The team's content model: the blend :func:`choose_blend` picks (or ``choice``), fitted on all examples.

    Feedback is simply more examples (``origin="feedback"``) with a larger ``weight``. The feature model
    reads the alert with the prior's feature options (so the prior folds into it), else the defaults.
    ``ladders`` index the team's rule files (``analytics.ladders``); by default the examples that are rules
    (evaluation passes every rule of the evaluated files: their thresholds, never their levels).
    """
    if options is None:
        options = prior.options if prior is not None else DEFAULT_OPTIONS

    levels = sorted({e.level for e in examples}, key=lambda s: s.rank)
    if len(levels) < 2:
        raise ValueError("training needs examples of at least two severity levels")
    if ladders is None:
        ladders = rule_ladders(examples)
    if choice is None:
        choice = choose_blend(examples, prior=prior, options=options, seed=seed, c=c, ladders=ladders)
    served_ladders = ladders if ladders and (choice.alpha > 0 or choice.page.ladder) else None
    prior_used = usable_prior(prior, options) if choice.with_prior else None
    y = [e.level.value for e in examples]
    weights = [e.weight for e in examples]
    n = len(levels)
    parts: list[tuple[list[str], NDArray[np.float64], NDArray[np.float64]]] = []
    reference = ReferenceModel(alpha=choice.alpha, n_classes=n, prior=prior_used, options=options)
    text_view: TextView | None = None
    if choice.alpha > 0:
        rows = [feature_row(e.alert, options=options, prior=prior_used, ladders=ladders) for e in examples]
        pipeline = fit_feature_pipeline(rows, y, weights=weights, seed=seed, c=c)
        names = [str(f) for f in pipeline.named_steps["vectorize"].feature_names_]
        classifier = pipeline.named_steps["classify"]
        coef, intercept = columns(classifier.coef_, classifier.intercept_, n)
        coef, intercept = coef * choice.alpha, intercept * choice.alpha
        if prior_used is not None:
            names, coef, intercept = _fold_prior(names, coef, intercept, prior_used)
        parts.append((names, coef, intercept))
        reference = ReferenceModel(
            alpha=choice.alpha,
            n_classes=n,
            features=pipeline,
            prior=prior_used,
            options=options,
            ladders=served_ladders,
        )
    if choice.alpha < 1:
        texts = [alert_text(e.alert) for e in examples]
        text_pipeline = fit_text_pipeline(texts, y, weights=weights, seed=seed)
        vectorizer, classifier = text_pipeline.steps[0][1], text_pipeline.steps[1][1]
        text_view = TextView.from_vectorizer(vectorizer)
        coef, intercept = columns(classifier.coef_, classifier.intercept_, n)
        names = [TOKEN_PREFIX + t for t in text_view.tokens]
        parts.append((names, coef * (1 - choice.alpha), intercept * (1 - choice.alpha)))
        reference = ReferenceModel(
            alpha=choice.alpha,
            n_classes=n,
            features=reference.features,
            text=text_pipeline,
            prior=prior_used,
            options=options,
            ladders=served_ladders,
        )
    names, coef, intercept = _merge(parts, n)
    page_prior = usable_prior(prior, options) if choice.page.prior_weight else None
    pages = page_columns([level.value for level in levels])
    if choice.page.active:
        names, coef, intercept = _fold_page_rule(names, coef, intercept, pages, choice.page, page_prior)
        reference = replace(reference, page=choice.page, page_prior=page_prior, pages=tuple(pages.tolist()))
    if choice.page.ladder:
        per_level = ladder_columns([level.value for level in levels])
        step = choice.page.ladder * per_level
        names, coef, intercept = _merge(
            [(names, coef, intercept), ([TOP, BOTTOM], np.stack([step, -step], axis=1), np.zeros(n))], n
        )
        reference = replace(reference, ladder_step=per_level)
    content = ContentModel(
        kind=SOFTMAX,
        lean=LeanScorer(feature_names=names, coef=coef, intercept=intercept),
        options=options,
        classes=tuple(levels),
        text=text_view,
        reads_features=choice.alpha > 0 or page_prior is not None,
        ladders=_used(served_ladders, names),
    )
    return finish_model(
        content,
        examples,
        seed=seed,
        c=c,
        reference=reference,
        provenance={
            "kind": "team",
            "chosen": choice.name,
            "alpha": choice.alpha,
            "prior": choice.with_prior,
            "inner_macro_f1": dict(choice.scores),
            "page_rule": {
                "prior_weight": choice.page.prior_weight,
                "shift": choice.page.shift,
                "ladder": choice.page.ladder,
            },
        },
    )


def rule_ladders(examples: Iterable[TrainingExample]) -> Ladders:
    """The ladders of the examples that are rules (people's corrections are alerts, not rules)."""
    return Ladders.of(e.alert for e in examples if e.origin == "rules")


def _used(ladders: Ladders | None, names: Sequence[str]) -> Ladders | None:
    """The ladders when the fitted map reads a rung (a ladder feature unseen in training has no weight)."""
    if ladders and any(name.startswith(LADDER_PREFIX) for name in names):
        return ladders
    return None


def _fold_prior(
    names: list[str], coef: NDArray[np.float64], intercept: NDArray[np.float64], prior: ContentModel
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """Replace the prior's input column by its own features: a_k · (b + Σ w_j x_j − centre) per class k."""
    j = names.index(PRIOR_FEATURE)
    a = coef[:, j].copy()
    keep = [i for i in range(len(names)) if i != j]
    base_names = [names[i] for i in keep]
    base = coef[:, keep]
    prior_names = list(prior.lean.feature_names)
    prior_coef = a[:, None] * prior.lean.coef[0][None, :]
    intercept = intercept + a * (float(prior.lean.intercept[0]) - PRIOR_CENTRE)
    merged_names, merged, _ = _merge(
        [(base_names, base, np.zeros(len(a))), (prior_names, prior_coef, np.zeros(len(a)))], len(a)
    )
    return merged_names, merged, intercept


def _fold_page_rule(
    names: list[str],
    coef: NDArray[np.float64],
    intercept: NDArray[np.float64],
    pages: NDArray[np.bool_],
    rule: PageRule,
    prior: ContentModel | None,
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """The page rule (``analytics.paging``) added to the page levels' rows of the linear map."""
    intercept = intercept.copy()
    intercept[pages] += rule.shift
    if not rule.prior_weight:
        return names, coef, intercept
    assert prior is not None
    n = len(intercept)
    prior_coef = np.zeros((n, len(prior.lean.feature_names)))
    prior_coef[pages] = rule.prior_weight * prior.lean.coef[0]
    intercept[pages] += rule.prior_weight * (float(prior.lean.intercept[0]) - PRIOR_CENTRE)
    return _merge([(names, coef, intercept), (list(prior.lean.feature_names), prior_coef, np.zeros(n))], n)


def _merge(
    parts: Sequence[tuple[Sequence[str], NDArray[np.float64], NDArray[np.float64]]], n: int
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """Linear maps over different features, added: one map over the union of their features (sorted)."""
    names = sorted({name for part_names, _, _ in parts for name in part_names})
    index = {name: i for i, name in enumerate(names)}
    coef = np.zeros((n, len(names)))
    intercept = np.zeros(n)
    for part_names, part_coef, part_intercept in parts:
        columns = [index[name] for name in part_names]
        coef[:, columns] += part_coef
        intercept += part_intercept
    return names, coef, intercept


def finish_model(
    content: ContentModel,
    examples: Sequence[TrainingExample],
    *,
    seed: int,
    c: float,
    reference: Any,
    provenance: Mapping[str, Any],
) -> SeverityModel:
    import sklearn

    rows = [content.features(e.alert) for e in examples]
    summary = TrainingSummary(
        n_examples=len(examples),
        n_features=len(content.lean.feature_names),
        by_level=dict(sorted(Counter(e.level.value for e in examples).items())),
        by_origin=dict(sorted(Counter(e.origin for e in examples).items())),
        seed=seed,
        c=c,
        class_weight="balanced",
        sklearn_version=sklearn.__version__,
        # Alerts from these rules carry their word at serving, so their levels are the words' levels.
        level_distribution=_shares(e.level.value for e in examples),
        feature_share=feature_shares(rows, top=_SUMMARY_FEATURES),
    )
    logger.info("severity model trained", extra={"examples": len(examples), "features": summary.n_features})
    return SeverityModel(
        content=content,
        summary=summary,
        version=model_version(content),
        provenance=dict(provenance),
        reference=reference,
    )


def _shares(items: Iterable[str]) -> dict[str, float]:
    counts = Counter(items)
    total = sum(counts.values()) or 1
    return {key: counts[key] / total for key in sorted(counts)}


def feature_shares(rows: Sequence[Mapping[str, float]], *, top: int | None = None) -> dict[str, float]:
    """Share of rows that carry each feature (the ``top`` commonest when given)."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(row.keys())
    total = len(rows) or 1
    common = counts.most_common(top)
    return {name: count / total for name, count in common}


def with_summary(
    model: SeverityModel, examples: Sequence[TrainingExample], *, provenance: Mapping[str, Any]
) -> SeverityModel:
    """The same content model, described by (and registered for) other training examples."""
    return finish_model(
        model.content,
        examples,
        seed=model.summary.seed,
        c=model.summary.c,
        reference=None,
        provenance=provenance,
    )
