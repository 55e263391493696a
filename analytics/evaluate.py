"""Cross-validate the severity model against a plain text baseline, split by rule group (pure; no I/O).

Data flow: labelled examples (usually a team's rule files via ``bot.model.rulefiles.rule_examples``) ─►
:func:`evaluate` ─► :class:`Evaluation` ─► ``to_json()`` / :func:`render_evaluation` for
``sevbot model evaluate``.

Folds come from ``StratifiedGroupKFold`` over rule groups, never rows: rules of one group share names and
wording, and splitting them would flatter both models. Exact duplicates (same name words, query and level)
are dropped first for the same reason. On rule files the severity label is the target, so neither model
sees it. The baseline is TF-IDF over the alert name (camelCase split), summary and description with
LogisticRegression (C=1, balanced class weights), on the same folds; it is fixed and never tuned or
weakened.

The model is what ``sevbot model train`` ships: :func:`analytics.training.train_team_model` on each outer
training fold, which chooses between the baseline's own text model, the feature model (with or without
the bundled model as a prior) and their blends by an inner grouped cross-validation over that fold's rows
alone (and the page rule on SEV1–2, ``analytics.paging``); the outer test fold never influences it.
Critical-F1 is the F1 of SEV1–2 against SEV3–4 over all out-of-fold predictions pooled (the issue's
definition; no per-fold average, so a fold without critical rules counts no zero). The baseline is among
the candidates, so the model can only lose to it where the inner choice does not carry over to the
held-out groups.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.examples import TrainingExample
from analytics.fitting import DEFAULT_C
from analytics.lean import ContentModel
from analytics.records import Severity
from analytics.text import words
from analytics.training import rule_ladders, train_team_model

logger = logging.getLogger(__name__)

CRITICAL_LEVELS = frozenset({Severity.SEV1.value, Severity.SEV2.value})


@dataclass(frozen=True, slots=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class MethodScores:
    """Out-of-fold scores of one method; ``confusion[i][j]``: true ``labels[i]`` predicted ``labels[j]``."""

    per_class: Mapping[str, ClassScores]
    macro_f1: float
    critical_f1: float  # SEV1–SEV2 against SEV3–SEV4
    confusion: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    n: int
    n_groups: int
    folds: int
    duplicates_removed: int
    labels: tuple[str, ...]
    model: MethodScores
    baseline: MethodScores
    chosen: tuple[str, ...] = ()  # the model chosen inside each training fold

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "groups": self.n_groups,
            "folds": self.folds,
            "duplicates_removed": self.duplicates_removed,
            "macro_f1": self.model.macro_f1,
            "critical_f1": self.model.critical_f1,
            "baseline_macro_f1": self.baseline.macro_f1,
            "baseline_critical_f1": self.baseline.critical_f1,
            "per_class": {
                label: {
                    "precision": self.model.per_class[label].precision,
                    "recall": self.model.per_class[label].recall,
                    "f1": self.model.per_class[label].f1,
                    "support": self.model.per_class[label].support,
                    "baseline_f1": self.baseline.per_class[label].f1,
                }
                for label in self.labels
            },
            "labels": list(self.labels),
            "confusion": [list(row) for row in self.model.confusion],
            "baseline_confusion": [list(row) for row in self.baseline.confusion],
            "chosen": list(self.chosen),
        }


def deduplicate(examples: Sequence[TrainingExample]) -> list[TrainingExample]:
    """Drop examples whose name words, whitespace-normalised query and level repeat an earlier one."""
    seen: set[tuple[tuple[str, ...], str, Severity]] = set()
    out = []
    for example in examples:
        key = (
            words(example.alert.alertname),
            " ".join((example.alert.expression or "").split()),
            example.level,
        )
        if key not in seen:
            seen.add(key)
            out.append(example)
    return out


def baseline_text(example: TrainingExample) -> str:
    """What the baseline reads: alert name words, summary and description."""
    alert = example.alert
    return " ".join(
        [
            " ".join(words(alert.alertname)),
            alert.annotations.get("summary", ""),
            alert.annotations.get("description", ""),
        ]
    )


def evaluate(
    examples: Sequence[TrainingExample],
    *,
    folds: int = 5,
    seed: int = 0,
    c: float = DEFAULT_C,
    extra_training: Sequence[TrainingExample] = (),
    prior: ContentModel | None = None,
) -> Evaluation:
    """Out-of-fold predictions of the model and the baseline on the same grouped folds.

    ``extra_training`` (for instance people's corrections) is added to every training fold, never scored.
    ``prior`` is the bundled content model the team model may lean on (see ``analytics.training``).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline

    data = deduplicate(examples)
    groups = np.array([e.group or f"row-{i}" for i, e in enumerate(data)])
    y = np.array([e.level.value for e in data])
    n_groups = len(set(groups.tolist()))
    if n_groups < folds:
        raise ValueError("fewer rule groups than folds")
    if len(set(y.tolist())) < 2:
        raise ValueError("evaluation needs at least two severity levels")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    model_pred = np.empty(len(data), dtype=object)
    base_pred = np.empty(len(data), dtype=object)
    chosen: list[str] = []
    texts = [baseline_text(e) for e in data]
    # The team's rule files are known when it trains: every rule's thresholds, never a held-out level.
    ladders = rule_ladders(data)
    for train_idx, test_idx in splitter.split(np.zeros(len(data)), y, groups):
        train = [data[i] for i in train_idx]
        if len({e.level for e in train}) < 2:
            raise ValueError("a training fold holds a single severity level")
        model = train_team_model([*train, *extra_training], prior=prior, seed=seed, c=c, ladders=ladders)
        chosen.append(str(model.provenance.get("chosen", "")))
        model_pred[test_idx] = [
            level.value for level in model.content.levels([data[i].alert for i in test_idx])
        ]
        baseline = make_pipeline(
            TfidfVectorizer(),
            LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed),
        )
        baseline.fit([texts[i] for i in train_idx], y[train_idx])
        base_pred[test_idx] = baseline.predict([texts[i] for i in test_idx])
    labels = tuple(s.value for s in Severity if s.value in set(y.tolist()))
    logger.info("evaluation finished", extra={"examples": len(data), "folds": folds})
    return Evaluation(
        n=len(data),
        n_groups=n_groups,
        folds=folds,
        duplicates_removed=len(examples) - len(data),
        labels=labels,
        model=_scores(y, model_pred.astype(str), labels),
        baseline=_scores(y, base_pred.astype(str), labels),
        chosen=tuple(chosen),
    )


def _scores(y: np.ndarray[Any, Any], pred: np.ndarray[Any, Any], labels: tuple[str, ...]) -> MethodScores:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(labels), zero_division=0
    )
    per_class = {
        label: ClassScores(float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    critical_true = np.isin(y, list(CRITICAL_LEVELS))
    critical_pred = np.isin(pred, list(CRITICAL_LEVELS))
    return MethodScores(
        per_class=per_class,
        macro_f1=float(np.mean(f1)),
        critical_f1=float(f1_score(critical_true, critical_pred, zero_division=0)),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion_matrix(y, pred, labels=list(labels))),
    )


def render_evaluation(evaluation: Evaluation, *, title: str = "") -> str:
    """A plain-text table: per level P/R/F1 for the model, F1 for the baseline, then the confusion matrix."""
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"{evaluation.n} rules in {evaluation.n_groups} rule groups, {evaluation.folds} folds by group"
        f" ({evaluation.duplicates_removed} duplicates removed)"
    )
    lines.append(f"{'level':<8}{'support':>8}{'precision':>11}{'recall':>8}{'F1':>7}{'baseline F1':>13}")
    for label in evaluation.labels:
        m, b = evaluation.model.per_class[label], evaluation.baseline.per_class[label]
        lines.append(f"{label:<8}{m.support:>8}{m.precision:>11.3f}{m.recall:>8.3f}{m.f1:>7.3f}{b.f1:>13.3f}")
    lines.append(f"{'macro-F1':<35}{evaluation.model.macro_f1:>7.3f}{evaluation.baseline.macro_f1:>13.3f}")
    model, baseline = evaluation.model, evaluation.baseline
    lines.append(f"{'critical-F1 (SEV1-2)':<35}{model.critical_f1:>7.3f}{baseline.critical_f1:>13.3f}")
    if evaluation.chosen:
        lines.append("model chosen inside each training fold: " + "; ".join(evaluation.chosen))
    lines.append("confusion (rows true, columns predicted): " + " ".join(evaluation.labels))
    for label, row in zip(evaluation.labels, evaluation.model.confusion, strict=True):
        lines.append(f"  {label:<6}" + "".join(f"{v:>6}" for v in row))
    return "\n".join(lines)
