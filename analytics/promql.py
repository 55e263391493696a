"""PromQL read as features: metric names and their words, functions, windows, the comparison (pure).

An alert's query says what it watches and where it fires; :func:`expression_features` reads that without a
PromQL parser (rule files in the wild hold templates, comments and vendor extensions a parser would refuse).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from analytics.records import AlertRecord
from analytics.text import words

PROMQL_FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "count_over_time",
        "day_of_week",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_quantile",
        "holt_winters",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "ln",
        "log2",
        "log10",
        "max_over_time",
        "min_over_time",
        "predict_linear",
        "quantile_over_time",
        "rate",
        "resets",
        "round",
        "scalar",
        "sort",
        "sort_desc",
        "stddev_over_time",
        "sum_over_time",
        "time",
        "timestamp",
        "vector",
        "last_over_time",
        "present_over_time",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ]
)

# Expressions come from alerts (generatorURL) and run inside the write transaction: every pattern here is
# linear time and an expression is cut to MAX_EXPRESSION characters first (the real rules' longest is 3,247).
MAX_EXPRESSION = 8192

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_QUOTE = re.compile(r"[\"'`]")
# What a quoted string holds after its opening quote (possessive: the first way is the only way).
_STRING_BODY = {'"': re.compile(r'(?:[^"\\]|\\.)*+'), "'": re.compile(r"(?:[^'\\]|\\.)*+")}
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[(\d+)([smhdwy])(?::\d*[smhdwy]?)?\]")
_COMPARISON = re.compile(r"(>=|<=|==|!=|>|<)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", re.IGNORECASE)
_PERCENT = re.compile(r"\*\s*100\b|\b100\s*\*|percent|ratio", re.IGNORECASE)
# A part starts where a run of digits starts: a match from inside a run would also match from its start,
# so this finds the same parts as without the look-behind, without retrying every digit of a long run.
_DURATION_PART = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_MINUTES = {"ms": 1 / 60000, "s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0, "y": 525600.0}
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)


# Query-structure features (metric names and their words, functions, operators, windows) are noisier than
# the wording of an alert: they carry half the value, chosen by grouped cross-validation on real rule files.
STRUCTURE_VALUE = 0.5


def duration_minutes(text: str | None) -> float | None:
    """Minutes in a Prometheus duration (``"5m"``, ``"1h30m"``); ``None`` when absent or unreadable."""
    if not text:
        return None
    parts = _DURATION_PART.findall(text.strip())
    if not parts:
        return None
    return sum(float(n) * _UNIT_MINUTES[unit] for n, unit in parts)


def for_bucket(minutes: float) -> str:
    if minutes <= 0:
        return "0"
    if minutes <= 1:
        return "le1m"
    if minutes <= 5:
        return "le5m"
    if minutes <= 15:
        return "le15m"
    if minutes <= 60:
        return "le1h"
    return "gt1h"


def _threshold_bucket(value: float, percent: bool) -> str:
    if value == 0:
        return "0"
    if not math.isfinite(value):  # 1e999 reads as infinity
        return "neginf" if value < 0 else "inf"
    if percent and 0 < value <= 100:
        return f"pct{int(value // 10 * 10)}" if value < 95 else "pct95"
    magnitude = math.floor(math.log10(abs(value)))
    return f"{'neg' if value < 0 else ''}e{magnitude}"


@lru_cache(maxsize=4096)
def expression_features(expr: str) -> tuple[tuple[str, float], ...]:
    """Features of a PromQL expression: metric names and their words, functions, comparison, threshold."""
    out: dict[str, float] = {}
    code = "\n".join(line.split("#", 1)[0] for line in expr[:MAX_EXPRESSION].splitlines())
    code = blank_strings(code)
    for number, unit in _RANGE.findall(code):
        out[f"range:{for_bucket(float(number) * _UNIT_MINUTES[unit])}"] = STRUCTURE_VALUE
    bare = _MATCHERS.sub(" ", _RANGE.sub(" ", code))
    for clause in _GROUPING.findall(bare):
        out[f"op:{clause.lower()}"] = STRUCTURE_VALUE
    bare = _GROUPING.sub(" ", bare)
    for match in _IDENT.finditer(bare):
        ident = match.group(0)
        lower = ident.lower()
        if match.start() > 0 and (bare[match.start() - 1].isdigit() or bare[match.start() - 1] == "."):
            continue  # the exponent of a number such as 1e3
        if bare[match.end() :].lstrip().startswith("("):
            if lower in PROMQL_FUNCTIONS:
                out[f"fn:{lower}"] = STRUCTURE_VALUE
        elif lower in _KEYWORDS:
            out[f"op:{lower}"] = STRUCTURE_VALUE
        else:
            out[f"metric:{lower}"] = STRUCTURE_VALUE
            for word in words(ident):
                out[f"mword:{word}"] = STRUCTURE_VALUE
    comparisons = _COMPARISON.findall(code)
    if comparisons:
        op, number = comparisons[-1]
        out[f"cmp:{op}"] = 1.0
        value = float(number)
        percent = bool(_PERCENT.search(code))
        bucket = _threshold_bucket(value, percent)
        out[f"thr:{bucket}"] = 1.0
        out[f"check:{op}{bucket}"] = 1.0
    return tuple(sorted(out.items()))


def blank_strings(code: str) -> str:
    """Each string literal (``"…"`` and ``'…'`` with backslash escapes, ```…```) replaced by a space.

    The same as ``re.sub(r'"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`', " ", code)``, in linear time:
    that regex retries every later quote of an unclosed string, each time to the end of the text. Here a
    string that does not close marks where the scan failed, and quotes of its kind before that point are
    not tried again (each of them was escaped inside it, so it fails the same way).
    """
    parts: list[str] = []
    done = start = 0
    failed: dict[str, int] = {}  # quote → openers of this kind before this index cannot close
    while (found := _QUOTE.search(code, start)) is not None:
        opener = found.start()
        quote = code[opener]
        start = opener + 1
        if opener < failed.get(quote, -1):
            continue
        if quote == "`":
            end = code.find("`", opener + 1)
            stop = end if end >= 0 else len(code)
        else:
            body = _STRING_BODY[quote].match(code, opener + 1)
            stop = body.end() if body else opener + 1
            end = stop if stop < len(code) and code[stop] == quote else -1
        if end < 0:
            failed[quote] = stop
            continue
        parts += (code[done:opener], " ")
        done = start = end + 1
    if not parts:
        return code
    parts.append(code[done:])
    return "".join(parts)


def expression_of(alert: AlertRecord) -> str | None:
    """The alert's PromQL expression, or the one in a Prometheus generator URL (``g0.expr=``)."""
    return expression_of_parts(alert.expression, alert.generator_url)


def expression_of_parts(expression: str | None, url: str | None) -> str | None:
    """:func:`expression_of` from the two fields it reads."""
    if expression:
        return expression
    if url and "expr=" in url:
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:  # not a URL (e.g. "http://[::1/graph"): no expression
            return None
        for key, values in query.items():
            if key.endswith("expr") and values:
                return values[0]
    return None
