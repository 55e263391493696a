"""Why a score: contributions (coefficient × value) in plain words, and how people read them (pure).

A logit is a sum of per-feature terms plus an intercept, so an :class:`Explanation` adds up to the score
exactly; :func:`describe_feature` puts each feature into words using the alert it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from analytics.burst import context_burst
from analytics.records import AlertRecord, Severity
from analytics.scoring import Reason, ScoringContext

TOP_REASONS = 5


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's term in the chosen level's logit."""

    feature: str
    value: float
    weight: float  # coefficient × value
    text: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a level: ``intercept + sum(c.weight for c in contributions) == score`` (the level's logit)."""

    level: Severity
    score: float
    intercept: float
    contributions: tuple[Contribution, ...]  # largest absolute weight first
    probabilities: Mapping[Severity, float]

    @property
    def total(self) -> float:
        return math.fsum([self.intercept, *(c.weight for c in self.contributions)])

    def lines(self, top: int = TOP_REASONS) -> list[str]:
        """The largest contributions in plain words with their signs, then the rest and the base rate."""
        shown = [c for c in self.contributions[:top] if c.weight != 0.0]
        out = [render_reason(Reason(c.text, c.weight)) for c in shown]
        rest = self.contributions[len(shown) :]
        if rest:
            remainder = math.fsum(c.weight for c in rest)
            out.append(render_reason(Reason(f"{len(rest)} other signals", remainder)))
        out.append(render_reason(Reason(f"base rate for {self.level}", self.intercept)))
        return out


def signed(weight: float) -> str:
    """A contribution's sign and size as people read it: ``+1.9``, ``−0.2`` (a real minus), ``+0.04``."""
    digits = 1 if abs(weight) >= 0.095 else 2
    text = f"{abs(weight):.{digits}f}"
    if float(text) == 0.0:
        return "±0"
    return ("+" if weight > 0 else "\u2212") + text


def render_reason(reason: Reason) -> str:
    """One reason in plain words with its signed contribution: ``source says critical +1.9``."""
    return f"{reason.text} {signed(reason.weight)}"


_HOURS = {"night": "00–06", "morning": "06–12", "afternoon": "12–18", "evening": "18–24"}
_FOR_WORDS = {
    "0": "fires at once (no for:)",
    "le1m": "must hold for up to 1 min",
    "le5m": "must hold 1–5 min",
    "le15m": "must hold 5–15 min",
    "le1h": "must hold 15–60 min",
    "gt1h": "must hold over an hour",
}


def describe_feature(name: str, value: float, alert: AlertRecord, context: ScoringContext | None) -> str:
    """One feature in plain words, using the alert and context it came from for the figures."""
    family, _, rest = name.partition(":")
    if family == "alert":
        return f"alert name {alert.alertname}"
    if family == "name":
        return f"alert name mentions “{rest}”"
    if family == "text":
        return f"summary/description mention “{rest}”"
    if family == "topic":
        return f"alert is about “{rest}”"
    if family == "gram":
        return f"alert name contains “{rest.strip('<>')}”"
    if family == "check":
        op = rest[:2] if rest[:2] in (">=", "<=", "==", "!=") else rest[:1]
        return f"fires when the query is {op} {_threshold_words(rest[len(op) :])}"
    if family == "sev":
        return f"source says {rest}"
    if family == "sevmap":
        return (
            "source severity is not a known word" if rest == "unknown" else f"source severity maps to {rest}"
        )
    if family == "has":
        return f"has a {rest} label"
    if family == "label":
        return f"label {rest}"
    if family == "env":
        return f"{rest} environment"
    if family == "metric":
        return f"query reads {rest}"
    if family == "mword":
        return f"query metric mentions “{rest}”"
    if family == "fn":
        return f"query uses {rest}()"
    if family == "op":
        return f"query uses “{rest}”"
    if family == "cmp":
        return f"query compares with {rest}"
    if family == "thr":
        return f"threshold {_threshold_words(rest)}"
    if family == "range":
        return f"query window {rest.replace('le', '≤ ').replace('gt', '> ')}"
    if family == "for":
        return _FOR_WORDS.get(rest, f"for: {rest}")
    if family == "hour":
        return f"{rest} ({_HOURS.get(rest, rest)} UTC)"
    if family == "day":
        return rest
    if family == "ctx":
        return _describe_context(rest, alert, context or ScoringContext())
    return name


def _threshold_words(bucket: str) -> str:
    if bucket.startswith("pct"):
        low = int(bucket[3:])
        return f"{low}–{100 if low == 95 else 94 if low == 90 else low + 9}%"
    if bucket.startswith(("e", "nege")):
        sign = "-" if bucket.startswith("neg") else ""
        return f"about {sign}1e{bucket.rsplit('e', 1)[1]}"
    return bucket


def _describe_context(rest: str, alert: AlertRecord, context: ScoringContext) -> str:
    service = alert.service or "this service"
    if rest == "rate_ratio":
        return f"{context_burst(context).ratio:.0f}× the usual alert rate for {service}"
    if rest == "burst":
        burst = context_burst(context)
        return f"burst on {service}: this many alerts has p < 1e-{int(burst.surprise)} at its usual rate"
    if rest == "group_5m":
        return f"{context.group_alerts_5m} alerts in the same group in 5 min"
    if rest == "group_60m":
        return f"{context.group_alerts_60m} alerts in the same group in 60 min"
    if rest == "flapping":
        return "flapping"
    if rest == "duplicates":
        return f"{context.duplicates} duplicates"
    key, _, level = rest.partition("=")
    if key == "criticality":
        return f"{service} criticality {level}"
    if key == "rated":
        return f"people rated past incidents of this alert {level}"
    return rest
