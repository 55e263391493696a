"""Turn an alert and its context into sparse features: the one function training and serving share (pure).

Data flow: ``AlertRecord`` + ``ScoringContext`` ─► :func:`alert_features` ─► ``{name: value}`` ─► the model
(``analytics.model``). Pure; no I/O. Feature names are namespaced by a prefix (``name:``, ``text:``,
``sev:``, ``label:``, ``metric:``, ``fn:``, ``ctx:`` …) so that :func:`describe_feature` can put each one
into plain words for "why was this flagged?".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from analytics.burst import context_burst
from analytics.records import AlertRecord
from analytics.scoring import SEVERITY_LABELS, ScoringContext, map_severity, source_severity

FeatureDict = dict[str, float]

# Label keys whose values and presence are features in their own right.
KEY_LABELS: tuple[str, ...] = ("service", "namespace", "job", "env", "cluster")
# Labels that identify one instance rather than a kind of alert: presence only, never the value.
INSTANCE_LABELS = frozenset(
    {
        "alertname",
        "instance",
        "pod",
        "pod_name",
        "container_id",
        "ip",
        "node",
        "host",
        "hostname",
        "uid",
        "fingerprint",
        "id",
        "device",
        "mountpoint",
        "address",
        "target",
        "url",
        "endpoint",
        "name",
        "meta",
        "description",
        "summary",
        "playbook",
        "dashboard",
        "runbook",
        "runbook_url",
    }
)
ENV_WORDS: Mapping[str, str] = {
    "prod": "prod",
    "production": "prod",
    "prd": "prod",
    "live": "prod",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "preprod": "staging",
    "qa": "staging",
    "dev": "dev",
    "development": "dev",
    "test": "dev",
    "testing": "dev",
    "sandbox": "dev",
    "ci": "dev",
}
STOPWORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "than",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "value",
        "labels",
        "label",
        "instance",
        "templated",
        "more",
        "less",
        "over",
        "under",
        "not",
        "no",
    )
)
PROMQL_FUNCTIONS = frozenset(
    (
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
    )
)

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[(\d+)([smhdwy])(?::\d*[smhdwy]?)?\]")
_COMPARISON = re.compile(r"(>=|<=|==|!=|>|<)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", re.IGNORECASE)
_PERCENT = re.compile(r"\*\s*100\b|\b100\s*\*|percent|ratio", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_MINUTES = {"ms": 1 / 60000, "s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0, "y": 525600.0}
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)


# Query-structure features (metric names and their words, functions, operators, windows) are noisier than
# the wording of an alert: they carry half the value, chosen by grouped cross-validation on real rule files.
STRUCTURE_VALUE = 0.5


@dataclass(frozen=True, slots=True)
class FeatureOptions:
    """Switches of the feature function; stored with a trained model so serving uses the same ones.

    ``include_source_severity`` is False when evaluating on rule files, where the severity label is the
    target: the model must then learn from name, query, duration, labels and annotations alone.
    """

    include_source_severity: bool = True
    include_time: bool = True
    include_context: bool = True
    # Word stems beside the words ("restarted", "restarting" → "restart"). Off: on the real rule files it
    # helped one source and cost another (see analytics/evaluate.py's notes), so it stays an option.
    stems: bool = False
    # Value of the alert name's character 4-grams ("ProcessRestarting" shares "star", "tart" with
    # "ApacheRestart"); 0 leaves them out. ``analytics.evaluate`` picks it inside each training fold among
    # NAME_GRAM_CHOICES. Off by default: on the bundled catalogue, whose names are templates filled with
    # component names, grouped 5-fold CV gives macro-F1 0.523 / 0.515 / 0.485 for 0 / 0.5 / 1.
    name_grams: float = 0.0


DEFAULT_OPTIONS = FeatureOptions()


_TOKEN_WORDS: dict[str, tuple[str, ...]] = {}
_TOKEN_CACHE_LIMIT = 200_000


def _token_words(token: str) -> tuple[str, ...]:
    """Words of one whitespace-free token (camelCase and snake_case split, filtered), memoised."""
    found = _TOKEN_WORDS.get(token)
    if found is None:
        if token.islower() or (token.isalpha() and token.isupper()):
            pieces = _WORD.findall(token.lower().replace("_", " "))
        else:
            pieces = _WORD.findall(_CAMEL.sub(" ", token).lower().replace("_", " "))
        found = tuple(w for w in pieces if len(w) > 1 and w not in STOPWORDS)
        if len(_TOKEN_WORDS) >= _TOKEN_CACHE_LIMIT:  # rendered values (IPs, numbers) never repeat
            _TOKEN_WORDS.clear()
        _TOKEN_WORDS[token] = found
    return found


def words(text: str) -> tuple[str, ...]:
    """Lower-case words of a text, camelCase and snake_case split, templates and stopwords removed.

    This runs for every alert's freshly rendered annotations, so after templates are removed the text is
    cut at whitespace (no word, camelCase boundary or snake_case part spans it) and each token's words
    are memoised: the words of a rendered text are those of its tokens, in order, without repeats.
    """
    if "{{" in text:
        text = _TEMPLATE.sub(" ", text)
    seen: dict[str, None] = {}
    for token in text.split():
        for word in _token_words(token):
            seen[word] = None
    return tuple(seen)


def duration_minutes(text: str | None) -> float | None:
    """Minutes in a Prometheus duration (``"5m"``, ``"1h30m"``); ``None`` when absent or unreadable."""
    if not text:
        return None
    parts = _DURATION_PART.findall(text.strip())
    if not parts:
        return None
    return sum(float(n) * _UNIT_MINUTES[unit] for n, unit in parts)


def _for_bucket(minutes: float) -> str:
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
    if percent and 0 < value <= 100:
        return f"pct{int(value // 10 * 10)}" if value < 95 else "pct95"
    magnitude = math.floor(math.log10(abs(value)))
    return f"{'neg' if value < 0 else ''}e{magnitude}"


@lru_cache(maxsize=4096)
def expression_features(expr: str) -> tuple[tuple[str, float], ...]:
    """Features of a PromQL expression: metric names and their words, functions, comparison, threshold."""
    out: dict[str, float] = {}
    code = "\n".join(line.split("#", 1)[0] for line in expr.splitlines())
    code = _STRING.sub(" ", code)
    for number, unit in _RANGE.findall(code):
        out[f"range:{_for_bucket(float(number) * _UNIT_MINUTES[unit])}"] = STRUCTURE_VALUE
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


def expression_of(alert: AlertRecord) -> str | None:
    """The alert's PromQL expression, or the one in a Prometheus generator URL (``g0.expr=``)."""
    if alert.expression:
        return alert.expression
    url = alert.generator_url
    if url and "expr=" in url:
        query = parse_qs(urlsplit(url).query)
        for key, values in query.items():
            if key.endswith("expr") and values:
                return values[0]
    return None


def _env_class(labels: Mapping[str, str]) -> str | None:
    for key in ("env", "environment", "stage", "tier", "cluster", "namespace"):
        value = labels.get(key)
        if not value:
            continue
        for word in words(value):
            env = ENV_WORDS.get(word)
            if env:
                return env
    return None


_SUFFIXES = (
    "izations",
    "ization",
    "isations",
    "isation",
    "ations",
    "ation",
    "ings",
    "ing",
    "ions",
    "ion",
    "ures",
    "ure",
    "ed",
    "es",
    "s",
    "ly",
)


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """A light suffix-stripping stem: ``restarted``/``restarting``/``restarts`` → ``restart``."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):  # process, status, analysis
                return word
            return word[: -len(suffix)]
    return word


def _with_stems(found: tuple[str, ...], stems: bool) -> tuple[str, ...]:
    if not stems:
        return found
    return tuple(dict.fromkeys([w for word in found for w in (word, stem(word))]))


@lru_cache(maxsize=8192)
def name_grams(name: str) -> tuple[str, ...]:
    """Character 4-grams of each word of an alert name, word boundaries marked with ``<`` and ``>``."""
    grams: dict[str, None] = {}
    for word in words(name):
        marked = f"<{word}>"
        for i in range(len(marked) - 3):
            grams.setdefault(marked[i : i + 4], None)
    return tuple(grams)


@lru_cache(maxsize=16384)
def _wording_names(name: str, summary: str, description: str, stems: bool = False) -> tuple[str, ...]:
    """Name identity and words, annotation words, and topic words (in two of name, summary, description)."""
    name_words = _with_stems(words(name), stems)
    summary_words = _with_stems(words(summary), stems) if summary else ()
    description_words = _with_stems(words(description), stems) if description else ()
    text_words = dict.fromkeys([*summary_words, *description_words])
    # A topic is a word in two of name, summary, description (plain dicts: Counter's ABC checks cost more
    # than the counting on this path, which runs for every alert with freshly rendered annotations).
    counts = dict.fromkeys(name_words, 1)
    for word in text_words:
        counts[word] = counts.get(word, 0) + 1
    for word in set(summary_words).intersection(description_words):
        counts[word] += 1
    return (
        f"alert:{name.lower()}",
        *(f"name:{w}" for w in name_words),
        *(f"text:{w}" for w in text_words),
        *(f"topic:{w}" for w, c in counts.items() if c >= 2),
    )


@lru_cache(maxsize=16384)
def _label_names(key: str, value: str) -> tuple[str, ...]:
    lkey = key.lower()
    if lkey in SEVERITY_LABELS or lkey in INSTANCE_LABELS:
        return ()
    if value and len(value) <= 40 and " " not in value and "{" not in value:
        return (f"has:{lkey}", f"label:{lkey}={value.lower()}")
    return (f"has:{lkey}",)


_SKIPPED_LABELS = INSTANCE_LABELS | frozenset(SEVERITY_LABELS)


def _label_features(labels: Mapping[str, str], out: FeatureDict) -> None:
    for key, value in labels.items():
        if key in _SKIPPED_LABELS:  # per-instance values (pod, instance) would only churn the cache
            continue
        for name in _label_names(key, value):
            out[name] = 1.0
    env = _env_class(labels)
    if env:
        out[f"env:{env}"] = 1.0


def _time_features(started: datetime, out: FeatureDict) -> None:
    hour = started.hour
    part = "night" if hour < 6 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    out[f"hour:{part}"] = 1.0
    out["day:weekend" if started.weekday() >= 5 else "day:weekday"] = 1.0


def _context_features(context: ScoringContext, out: FeatureDict) -> None:
    if context.service_criticality:
        out[f"ctx:criticality={context.service_criticality.strip().lower()}"] = 1.0
    if context.service_alerts_5m or context.service_alerts_60m:
        burst = context_burst(context)
        if burst.ratio > 1.0:
            out["ctx:rate_ratio"] = min(math.log2(burst.ratio), 8.0) / 4.0
        if burst.surprise > 0:
            out["ctx:burst"] = burst.surprise / 10.0
    if context.group_alerts_5m > 1:
        out["ctx:group_5m"] = math.log2(context.group_alerts_5m) / 4.0
    if context.group_alerts_60m > 1:
        out["ctx:group_60m"] = math.log2(context.group_alerts_60m) / 4.0
    if context.flapping:
        out["ctx:flapping"] = 1.0
    if context.duplicates > 0:
        out["ctx:duplicates"] = math.log2(1 + context.duplicates) / 4.0
    total = sum(count for count in context.past_ratings.values() if count > 0)
    if total > 0:
        confidence = total / (total + 2.0)
        for rated, count in context.past_ratings.items():
            mapped = map_severity(rated)
            if mapped is not None and count > 0:
                key = f"ctx:rated={mapped.value}"
                out[key] = out.get(key, 0.0) + confidence * count / total


def alert_features(
    alert: AlertRecord,
    context: ScoringContext | None = None,
    *,
    options: FeatureOptions = DEFAULT_OPTIONS,
) -> FeatureDict:
    """The sparse features of one alert in its context (see the module docstring for the families)."""
    annotations = alert.annotations
    summary = annotations.get("summary") or annotations.get("title") or annotations.get("message") or ""
    name = alert.alertname
    out: FeatureDict = dict.fromkeys(
        _wording_names(name, summary, annotations.get("description") or "", options.stems), 1.0
    )
    if options.name_grams:
        for gram in name_grams(name):
            out[f"gram:{gram}"] = options.name_grams
    if options.include_source_severity:
        said = source_severity(alert.labels)
        if said:
            out[f"sev:{said.strip().lower()}"] = 1.0
            mapped = map_severity(said)
            out[f"sevmap:{mapped.value if mapped else 'unknown'}"] = 1.0
    _label_features(alert.labels, out)
    expr = expression_of(alert)
    if expr:
        out.update(expression_features(expr))
    for_value = alert.values.get("for")
    minutes = duration_minutes(for_value) if isinstance(for_value, str) else None
    if minutes is not None:
        out[f"for:{_for_bucket(minutes)}"] = 1.0
    if options.include_time and alert.starts_at is not None:
        _time_features(alert.starts_at, out)
    if options.include_context and context is not None:
        _context_features(context, out)
    return out


def batch_features(
    items: Iterable[tuple[AlertRecord, ScoringContext | None]], *, options: FeatureOptions = DEFAULT_OPTIONS
) -> list[FeatureDict]:
    """:func:`alert_features` over many (alert, context) pairs."""
    return [alert_features(alert, context, options=options) for alert, context in items]


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
