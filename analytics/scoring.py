"""The scorer interface and the rule-based scorer that maps source vocabularies (pure; no I/O).

Ingestion depends only on :class:`Scorer`. The rule scorer is the fallback whenever no trained model
loads; the model scorer (see ``analytics.model``) implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from analytics.records import AlertRecord, Severity

# Source vocabularies, lower-cased. Anything not listed scores SEV3 ("unknown is a warning").
SEVERITY_VOCABULARY: Mapping[str, Severity] = {
    **dict.fromkeys(
        (
            "critical",
            "crit",
            "page",
            "pager",
            "p0",
            "p1",
            "s1",
            "sev1",
            "sev-1",
            "sev0",
            "emergency",
            "emerg",
            "fatal",
            "disaster",
            "blocker",
            "alert",
            "urgent",
        ),
        Severity.SEV1,
    ),
    **dict.fromkeys(("high", "error", "err", "major", "p2", "s2", "sev2", "sev-2", "severe"), Severity.SEV2),
    **dict.fromkeys(
        ("warning", "warn", "medium", "moderate", "average", "p3", "s3", "sev3", "sev-3", "minor"),
        Severity.SEV3,
    ),
    **dict.fromkeys(
        (
            "info",
            "informational",
            "information",
            "low",
            "notice",
            "debug",
            "none",
            "ok",
            "p4",
            "p5",
            "s4",
            "s5",
            "sev4",
            "sev-4",
            "sev5",
            "trivial",
        ),
        Severity.SEV4,
    ),
}

# Labels that carry a severity, in the order they are consulted.
SEVERITY_LABELS: tuple[str, ...] = ("severity", "priority", "level", "sev")

UNKNOWN_SEVERITY = Severity.SEV3


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """What the pipeline knows around an alert at scoring time (filled in by ingestion)."""

    service_criticality: str | None = None
    group_alerts_5m: int = 0
    group_alerts_60m: int = 0
    service_alerts_5m: int = 0
    service_alerts_60m: int = 0
    service_usual_per_hour: float = 0.0
    flapping: bool = False
    duplicates: int = 0
    past_ratings: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reason:
    """One signed contribution to a score, in words ("source says critical", +1.9)."""

    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class Score:
    level: Severity
    probabilities: Mapping[Severity, float]
    reasons: tuple[Reason, ...]
    model_version: str

    @property
    def confidence(self) -> float:
        return self.probabilities[self.level]


class Scorer(Protocol):
    """Anything that turns an alert and its context into a :class:`Score`."""

    @property
    def version(self) -> str: ...

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score: ...


def source_severity(labels: Mapping[str, str]) -> str | None:
    """The raw severity word the source gave, if any (``"critical"``, ``"P2"`` …)."""
    for key in SEVERITY_LABELS:
        value = labels.get(key)
        if value:
            return value
    return None


def map_severity(word: str | None) -> Severity | None:
    """Map a source's severity word onto SEV1–SEV4; ``None`` when the word is unknown or absent."""
    if not word:
        return None
    return SEVERITY_VOCABULARY.get(word.strip().lower())


class RuleScorer:
    """Scores by the source's own severity label alone: the fallback when no model is loaded."""

    version = "rules-v1"

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        word = source_severity(alert.labels)
        mapped = map_severity(word)
        level = mapped or UNKNOWN_SEVERITY
        if mapped is not None:
            reason = Reason(f"source says {word}", 1.0)
        elif word:
            reason = Reason(f"source severity {word!r} is not a known word; unknown scores {level}", 0.0)
        else:
            reason = Reason(f"source gave no severity; unknown scores {level}", 0.0)
        probabilities = {sev: (1.0 if sev is level else 0.0) for sev in Severity}
        return Score(level=level, probabilities=probabilities, reasons=(reason,), model_version=self.version)
