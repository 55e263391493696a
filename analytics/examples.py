"""Labelled training examples: the catalogue, rule files and people's corrections all become these (pure).

Data flow: catalogue rows (``analytics.catalogue``), team rule files (loaded by ``bot.model.rulefiles``,
turned into examples by :func:`examples_from_rules`) and feedback (severity corrections) ─►
:class:`TrainingExample` ─► ``analytics.training.train_team_model`` / ``analytics.bundled`` /
``analytics.evaluate``.
A training example is an :class:`AlertRecord` as serving would see it, its :class:`ScoringContext`, the level
people want, a weight and the rule group used to split cross-validation folds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import SEVERITY_LABELS, ScoringContext, map_severity

# Weight given to one severity correction by default: people's word counts for several rule examples.
FEEDBACK_WEIGHT = 10.0


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One alert pattern, its context and the severity it should get."""

    alert: AlertRecord
    level: Severity
    context: ScoringContext = field(default_factory=ScoringContext)
    weight: float = 1.0
    group: str = ""  # the rule group (file and group name): cross-validation never splits one
    origin: str = "catalogue"  # catalogue | rules | feedback


def rule_alert(
    *,
    alertname: str,
    expr: str | None,
    for_duration: str | None,
    labels: Mapping[str, str],
    summary: str | None,
    description: str | None,
    source: str = "rules",
    starts_at: datetime | None = None,
) -> AlertRecord:
    """The alert a rule would raise, as serving sees it: labels without the severity, the query, ``for``."""
    clean = {k: v for k, v in labels.items() if k.lower() not in SEVERITY_LABELS}
    clean["alertname"] = alertname
    annotations = {k: v for k, v in (("summary", summary), ("description", description)) if v}
    values: dict[str, object] = {"for": for_duration} if for_duration else {}
    return AlertRecord(
        source=source,
        fingerprint=alertname,
        status=AlertStatus.FIRING,
        labels=clean,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=None,
        group_key=alertname,
        expression=expr or None,
        values=values,
    )


def feedback_example(
    *,
    alert: AlertRecord,
    chosen: Severity,
    context: ScoringContext | None = None,
    weight: float = FEEDBACK_WEIGHT,
) -> TrainingExample:
    """A correction: this alert (with its source severity, which is a feature here) should be ``chosen``."""
    return TrainingExample(
        alert=alert,
        level=chosen,
        context=context or ScoringContext(),
        weight=weight,
        group=f"feedback:{alert.alertname}",
        origin="feedback",
    )


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """One alerting rule that carries a severity, as written in its file."""

    alertname: str
    expr: str
    for_duration: str | None
    labels: Mapping[str, str]  # without the severity label
    summary: str
    description: str
    severity: str  # the raw word (``critical``, ``P2`` …)
    group: str
    path: str
    templated: bool = False


@dataclass(frozen=True, slots=True)
class RuleExamples:
    """Training examples from rules; rules whose severity word is unknown are counted, not guessed."""

    examples: tuple[TrainingExample, ...]
    unknown_severity: Mapping[str, int] = field(default_factory=dict)


def examples_from_rules(rules: Iterable[LoadedRule], *, weight: float = 1.0) -> RuleExamples:
    """Training examples from loaded rules: the severity label (mapped onto SEV1–SEV4) is the target.

    The label is removed from the example's alert, so the model learns from name, query, ``for``, labels
    and annotations; rules whose word ``map_severity`` does not know are skipped and counted by word.
    """
    examples: list[TrainingExample] = []
    unknown: Counter[str] = Counter()
    for rule in rules:
        level = map_severity(rule.severity)
        if level is None:
            unknown[rule.severity.strip().lower()] += 1
            continue
        alert = rule_alert(
            alertname=rule.alertname,
            expr=rule.expr,
            for_duration=rule.for_duration,
            labels=rule.labels,
            summary=rule.summary,
            description=rule.description,
            source="rules",
        )
        examples.append(
            TrainingExample(
                alert=alert, level=level, weight=weight, group=f"{rule.path}::{rule.group}", origin="rules"
            )
        )
    return RuleExamples(examples=tuple(examples), unknown_severity=dict(sorted(unknown.items())))
