"""Rule ladders: a team's rules of one alert name that differ in their thresholds (pure).

Teams often write one alert twice or more, at rising thresholds: ``NodeFileDescriptorLimit`` as a warning
above 70 % and as critical above 90 %, a certificate that expires within a week (warning) and within a
day (critical). The two rules share their name and wording, so no model of one alert can tell them apart;
what tells them apart is the rule file itself: which of the rules named alike fires on the stricter
threshold. A :class:`Ladders` index, built from the rules a team model is trained on (``sevbot model
train --rules``: alert names and their thresholds, no other text and no level), puts each alert of such a
name on one rung: ``ladder:top`` (its thresholds are the strictest of its name's rules), ``ladder:bottom``
(the mildest) or ``ladder:middle``. What the rungs are worth is chosen with the rest of the team's model
(``analytics.paging``); the top rung may only raise urgency and the bottom rung only lower it
(``analytics.fitting.project_monotone``).

A threshold is what follows a comparison: ``> 90`` is stricter when higher, ``< 86400`` stricter when
lower. Between the operator and the number may stand ``bool`` and opening brackets; the number may carry a
sign and be a product or quotient of numbers (``> (14.4 * 0.001)``, ``< 7 * 24 * 3600``). Anything else
after a comparison (a metric, a function) is no threshold, and neither is a number left of a comparison
(rare, and often a factor as in ``x * 100 > 90``), nor ``==``. Two rules compare only when they have as
many thresholds with the same directions; their order is what every differing threshold agrees on, and
no order when they disagree or none differ (rules that differ only in a label matcher or in ``for`` are
no ladder).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.promql import MAX_EXPRESSION, blank_strings, expression_of_parts
from analytics.records import AlertRecord

LADDER_PREFIX = "ladder:"
TOP, MIDDLE, BOTTOM = "ladder:top", "ladder:middle", "ladder:bottom"
# A name with more rules than this is a family of different checks, not a ladder: no rung.
MAX_RUNGS = 8

_RANGE = re.compile(r"\[[^\[\]]*\]")
# A comparison (not part of "=~", "!=", "==") and what may stand before its number.
_COMPARISON = re.compile(r"(>=|<=|>|<)(?!=)(?:\s*bool\b)?[\s(]*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?(?![\w.])", re.IGNORECASE)
_FACTOR = re.compile(r"\s*([*/])[\s(]*")
_SIGN = {">": 1, ">=": 1, "<": -1, "<=": -1}
_MAX_FACTORS = 8

Thresholds = tuple[tuple[float, int], ...]  # (value, +1 stricter when higher / −1 when lower)


def thresholds(expression: str) -> Thresholds:
    """The thresholds of a PromQL expression with their directions, in order (see the module docstring)."""
    return _thresholds(expression[:MAX_EXPRESSION])


@lru_cache(maxsize=4096)
def _thresholds(expression: str) -> Thresholds:
    code = _RANGE.sub(" ", blank_strings(expression))  # strings first: a "#" in a string is no comment
    code = "\n".join(line.split("#", 1)[0] for line in code.splitlines())
    out: list[tuple[float, int]] = []
    for comparison in _COMPARISON.finditer(code):
        value = _value_at(code, comparison.end())
        if value is not None:
            out.append((value, _SIGN[comparison.group(1)]))
    return tuple(out)


def _value_at(code: str, position: int) -> float | None:
    """The number (or product/quotient of numbers) that starts at ``position``; None when there is none."""
    number = _NUMBER.match(code, position)
    if number is None:
        return None
    value = float(number.group(0))
    end = number.end()
    for _ in range(_MAX_FACTORS):
        operator = _FACTOR.match(code, end)
        following = _NUMBER.match(code, operator.end()) if operator else None
        if operator is None or following is None:
            break
        factor = float(following.group(0))
        if operator.group(1) == "*":
            value *= factor
        elif factor != 0.0:
            value /= factor
        else:
            return None
        end = following.end()
    return value if math.isfinite(value) else None


def order(a: Thresholds, b: Thresholds) -> int | None:
    """+1 when ``a`` is stricter than ``b``, −1 when milder; 0 when they do not differ; None: no order."""
    if len(a) != len(b) or not a or any(da != db for (_, da), (_, db) in zip(a, b, strict=True)):
        return None
    votes = {(1 if va > vb else -1) * da for (va, da), (vb, _) in zip(a, b, strict=True) if va != vb}
    if not votes:
        return 0
    return votes.pop() if len(votes) == 1 else None


def _ordered(rungs: Sequence[Thresholds]) -> bool:
    """True when some two of ``rungs`` are in order (the name is a ladder, not rules of one threshold)."""
    return any(order(a, b) in (1, -1) for i, a in enumerate(rungs) for b in rungs[i + 1 :])


# Rungs looked up per (name, query, URL) are kept; an alert with a longer query or URL is read each time.
_RUNG_CACHE_SIZE = 4096
_RUNG_CACHE_INPUT = 16384


@dataclass(frozen=True)
class Ladders:
    """Alert name → the thresholds of each of the team's rules of that name, for names that are ladders
    (two to :data:`MAX_RUNGS` rules, some two of them in order)."""

    rungs: Mapping[str, tuple[Thresholds, ...]]
    _seen: dict[tuple[str, str | None, str | None], str | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, alerts: Iterable[AlertRecord]) -> Ladders:
        """The index of the rules ``alerts`` stand for (a team's rule files; feedback alerts are no rules)."""
        found: dict[str, set[Thresholds]] = {}
        for alert in alerts:
            expr = expression_of_parts(alert.expression, alert.generator_url)
            if expr:
                found.setdefault(alert.alertname, set()).add(thresholds(expr))
        ladders = {}
        for name, rungs in sorted(found.items()):
            ordered = tuple(sorted(rungs))
            if 2 <= len(ordered) <= MAX_RUNGS and _ordered(ordered):
                ladders[name] = ordered
        return cls(ladders)

    def __bool__(self) -> bool:
        return bool(self.rungs)

    def rung(self, alert: AlertRecord) -> str | None:
        """``ladder:top``, ``ladder:middle``, ``ladder:bottom``, or None when the alert is on no ladder."""
        rungs = self.rungs.get(alert.alertname)
        if not rungs:
            return None
        key = (alert.alertname, alert.expression, alert.generator_url)
        try:  # one lookup: another thread may clear the cache between a check and a read
            return self._seen[key]
        except KeyError:
            pass
        found = _rung(rungs, expression_of_parts(alert.expression, alert.generator_url))
        if len(alert.expression or "") + len(alert.generator_url or "") <= _RUNG_CACHE_INPUT:
            if len(self._seen) >= _RUNG_CACHE_SIZE:
                self._seen.clear()
            self._seen[key] = found
        return found

    def features(self, alert: AlertRecord) -> dict[str, float]:
        rung = self.rung(alert)
        return {rung: 1.0} if rung else {}

    def to_json(self) -> dict[str, list[list[list[float]]]]:
        return {name: [[[v, d] for v, d in rung] for rung in rungs] for name, rungs in self.rungs.items()}

    @classmethod
    def from_json(cls, data: Any) -> Ladders:
        """The index as :meth:`to_json` wrote it; ``ValueError`` naming what is wrong otherwise."""
        if not isinstance(data, Mapping):
            raise ValueError("ladders must be an object of alert names")
        out: dict[str, tuple[Thresholds, ...]] = {}
        for name, rungs in data.items():
            if not isinstance(name, str) or not isinstance(rungs, list) or not 2 <= len(rungs) <= MAX_RUNGS:
                raise ValueError(f"ladder {name!r} must be a list of 2 to {MAX_RUNGS} rules' thresholds")
            out[name] = tuple(_thresholds_from_json(name, rung) for rung in rungs)
        return cls(out)


def _thresholds_from_json(name: str, rung: Any) -> Thresholds:
    if not isinstance(rung, list):
        raise ValueError(f"ladder {name!r}: a rule's thresholds must be a list")
    out = []
    for pair in rung:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError(f"ladder {name!r}: a threshold must be [value, direction]")
        value, direction = pair
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"ladder {name!r}: a threshold's value must be a finite number")
        if isinstance(direction, bool) or direction not in (-1, 1) or not isinstance(direction, int):
            raise ValueError(f"ladder {name!r}: a threshold's direction must be a directed number, 1 or -1")
        out.append((float(value), int(direction)))
    return tuple(out)


def _rung(rungs: Sequence[Thresholds], expr: str | None) -> str | None:
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


def rung_values(ladders: Ladders | None, alerts: Sequence[AlertRecord]) -> NDArray[np.float64]:
    """Per alert: +1 on a ladder's top rung, −1 on its bottom rung, 0 otherwise (the page rule's input)."""
    out = np.zeros(len(alerts))
    if ladders:
        for i, alert in enumerate(alerts):
            rung = ladders.rung(alert)
            out[i] = 1.0 if rung == TOP else -1.0 if rung == BOTTOM else 0.0
    return out
