"""Grafana unified alerting's webhook payload into alert records (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.records import AlertRecord, AlertStatus
from bot.normalize.common import (
    MAX_ALERTS,
    Count,
    GrafanaValues,
    Labels,
    Timestamp,
    alert_times,
    clean_mapping,
    clean_text,
    fit_group_key,
    label_fingerprint,
    label_group_key,
    parse_body,
)

SOURCE = "grafana"
_LINKS = {"generatorURL": "source", "dashboardURL": "dashboard", "panelURL": "panel", "silenceURL": "silence"}


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    startsAt: Timestamp
    endsAt: Timestamp | None = None
    values: GrafanaValues | None = None  # numbers (NaN and ±Inf as strings), strings or null
    valueString: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, max_length=128)
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    imageURL: str | None = None


class GrafanaPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    receiver: str = ""
    status: Literal["firing", "resolved"]
    orgId: int | None = None
    alerts: list[GrafanaAlert] = Field(max_length=MAX_ALERTS)
    groupKey: str | None = None
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    truncatedAlerts: Count = 0
    title: str | None = None
    message: str | None = None


def normalize(
    body: bytes, group_by: Sequence[str], now: datetime | None = None
) -> tuple[list[AlertRecord], int]:
    payload = parse_body(GrafanaPayload, body)
    given_key = clean_text(payload.groupKey).strip() if payload.groupKey else ""
    records = []
    for alert, (starts_at, ends_at) in zip(payload.alerts, alert_times(payload.alerts, now), strict=True):
        labels = clean_mapping(alert.labels)
        status = AlertStatus(alert.status)
        links = {name: clean_text(url) for attr, name in _LINKS.items() if (url := getattr(alert, attr))}
        values = {clean_text(str(k), 64): v for k, v in (alert.values or {}).items()}
        annotations = clean_mapping(alert.annotations)
        if alert.valueString and "value_string" not in annotations:
            annotations["value_string"] = clean_text(alert.valueString)
        group_key = fit_group_key(given_key) if given_key else label_group_key(labels, group_by)
        records.append(
            AlertRecord(
                source=SOURCE,
                fingerprint=clean_text(alert.fingerprint, 128)
                if alert.fingerprint
                else label_fingerprint(labels),
                status=status,
                labels=labels,
                annotations=annotations,
                starts_at=starts_at,
                ends_at=ends_at,
                group_key=group_key,
                generator_url=links.get("source"),
                expression=None,
                links=links,
                values=values,
            )
        )
    return records, payload.truncatedAlerts
