"""The YAML file's ``escalation`` and ``heartbeat`` sections: reminders when nobody acknowledges, the pagers
they are handed to, and the always-firing alerts that prove the alerting pipeline is alive (validated)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from analytics.records import Severity
from bot.settings.common import Duration, parse_duration

MIN_INTERVAL = timedelta(seconds=30)  # shorter reminders would be noise, not escalation
MAX_INTERVAL = timedelta(days=7)
OFF_WORDS = frozenset({"off", "none", "never", "0"})

PageWhen = Literal["open", "escalation", "never"]
DEFAULT_ACK_TIMEOUT: dict[Severity, timedelta | None] = {
    Severity.SEV1: timedelta(minutes=10),
    Severity.SEV2: timedelta(minutes=30),
    Severity.SEV3: None,
    Severity.SEV4: None,
}
DEFAULT_PAGE: dict[Severity, PageWhen] = {
    Severity.SEV1: "escalation",
    Severity.SEV2: "escalation",
    Severity.SEV3: "never",
    Severity.SEV4: "never",
}


def _levels(value: Any, what: str) -> dict[Severity, Any]:
    """A mapping keyed by SEV1 … SEV4 (any case); anything else is refused by name."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} must map severities (SEV1 … SEV4) to values")
    levels: dict[Severity, Any] = {}
    for key, item in value.items():
        try:
            levels[Severity(str(key).upper())] = item
        except ValueError:
            raise ValueError(f"{key!r} is not one of SEV1, SEV2, SEV3, SEV4") from None
    return levels


def _interval(value: Any) -> timedelta | None:
    """A duration within bounds, or ``None`` for off (``off``, ``never``, ``0``, ``false``, null)."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return None
    interval = parse_duration(value)
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ValueError(f"{value!r} must be between 30s and 7d (or off)")
    return interval


class PagerTarget(BaseModel):
    """One pager sevbot hands incidents to (a generic webhook: ``POST url`` with JSON)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    timeout: Duration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def _pagerduty_url() -> str:
    return "https://events.pagerduty.com"


class PagerDutyTarget(PagerTarget):
    """PagerDuty's Events API v2 (``POST {url}/v2/enqueue``); the key: SEVBOT_PAGERDUTY_ROUTING_KEY."""

    url: str = Field(default_factory=_pagerduty_url)


class EscalationConfig(BaseModel):
    """Reminders in the thread while an open incident waits unacknowledged, and optionally a pager.

    ``ack_timeout``: per severity, how long an open incident may wait before its owner is mentioned
    (defaults SEV1 10m, SEV2 30m, SEV3/SEV4 off; the levels given replace those defaults one by one).
    ``repeat``: per severity, the interval between later reminders (default: that severity's timeout).
    ``page``: per severity, when the pagers hear of an incident: ``escalation`` (with its first reminder;
    the default for SEV1 and SEV2), ``open`` (at once) or ``never`` (the default for SEV3 and SEV4).
    ``install``: names this sevbot in pager dedup keys (``sevbot-<install>-<id>``).
    """

    model_config = ConfigDict(extra="forbid")

    ack_timeout: dict[Severity, timedelta | None] = Field(default_factory=lambda: dict(DEFAULT_ACK_TIMEOUT))
    repeat: dict[Severity, timedelta] = Field(default_factory=dict)
    page: dict[Severity, PageWhen] = Field(default_factory=lambda: dict(DEFAULT_PAGE))
    install: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    pagerduty: PagerDutyTarget | None = None
    webhook: PagerTarget | None = None

    @field_validator("ack_timeout", mode="before")
    @classmethod
    def _timeouts(cls, value: Any) -> dict[Severity, timedelta | None]:
        given = {level: _interval(item) for level, item in _levels(value, "ack_timeout").items()}
        return {**DEFAULT_ACK_TIMEOUT, **given}

    @field_validator("repeat", mode="before")
    @classmethod
    def _repeats(cls, value: Any) -> dict[Severity, timedelta]:
        repeats = {}
        for level, item in _levels(value, "repeat").items():
            interval = _interval(item)
            if interval is None:
                raise ValueError(f"repeat for {level} must be a duration (turn reminders off in ack_timeout)")
            repeats[level] = interval
        return repeats

    @field_validator("page", mode="before")
    @classmethod
    def _page(cls, value: Any) -> dict[Severity, Any]:
        return {**DEFAULT_PAGE, **_levels(value, "page")}

    @model_validator(mode="after")
    def _repeat_needs_timeout(self) -> EscalationConfig:
        for level in self.repeat:
            if self.ack_timeout.get(level) is None:
                raise ValueError(f"repeat is set for {level} but its ack_timeout is off")
        return self

    def timeout_for(self, severity: str) -> timedelta | None:
        try:
            return self.ack_timeout.get(Severity(severity))
        except ValueError:
            return None

    def repeat_for(self, severity: str) -> timedelta | None:
        timeout = self.timeout_for(severity)
        return self.repeat.get(Severity(severity), timeout) if timeout is not None else None

    def pages_at(self, severity: str) -> PageWhen:
        try:
            return self.page.get(Severity(severity), "never")
        except ValueError:
            return "never"

    @property
    def escalating(self) -> list[Severity]:
        """The levels that get reminders."""
        return [level for level, timeout in self.ack_timeout.items() if timeout is not None]

    @property
    def paging(self) -> bool:
        """Whether any pager is configured."""
        return self.pagerduty is not None or self.webhook is not None

    def watched(self) -> list[str]:
        """The levels whose open incidents escalation looks at: reminders, or paging at open."""
        return [
            level.value
            for level in Severity
            if self.ack_timeout.get(level) is not None or (self.paging and self.pages_at(level) == "open")
        ]

    def dedup_key(self, incident_id: int) -> str:
        return f"sevbot-{self.install}-{incident_id}"


class HeartbeatConfig(BaseModel):
    """Always-firing alerts that prove the alerting pipeline works: recorded when they arrive, never
    incidents; a source silent for ``timeout`` opens a SEV1 incident. An empty ``alerts`` list: off."""

    model_config = ConfigDict(extra="forbid")

    alerts: list[str] = Field(default_factory=lambda: ["Watchdog", "DeadMansSwitch"])
    timeout: Duration = timedelta(minutes=10)

    @field_validator("alerts")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("alert names must not be empty")
        return [name.strip() for name in value]

    @field_validator("timeout")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= MAX_INTERVAL:
            raise ValueError("must be between 1m and 7d")
        return value
