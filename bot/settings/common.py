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


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"7d"`` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return timedelta(seconds=value)
        if isinstance(value, str) and len(value) <= 64:
            match = _DURATION.match(value)
            if match:
                return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except (OverflowError, ValueError):  # 99999999999w is longer than any timedelta
        raise ValueError(f"{value!r} is longer than any duration sevbot can hold") from None
    raise ValueError(f"{value!r} is not a duration such as 90s, 30m, 1h or 7d")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
