"""Helpers every normalizer shares: fingerprints, group keys, timestamps, safe text (pure; no I/O)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pydantic_core
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from bot.errors import FieldError, InvalidPayload, MalformedPayload

# The limits of one webhook (README, "HTTP API"). Text is cut to its limit, never refused for its length;
# more alerts or labels than these are refused (422 naming the field and the limit): a sender that may
# have more alerts in a group should cut them itself and say so (Alertmanager's ``max_alerts``).
MAX_ALERTS = 1000  # alerts per payload
MAX_LABELS = 256  # labels, annotations and Grafana values per alert
MAX_GROUP_KEY = 1024
MAX_LABEL_VALUE = 4096  # characters of a label or annotation value, URL or description
MAX_COUNT = 2**63 - 1  # counts the sender reports (``truncatedAlerts``): a signed 64-bit integer
# JSON nested deeper than the parser's limit (about 200 levels) is not read at all (400); within it, any
# nesting the shapes do not have is a 422 (no field of any source holds more than four levels).
_EPOCH_FLOOR = datetime(1971, 1, 1, tzinfo=UTC)  # Alertmanager writes 0001-01-01 for "no end"

ModelT = TypeVar("ModelT", bound=BaseModel)


def _in_utc(value: datetime) -> datetime:
    """A time of any offset as timezone-aware UTC (naive: taken as UTC), or a field error.

    ``0001-01-01T00:00:00+01:00`` is before year 1 in UTC, which Python cannot hold: it is kept as the
    earliest time, so it reads as "no time" like Alertmanager's ``0001-01-01T00:00:00Z``. A time after
    9999-12-31 in UTC (``9999-12-31T23:59:59-01:00``) has no meaning to anyone and is refused.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        if value.year == 1:
            return datetime.min.replace(tzinfo=UTC)
        raise ValueError("is after 9999-12-31T23:59:59Z in UTC") from None


# Every timestamp of every source: converted to UTC at the edge, its range checked.
Timestamp = Annotated[datetime, AfterValidator(_in_utc)]
Labels = Annotated[dict[str, str], Field(max_length=MAX_LABELS)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]

# JSON escapes that Python strings may hold but storage may not: NUL (PostgreSQL refuses it in text and
# JSONB) and lone UTF-16 surrogates (not Unicode; no encoder accepts them). Escaped backslashes are matched
# too, so ``\\u0000`` (a backslash, then the text "u0000") is left alone.
_ESCAPES = re.compile(
    rb"\\\\|\\u(?:(?P<pair>[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?P<lone>[dD][89a-fA-F][0-9a-fA-F]{2})|(?P<nul>0000))"
)


def _escape(match: re.Match[bytes]) -> bytes:
    if match["nul"]:
        return b""
    if match["lone"]:
        return b"\\ufffd"
    return match[0]


def clean_json(body: bytes) -> bytes:
    """The body with NUL escapes dropped and lone surrogates replaced by U+FFFD, for every field at once.

    Go (Alertmanager, Grafana) never writes either; a JavaScript or Python sender that cut a string in the
    middle of an emoji does, and its alert is still worth keeping. Raw invalid UTF-8 is refused (400).
    """
    if b"\\u" not in body:
        return body
    return _ESCAPES.sub(_escape, body)


def parse_body(model: type[ModelT], body: bytes) -> ModelT:
    """Validate a JSON body against ``model``; errors name each bad field, dotted (``alerts.0.startsAt``)."""
    try:
        return model.model_validate_json(clean_json(body))
    except ValidationError as exc:
        raise _translate(exc) from exc


def load_json(body: bytes) -> Any:
    """Decode JSON with the same parser, limits and cleaning as :func:`parse_body` (nesting included)."""
    try:
        return pydantic_core.from_json(clean_json(body))
    except ValueError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from exc


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate already-decoded JSON against ``model``, with the same field-naming errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc) from exc


def _translate(exc: ValidationError) -> MalformedPayload | InvalidPayload:
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return MalformedPayload(f"body is not valid JSON: {errors[0]['msg']}")
    return InvalidPayload(
        [FieldError(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"]) for err in errors]
    )


def clean_text(value: str, limit: int = MAX_LABEL_VALUE) -> str:
    """Drop NUL characters (PostgreSQL refuses them) and cap the length."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit]


def clean_mapping(values: Mapping[str, Any]) -> dict[str, str]:
    return {clean_text(str(k), 255): clean_text(str(v)) for k, v in values.items() if v is not None}


def utc(value: datetime | None) -> datetime | None:
    """Timezone-aware UTC, or ``None`` for a missing or placeholder ("0001-01-01") time."""
    if value is None:
        return None
    value = _in_utc(value)
    return None if value < _EPOCH_FLOOR else value


# How far ahead of sevbot's clock a sender's may run: a start (or a resolution) later than that has not
# happened yet, and would open an incident "in the future" that no report or list could place.
MAX_CLOCK_AHEAD = timedelta(hours=1)


def alert_times(
    alerts: Sequence[Any],
    now: datetime | None,
    *,
    start: str = "startsAt",
    end: str = "endsAt",
    paths: Sequence[str] | None = None,
) -> list[tuple[datetime | None, datetime | None]]:
    """Each validated alert's start and end in UTC (an end only once resolved; ``None`` for no time), read
    from its ``start`` and ``end`` attributes; every impossible one refused at once, a 422 naming each field:
    a resolution before the start, or a time more than :data:`MAX_CLOCK_AHEAD` after ``now`` (``None``: no
    clock, not checked). ``paths``: each alert's place in the payload (default ``alerts.{i}.``)."""
    times = []
    errors: list[FieldError] = []
    for i, alert in enumerate(alerts):
        where = f"alerts.{i}." if paths is None else paths[i]
        starts_at = utc(getattr(alert, start))
        ends_at = utc(getattr(alert, end)) if alert.status == "resolved" else None
        if starts_at is not None and ends_at is not None and ends_at < starts_at:
            errors.append(FieldError(where + end, f"is before {start} ({_iso(starts_at)})"))
        for name, value in ((start, starts_at), (end, ends_at)):
            if now is not None and value is not None and value > now + MAX_CLOCK_AHEAD:
                message = f"is more than an hour after sevbot's clock ({_iso(now)}): not yet"
                errors.append(FieldError(where + name, message))
        times.append((starts_at, ends_at))
    if errors:
        raise InvalidPayload(errors)
    return times


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_number(value: Any) -> Any:
    """A Grafana value as a JSON column can hold it, read as Grafana means it (a 64-bit float).

    Integers beyond 64 bits become floats (Go writes the float 1e20 as ``100000000000000000000``), numbers
    beyond a float's range become infinite, and NaN and ±infinity, which JSON cannot hold, are kept as
    the strings Prometheus writes for them: ``"NaN"``, ``"+Inf"``, ``"-Inf"``. Text is cleaned and cut.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value
        try:
            value = float(value)
        except OverflowError:
            return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return value
    raise ValueError("must be a number, a string or null")


GrafanaValues = Annotated[
    dict[str, Annotated[Any, AfterValidator(json_number)]], Field(max_length=MAX_LABELS)
]


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable fingerprint of a label set: the same labels in any order give the same value."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def label_group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    """The group key from the configured labels; ``service|job`` takes the first label present."""
    parts = []
    for entry in group_by:
        for name in entry.split("|"):
            value = labels.get(name)
            if value:
                parts.append(f"{name}={value}")
                break
    return fit_group_key("{" + ",".join(parts) + "}")


def fit_group_key(key: str) -> str:
    """Keep keys within the column; an overlong key keeps its start and gains a hash of the whole."""
    if len(key) <= MAX_GROUP_KEY:
        return key
    return key[: MAX_GROUP_KEY - 18] + "…#" + hashlib.sha256(key.encode()).hexdigest()[:16]


def promql_from_generator_url(url: str | None) -> str | None:
    """Prometheus links each alert to its rule's graph: ``/graph?g0.expr=<PromQL>``."""
    if not url:
        return None
    return _promql_of(url)


def _promql_of(url: str) -> str | None:
    # The alerts of one rule share one URL; only URLs of a usual length are remembered (bounded memory).
    return _cached_promql_of(url) if len(url) <= MAX_LABEL_VALUE else _parse_promql(url)


@functools.lru_cache(maxsize=4096)
def _cached_promql_of(url: str) -> str | None:
    return _parse_promql(url)


def _parse_promql(url: str) -> str | None:
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:  # e.g. "http://[::1/graph": not a URL, so no expression
        return None
    exprs = query.get("g0.expr")
    return clean_text(exprs[0]) if exprs else None
