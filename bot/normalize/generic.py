"""The generic JSON shape for any other tool (documented in the README) into alert records (pure).

A body is one alert object, or ``{"alerts": [ ... ]}`` with up to 1,000 of them::

    {"title": "Disk almost full", "status": "firing", "severity": "critical",
     "labels": {"service": "db", "env": "prod"}, "description": "…",
     "dedup_key": "db-disk-/var", "started_at": "2026-11-22T08:00:00Z", "ended_at": null,
     "url": "https://…"}

Only ``title`` is required. Without ``dedup_key`` the fingerprint is a hash of the labels and title.
Without ``started_at`` the alert is matched to the one already firing under the same fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics.records import AlertRecord, AlertStatus
from bot.normalize.common import (
    MAX_ALERTS,
    Labels,
    Timestamp,
    alert_times,
    clean_mapping,
    clean_text,
    label_fingerprint,
    label_group_key,
    load_json,
    validate,
)

SOURCE = "generic"


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    status: Literal["firing", "resolved"] = "firing"
    severity: str | None = Field(default=None, max_length=64)
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    description: str | None = None
    dedup_key: str | None = Field(default=None, min_length=1, max_length=128)
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    url: str | None = None

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class GenericBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[GenericAlert] = Field(min_length=1, max_length=MAX_ALERTS)


def normalize(
    body: bytes, group_by: Sequence[str], now: datetime | None = None
) -> tuple[list[AlertRecord], int]:
    data = load_json(body)
    if isinstance(data, dict) and "alerts" in data:
        alerts, paths = validate(GenericBatch, data).alerts, None
    else:
        alerts, paths = [validate(GenericAlert, data)], [""]  # one alert: its fields are top-level
    times = alert_times(alerts, now, start="started_at", end="ended_at", paths=paths)
    return [_record(alert, group_by, *when) for alert, when in zip(alerts, times, strict=True)], 0


def _record(
    alert: GenericAlert, group_by: Sequence[str], starts_at: datetime | None, ends_at: datetime | None
) -> AlertRecord:
    labels = clean_mapping(alert.labels)
    labels.setdefault("alertname", clean_text(alert.title, 255))
    if alert.severity:
        labels.setdefault("severity", clean_text(alert.severity, 64))
    annotations = clean_mapping(alert.annotations)
    annotations.setdefault("summary", clean_text(alert.title, 500))
    if alert.description:
        annotations.setdefault("description", clean_text(alert.description))
    status = AlertStatus(alert.status)
    fingerprint = clean_text(alert.dedup_key, 128) if alert.dedup_key else label_fingerprint(labels)
    url = clean_text(alert.url) if alert.url else None
    return AlertRecord(
        source=SOURCE,
        fingerprint=fingerprint,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        group_key=label_group_key(labels, group_by),
        generator_url=url,
        links={"source": url} if url else {},
    )
