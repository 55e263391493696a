"""The normalized alert record every source is converted into (pure data; no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Severity(enum.StrEnum):
    """Four levels, most urgent first: SEV1 pages now, SEV4 is information."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 for SEV1 … 4 for SEV4: lower is more urgent."""
        return int(self.value[-1])


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert as sevbot sees it, whichever tool sent it.

    ``starts_at`` is ``None`` only for generic alerts that gave no start time: ingestion then
    matches them to the alert already firing under the same fingerprint, or starts them now.
    """

    source: str
    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    group_key: str
    generator_url: str | None = None
    expression: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname") or self.annotations.get("title") or "unnamed alert"

    @property
    def service(self) -> str | None:
        for key in ("service", "job", "app", "container"):
            value = self.labels.get(key)
            if value:
                return value
        return None

    @property
    def title(self) -> str:
        """A one-line human title: the summary annotation when there is one, else the alert name."""
        for key in ("summary", "title", "message"):
            value = self.annotations.get(key)
            if value:
                return value.splitlines()[0][:200]
        return self.alertname
