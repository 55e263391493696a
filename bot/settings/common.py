"""What both halves of the settings share: the sources, placeholder secrets, durations (pure)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
)

SOURCES = ("alertmanager", "grafana", "generic")
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "changethis", "secret", "password", "token", "xxx"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_DURATION = timedelta(days=36_500)  # a century: longer is a typo, and beyond it dates soon overflow


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"7d"`` (or a number of seconds) as a timedelta, from 0 to
    :data:`MAX_DURATION`."""
    if isinstance(value, timedelta):
        return value
    found: timedelta | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            found = timedelta(seconds=value) if value == value else None  # NaN is no number of seconds
        elif isinstance(value, str) and len(value) <= 64:
            match = _DURATION.match(value)
            if match:
                found = timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except (OverflowError, ValueError):  # 99999999999w is longer than any timedelta
        found = timedelta.max
    if found is None:
        raise ValueError(f"{shown(value)} is not a duration such as 90s, 30m, 1h or 7d")
    if found < timedelta(0):
        raise ValueError(f"{shown(value)} is a negative duration")
    if found > MAX_DURATION:
        raise ValueError(
            f"{shown(value)} is longer than {MAX_DURATION.days} days, the longest duration sevbot takes"
        )
    return found


def shown(value: Any) -> str:
    """A value as an error message may quote it: short, and never the whole of a list or mapping (a YAML
    alias bomb's repr is gigabytes)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 64 else value[:64] + "…")
    if value is None or isinstance(value, bool | int | float):
        return repr(value)[:64]
    return f"a {type(value).__name__}"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
