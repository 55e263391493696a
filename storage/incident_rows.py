"""Typed rows of the incident aggregate: what ingestion and people's actions read and write (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analytics.records import (
    AlertStatus,
    IncidentStatus,
    Severity,
    SeveritySource,
    StoredReason,
    TimelineKind,
)


@dataclass(slots=True)
class IncidentState:
    """The fields ingestion reads and changes; ``dirty`` marks what must be written back."""

    id: int
    group_key: str
    status: str
    severity: str
    severity_source: str
    confidence: float
    model_version: str | None
    reasons: list[StoredReason]
    firing_count: int
    alert_count: int
    flapping: bool
    opened_at: datetime
    resolved_at: datetime | None
    last_alert_at: datetime
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class KnownAlert:
    id: int
    incident_id: int
    source: str
    group_key: str
    fingerprint: str
    starts_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class NewIncident:
    group_key: str
    title: str
    alertname: str
    service: str | None
    source: str
    severity: Severity
    severity_source: SeveritySource
    confidence: float
    model_version: str
    reasons: list[StoredReason]
    labels: dict[str, str]
    opened_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class NewAlert:
    """An alert row about to be inserted; ingestion may still resolve it or count duplicates on it."""

    incident_id: int
    source: str
    group_key: str
    fingerprint: str
    alertname: str
    title: str
    service: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    links: dict[str, str]
    values: dict[str, Any]
    generator_url: str | None
    expression: str | None
    starts_at: datetime
    severity: Severity
    source_severity: str | None
    probabilities: dict[str, float]
    reasons: list[StoredReason]
    model_version: str
    received_at: datetime
    status: AlertStatus = AlertStatus.FIRING
    ends_at: datetime | None = None
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class NewEvent:
    incident_id: int
    at: datetime
    kind: TimelineKind
    data: Mapping[str, object]
    created_at: datetime
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class CurrentIncident:
    """What a person's action decides on, read under a row lock."""

    id: int
    status: IncidentStatus
    severity: Severity
    alertname: str
    opened_at: datetime
    firing_count: int = 0


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """Columns a person's action sets (``None``: left as it is)."""

    status: IncidentStatus | None = None
    severity: Severity | None = None
    severity_source: SeveritySource | None = None
    confidence: float | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)
