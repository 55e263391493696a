"""Hypothesis strategies for hostile input: the three webhook shapes with any field wrong, crafted or
missing, bodies that are barely JSON, and the read API's query parameters.

Each strategy keeps the shape of the real payload most of the time (so the fuzzer gets past validation and
into normalizing, scoring, grouping and storage) and puts in what the fuzzing of issue 16 found: offsets
that leave the range of times, URLs that do not parse, thresholds and integers beyond 64 bits, NaN, deep
nesting, lone surrogates and NUL, runs of digits, unclosed templates and strings.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "\ud83d",  # a lone surrogate: json.dumps writes it as the escape JavaScript would
    "\udc00x",
    "😀",
    "\u202e",
    "{{ $labels.instance }}",
    "{{" * 300,
    '"\\' * 300,
    "-a" * 500,
    "a." * 500,
    "<!channel>",
    "http://[::1/graph?g0.expr=up",
    "http://prometheus:9090/graph?g0.expr=up+%3E+1e999",
    "http://prometheus:9090/graph?g0.expr=sum%28rate%28x%5B5m%5D%29%29+%3E+0.05",
    "password=hunter2",
    "9" * 400,
    "critical",
    "SEV1",
]
SPECIAL_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2026-11-20T08:00:00Z",
    "2026-11-20T08:00:00",
    "yesterday",
    "",
]


def _digits(key: int) -> str:
    """4,096 random digits (drawn from a seed: hypothesis drawing each one would be slow)."""
    return "".join(random.Random(key).choices("0123456789", k=4096))


texts = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.text(max_size=40),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=20),  # surrogates and NUL too
    st.integers(0, 2**32).map(_digits),  # the writer stall's runs of digits
    st.text(alphabet="{}\"'`\\()[]<>=~!$ .-_a1", max_size=200),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.builds(lambda e: 10**e, st.integers(0, 450)),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(texts, numbers, st.booleans(), st.none())
wrong = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(texts, scalars, max_size=3))


def _time(moment: datetime, minutes: int) -> str:
    zone = timezone(timedelta(minutes=minutes))
    try:
        return moment.replace(tzinfo=zone).isoformat()
    except (OverflowError, ValueError):
        return moment.isoformat()


good_times = st.builds(lambda d: d.isoformat().replace("+00:00", "Z"), st.datetimes(timezones=st.just(UTC)))
times = st.one_of(
    good_times,
    good_times,
    good_times,
    st.sampled_from(SPECIAL_TIMES),
    st.builds(
        _time,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
        st.integers(-1439, 1439),
    ),
    numbers,
)


def sometimes(share: int) -> st.SearchStrategy[bool]:
    """True about ``share`` times in a hundred (hypothesis favours the ends of a range, so a middle band)."""
    return st.integers(0, 99).map(lambda i: 40 <= i < 40 + share)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``value``; about one time in fifteen anything else (a wrong type, a crafted value)."""
    return sometimes(7).flatmap(lambda odd: wrong if odd else value)


label_maps = st.dictionaries(texts, texts, max_size=8)
labels = maybe(label_maps)
statuses = maybe(st.sampled_from(["firing", "resolved"]))


@st.composite
def shaped(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """A mapping with these fields, each drawn, some left out, sometimes an unknown one added."""
    out: dict[str, Any] = {}
    for name, strategy in fields.items():
        if not draw(sometimes(3)):  # a field is left out now and then
            out[name] = draw(strategy)
    if draw(sometimes(5)):
        out[draw(texts)] = draw(wrong)
    return out


am_alerts = shaped(
    {
        "status": statuses,
        "labels": maybe(st.builds(lambda extra, name: {"alertname": name, **extra}, label_maps, texts)),
        "annotations": labels,
        "startsAt": times,
        "endsAt": times,
        "generatorURL": maybe(texts),
        "fingerprint": maybe(texts),
    }
)
am_payloads = shaped(
    {
        "version": maybe(st.just("4")),
        "groupKey": maybe(texts),
        "truncatedAlerts": maybe(st.integers(0, 10)),
        "status": statuses,
        "receiver": maybe(texts),
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": labels,
        "externalURL": maybe(texts),
        "alerts": st.lists(am_alerts, min_size=1, max_size=4),
    }
)
grafana_values = st.dictionaries(texts, st.one_of(numbers, texts, st.none(), wrong), max_size=5)
grafana_alerts = shaped(
    {
        "status": statuses,
        "labels": labels,
        "annotations": labels,
        "startsAt": times,
        "endsAt": times,
        "values": maybe(grafana_values),
        "valueString": maybe(texts),
        "generatorURL": maybe(texts),
        "fingerprint": maybe(texts),
        "silenceURL": maybe(texts),
        "dashboardURL": maybe(texts),
        "panelURL": maybe(texts),
    }
)
grafana_payloads = shaped(
    {
        "receiver": maybe(texts),
        "status": statuses,
        "orgId": maybe(numbers),
        "alerts": st.lists(grafana_alerts, min_size=1, max_size=4),
        "groupKey": maybe(texts),
        "groupLabels": labels,
        "commonLabels": labels,
        "truncatedAlerts": maybe(st.integers(0, 10)),
        "title": maybe(texts),
        "message": maybe(texts),
    }
)
generic_alerts = shaped(
    {
        "title": maybe(st.one_of(st.just("Nightly backup failed"), texts)),
        "status": statuses,
        "severity": maybe(st.sampled_from(["critical", "warning", "P1", "info", "x" * 65])),
        "labels": labels,
        "annotations": labels,
        "description": maybe(texts),
        "dedup_key": maybe(texts),
        "started_at": times,
        "ended_at": times,
        "url": maybe(texts),
    }
)
generic_payloads = st.one_of(
    generic_alerts, st.builds(lambda a: {"alerts": a}, st.lists(generic_alerts, max_size=4))
)
PAYLOADS = {"alertmanager": am_payloads, "grafana": grafana_payloads, "generic": generic_payloads}


def encode(payload: Any) -> bytes:
    """JSON as a sender writes it: NaN and Infinity as bare words, lone surrogates as escapes."""
    return json.dumps(payload, allow_nan=True).encode()


@st.composite
def bodies(draw: st.DrawFn, source: str) -> bytes:
    """A body for ``POST /webhooks/{source}``: mostly the shape, sometimes damaged or nested deep."""
    raw = encode(draw(PAYLOADS[source]))
    damage = draw(st.integers(0, 99))
    if damage == 41:
        return raw[: draw(st.integers(0, len(raw)))]  # cut off
    if damage in (42, 43):
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(max_size=8)) + raw[at:]  # bytes inserted, UTF-8 or not
    if damage == 44:
        depth = draw(st.sampled_from([50, 199, 201, 10_000]))
        return b'{"alerts": ' + b"[" * depth + b"]" * depth + b"}"
    return raw


query_values = st.one_of(
    texts,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        ["7d", "1000000d", "99999999999d", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "NaN"]
    ),
)
incident_ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str), st.sampled_from(["1", "2", "x"])
)
list_queries = st.dictionaries(
    st.sampled_from(["status", "severity", "service", "since", "limit", "offset"]), query_values, max_size=4
)
detail_queries = st.dictionaries(
    st.sampled_from(["alerts_limit", "alerts_offset", "timeline_limit", "timeline_offset"]),
    query_values,
    max_size=3,
)


def query_string(params: dict[str, str]) -> str:
    """Percent-encoded as a client would send it; a lone surrogate becomes bytes that are not UTF-8."""
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in params.items())
