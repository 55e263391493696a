"""Helpers every normalizer shares: fingerprints, group keys, timestamps, safe text (pure; no I/O)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from bot.errors import FieldError, InvalidPayload, MalformedPayload

MAX_GROUP_KEY = 1024
MAX_LABEL_VALUE = 4096
_EPOCH_FLOOR = datetime(1971, 1, 1, tzinfo=UTC)  # Alertmanager writes 0001-01-01 for "no end"

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_body(model: type[ModelT], body: bytes) -> ModelT:
    """Validate a JSON body against ``model``; errors name each bad field, dotted (``alerts.0.startsAt``)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _translate(exc) from exc


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
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
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None if value < _EPOCH_FLOOR else value


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


@functools.lru_cache(maxsize=4096)  # the alerts of one rule share one URL
def _promql_of(url: str) -> str | None:
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    exprs = query.get("g0.expr")
    return clean_text(exprs[0]) if exprs else None
