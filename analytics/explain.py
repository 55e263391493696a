"""Why a score: contributions grouped into signals, each a sentence about the alert, and their signs (pure).

A score is a sum of terms plus a base (an urgency, or the chosen level's logit), so an :class:`Explanation`
adds up to it exactly. Several features can carry one signal: the word "down" in the name, in the summary,
in both (``topic:``) and in the query's metric name is one thing to a person, and so is a comparison read
as operator, threshold and both. :func:`signal_of` names the signal of each feature and
:func:`describe_signal` puts it into words; contributions of one signal are added, never shown twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analytics.policy import POLICY_SIGNALS
from analytics.records import AlertRecord, Severity
from analytics.scoring import Reason
from analytics.text import words

TOP_REASONS = 5
OTHERS = "others"  # the signal of "N other signals", summed

# Feature families that are a word of the alert (its name, text or the query's metric names).
WORD_FAMILIES = frozenset({"name", "text", "topic", "mword", "tok"})
_CHECK_FAMILIES = frozenset({"cmp", "thr", "check"})


@dataclass(frozen=True, slots=True)
class Contribution:
    """One signal's term in the score (the sum of its features' coefficient × value)."""

    feature: str  # the signal (see :func:`signal_of`)
    value: float  # how many features carry it
    weight: float
    text: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a level: ``intercept + sum(c.weight for c in contributions) == score``.

    ``scale`` says what the score is: ``"urgency"`` (in levels: SEV1 from 3.5, SEV2 from 2.5 …) or
    ``"logit"`` (the chosen level's logit in a multinomial model).
    """

    level: Severity
    score: float
    intercept: float
    contributions: tuple[Contribution, ...]  # what sets the level first, then context, then the rest
    probabilities: Mapping[Severity, float]
    scale: str = "urgency"
    base_text: str = ""

    @property
    def total(self) -> float:
        return math.fsum([self.intercept, *(c.weight for c in self.contributions)])

    def reasons(self, top: int = TOP_REASONS) -> list[Reason]:
        """The word and the context's terms, the ``top`` largest content signals, "N other signals", the base.

        Their weights add up to :attr:`score`: nothing is dropped, the rest is summed into one line.
        """
        shown: list[Reason] = []
        rest: list[float] = []
        hidden = 0
        content_shown = 0
        for c in self.contributions:
            if c.feature in POLICY_SIGNALS:
                shown.append(Reason(c.text, c.weight))
            elif c.feature == OTHERS:  # already summed on the request path (see ``top_signals``)
                rest.append(c.weight)
                hidden += int(c.value)
            elif content_shown < top and c.weight != 0.0:
                shown.append(Reason(c.text, c.weight))
                content_shown += 1
            else:
                rest.append(c.weight)
                hidden += 1
        if hidden:
            shown.append(Reason(f"{hidden} other signals", math.fsum(rest)))
        if self.intercept != 0.0:
            shown.append(Reason(self.base_text or f"base rate for {self.level}", self.intercept))
        return shown

    def lines(self, top: int = TOP_REASONS) -> list[str]:
        """:meth:`reasons` in plain words with their signs."""
        return [render_reason(r) for r in self.reasons(top)]


def signed(weight: float) -> str:
    """A contribution's sign and size as people read it: ``+1.9``, ``−0.2`` (a real minus), ``+0.04``."""
    digits = 1 if abs(weight) >= 0.095 else 2
    text = f"{abs(weight):.{digits}f}"
    if float(text) == 0.0:
        return "±0"
    return ("+" if weight > 0 else "\u2212") + text


def render_reason(reason: Reason) -> str:
    """One reason in plain words with its signed contribution: ``source says critical +4.0``."""
    return f"{reason.text} {signed(reason.weight)}"


_FOR_WORDS = {
    "0": "it fires at once (no for:)",
    "le1m": "it fires after holding up to 1 min",
    "le5m": "it must hold 1–5 min before firing",
    "le15m": "it must hold 5–15 min before firing",
    "le1h": "it must hold 15–60 min before firing",
    "gt1h": "it must hold over an hour before firing",
}
_RANGE_WORDS = {
    "0": "an instant",
    "le1m": "up to 1 min",
    "le5m": "1–5 min",
    "le15m": "5–15 min",
    "le1h": "15–60 min",
    "gt1h": "over an hour",
}


_LADDER_WORDS = {
    "top": "its thresholds are the strictest of the team's rules named {name}",
    "bottom": "its thresholds are the mildest of the team's rules named {name}",
    "middle": "its thresholds are between the strictest and mildest of the team's rules named {name}",
}


_SIGNALS: dict[str, str] = {}
_SIGNALS_LIMIT = 500_000


def signal_of(feature: str) -> str:
    """The signal a feature carries: one key for every feature that says the same thing to a person."""
    found = _SIGNALS.get(feature)
    if found is None:
        if len(_SIGNALS) >= _SIGNALS_LIMIT:  # features are a model's vocabulary: bounded in practice
            _SIGNALS.clear()
        found = _SIGNALS[feature] = _signal(feature)
    return found


def _signal(feature: str) -> str:
    family, _, rest = feature.partition(":")
    if family in WORD_FAMILIES:
        return f"word:{rest}"
    if family in _CHECK_FAMILIES:
        return "check"
    if family == "gram":
        return "gram"
    if family in ("has", "label"):
        return f"label:{rest.partition('=')[0]}"
    return feature


def describe_signal(signal: str, features: Sequence[str], alert: AlertRecord) -> str:
    """One signal in words, using the features that carry it (``features``) and the alert they came from."""
    kind, _, rest = signal.partition(":")
    if kind == "word":
        return _word_sentence(rest, features, alert)
    if signal == "check":
        return _check_sentence(features)
    if signal == "gram":
        return f"its name is spelt like names seen in training ({len(features)} letter groups)"
    if kind == "label":
        for name in features:
            if name.startswith("label:"):
                return f"it has the label {name.partition(':')[2]}"
        return f"it has a {rest} label"
    if kind == "alert":
        return f"an alert named {alert.alertname} was among the training rules"
    if kind == "ladder":
        return _LADDER_WORDS.get(rest, signal).format(name=alert.alertname)
    if kind == "metric":
        return f"its query reads {rest}"
    if kind == "fn":
        return f"its query uses {rest}()"
    if kind == "op":
        return f"its query uses “{rest}”"
    if kind == "range":
        return f"its query looks back over {_RANGE_WORDS.get(rest, rest)}"
    if kind == "for":
        return _FOR_WORDS.get(rest, f"it must hold {rest} before firing")
    return signal


def _word_sentence(word: str, features: Sequence[str], alert: AlertRecord) -> str:
    places: list[str] = []
    families = {name.partition(":")[0] for name in features}
    in_name = "name" in families or ("tok" in families and word in words(alert.alertname))
    in_text = "text" in families or ("tok" in families and not in_name)
    if in_name:
        places.append("name")
    if in_text:
        places.append("text")
    if "mword" in families:
        places.append("query")
    if not places:  # a topic alone (name and text, counted once more)
        places = ["name", "text"]
    where = " and ".join(places) if len(places) < 3 else "name, text and query"
    verb = "says" if len(places) == 1 else "say"
    return f"its {where} {verb} “{word}”"


def _check_sentence(features: Sequence[str]) -> str:
    for name in features:
        if name.startswith("check:"):
            rest = name.partition(":")[2]
            op = rest[:2] if rest[:2] in (">=", "<=", "==", "!=") else rest[:1]
            return f"it fires when its query is {op} {_threshold_words(rest[len(op) :])}"
    for name in features:
        if name.startswith("thr:"):
            return f"its threshold is {_threshold_words(name.partition(':')[2])}"
    op = next((n.partition(":")[2] for n in features if n.startswith("cmp:")), "?")
    return f"its query compares with {op}"


def _threshold_words(bucket: str) -> str:
    if bucket.startswith("pct"):
        low = int(bucket[3:])
        return f"{low}–{100 if low == 95 else 94 if low == 90 else low + 9}%"
    if bucket.startswith(("e", "nege")):
        sign = "-" if bucket.startswith("neg") else ""
        return f"about {sign}1e{bucket.rsplit('e', 1)[1]}"
    return bucket


def _totals(names: Sequence[str], weights: Sequence[float]) -> tuple[dict[str, float], dict[str, list[str]]]:
    totals: dict[str, float] = {}
    members: dict[str, list[str]] = {}
    for name, weight in zip(names, weights, strict=True):
        key = _SIGNALS.get(name) or signal_of(name)
        if key in totals:
            totals[key] += weight
            members[key].append(name)
        else:
            totals[key] = weight
            members[key] = [name]
    return totals, members


def merge_signals(names: Sequence[str], weights: Sequence[float], alert: AlertRecord) -> list[Contribution]:
    """Per-feature terms added up per signal and put into words, largest first."""
    totals, members = _totals(names, weights)
    order = sorted(totals, key=lambda k: -abs(totals[k]))
    return [
        Contribution(
            feature=key,
            value=float(len(members[key])),
            weight=totals[key],
            text=describe_signal(key, members[key], alert),
        )
        for key in order
    ]


@dataclass(frozen=True, slots=True)
class TopSignals:
    """The ``top`` largest signals in words, and how many others there are and what they add up to."""

    shown: tuple[Contribution, ...]
    others: int
    others_weight: float


def top_signals(
    names: Sequence[str], weights: Sequence[float], alert: AlertRecord, *, top: int
) -> TopSignals:
    """:func:`merge_signals` for the request path: only the ``top`` signals are put into words."""
    import heapq

    totals, members = _totals(names, weights)
    best = heapq.nsmallest(top, totals, key=lambda k: -abs(totals[k]))  # stable: ties keep feature order
    best = [k for k in best if totals[k] != 0.0]
    chosen = set(best)
    rest = [w for k, w in totals.items() if k not in chosen]
    shown = tuple(
        Contribution(
            feature=k,
            value=float(len(members[k])),
            weight=totals[k],
            text=describe_signal(k, members[k], alert),
        )
        for k in best
    )
    return TopSignals(shown=shown, others=len(rest), others_weight=math.fsum(rest))
