"""Rule ladders: a team's rules of one alert name that differ in their thresholds (pure).

Teams often write one alert twice or more, at rising thresholds: ``NodeFileDescriptorLimit`` as a warning
above 70 % and as critical above 90 %, a certificate that expires within a week (warning) and within a
day (critical). The two rules share their name and wording, so no model of one alert can tell them apart;
what tells them apart is the rule file itself: which of the rules named alike fires on the stricter
threshold. A :class:`Ladders` index, built from a team's rule files (``sevbot model train --rules``), gives
each alert of such a name one feature: ``ladder:top`` (its thresholds are the strictest of its name's
rules), ``ladder:bottom`` (the mildest) or ``ladder:middle``. What each is worth is learned with the rest
of the team's model; the top rung may only raise urgency and the bottom rung only lower it
(``analytics.fitting.is_monotone_feature``).

Direction of a threshold: a number right after ``>``/``>=`` (opening brackets between are allowed, as in
``> (14.4 * 0.001)``) is stricter when higher; after ``<``/``<=`` when lower. Other numbers (function
arguments, factors, ``==``, a number left of a comparison, which is rare and often a factor as in
``x * 100 > 90``) say nothing. Two rules
compare only when they have as many directed numbers; their order is what every differing directed number
agrees on, and no order when they disagree or none differ (rules that differ only in a label matcher or in
``for`` are no ladder).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from analytics.promql import MAX_EXPRESSION, blank_strings, expression_of_parts
from analytics.records import AlertRecord

LADDER_PREFIX = "ladder:"
TOP, MIDDLE, BOTTOM = "ladder:top", "ladder:middle", "ladder:bottom"
# A name with more rules than this is a family of different checks, not a ladder: no feature.
MAX_RUNGS = 8

# Numbers, not digits inside names or durations ("5m", "p99", "1e3" is one number).
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w.])", re.IGNORECASE)
_RANGE = re.compile(r"\[[^\[\]]*\]")
_BEFORE = re.compile(r"(>=|<=|>|<)[\s(]*$")
_SIGN = {">": 1, ">=": 1, "<": -1, "<=": -1}
_LOOK = 24  # characters before a number read for its comparison

Thresholds = tuple[tuple[float, int], ...]  # (value, +1 stricter when higher / −1 when lower)


@lru_cache(maxsize=4096)
def thresholds(expression: str) -> Thresholds:
    """The directed numbers of a PromQL expression, in order (see the module docstring)."""
    code = "\n".join(line.split("#", 1)[0] for line in expression[:MAX_EXPRESSION].splitlines())
    code = _RANGE.sub(" ", blank_strings(code))
    out: list[tuple[float, int]] = []
    for match in _NUMBER.finditer(code):
        before = _BEFORE.search(code[max(0, match.start() - _LOOK) : match.start()])
        if before:
            out.append((float(match.group(1)), _SIGN[before.group(1)]))
    return tuple(out)


def order(a: Thresholds, b: Thresholds) -> int | None:
    """+1 when ``a`` is stricter than ``b``, −1 when milder; 0 when they do not differ; None: no order."""
    if len(a) != len(b) or not a or any(da != db for (_, da), (_, db) in zip(a, b, strict=True)):
        return None
    votes = {(1 if va > vb else -1) * da for (va, da), (vb, _) in zip(a, b, strict=True) if va != vb}
    if not votes:
        return 0
    return votes.pop() if len(votes) == 1 else None


@dataclass(frozen=True)
class Ladders:
    """Alert name → the thresholds of each of the team's rules of that name (only names with two or more)."""

    rungs: Mapping[str, tuple[Thresholds, ...]]

    @classmethod
    def of(cls, alerts: Iterable[AlertRecord]) -> Ladders:
        """The index of the rules ``alerts`` stand for (a team's rule files; feedback alerts are no rules)."""
        found: dict[str, set[Thresholds]] = {}
        for alert in alerts:
            expr = expression_of_parts(alert.expression, alert.generator_url)
            if expr:
                found.setdefault(alert.alertname, set()).add(thresholds(expr))
        return cls(
            {
                name: tuple(sorted(rungs))
                for name, rungs in sorted(found.items())
                if 2 <= len(rungs) <= MAX_RUNGS
            }
        )

    def __bool__(self) -> bool:
        return bool(self.rungs)

    def rung(self, alert: AlertRecord) -> str | None:
        """``ladder:top``, ``ladder:middle``, ``ladder:bottom``, or None when the alert is on no ladder."""
        rungs = self.rungs.get(alert.alertname)
        if not rungs:
            return None
        expr = expression_of_parts(alert.expression, alert.generator_url)
        if not expr:
            return None
        own = thresholds(expr)
        orders = {order(own, other) for other in rungs}
        orders.discard(0)  # itself, or a rule of the same thresholds
        orders.discard(None)  # a rule of other thresholds altogether
        if not orders:
            return None
        if orders == {1}:
            return TOP
        if orders == {-1}:
            return BOTTOM
        return MIDDLE

    def features(self, alert: AlertRecord) -> dict[str, float]:
        rung = self.rung(alert)
        return {rung: 1.0} if rung else {}

    def to_json(self) -> dict[str, list[list[list[float]]]]:
        return {name: [[[v, d] for v, d in rung] for rung in rungs] for name, rungs in self.rungs.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, list[list[list[float]]]]) -> Ladders:
        return cls(
            {
                str(name): tuple(tuple((float(v), int(d)) for v, d in rung) for rung in rungs)
                for name, rungs in data.items()
            }
        )


NO_LADDERS = Ladders({})


def rung_values(ladders: Ladders | None, alerts: Sequence[AlertRecord]) -> NDArray[np.float64]:
    """Per alert: +1 on a ladder's top rung, −1 on its bottom rung, 0 otherwise (the page rule's input)."""
    out = np.zeros(len(alerts))
    if ladders:
        for i, alert in enumerate(alerts):
            rung = ladders.rung(alert)
            out[i] = 1.0 if rung == TOP else -1.0 if rung == BOTTOM else 0.0
    return out
