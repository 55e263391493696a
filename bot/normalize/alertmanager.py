"""Prometheus Alertmanager's webhook payload (version 4, as 0.25+ sends it) into alert records (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.records import AlertRecord, AlertStatus
from bot.normalize.common import (
    MAX_ALERTS,
    Count,
    Labels,
    Timestamp,
    alert_times,
    clean_mapping,
    clean_text,
    fit_group_key,
    label_fingerprint,
    label_group_key,
    parse_body,
    promql_from_generator_url,
)

SOURCE = "alertmanager"


class AMAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: Timestamp
    endsAt: Timestamp | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, max_length=128)


class AMPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str
    truncatedAlerts: Count = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[AMAlert] = Field(max_length=MAX_ALERTS)


def normalize(
    body: bytes, group_by: Sequence[str], now: datetime | None = None
) -> tuple[list[AlertRecord], int]:
    """Every alert of the notification, keyed by Alertmanager's own groupKey and fingerprints.

    A blank groupKey (no Alertmanager sends one) groups by labels, as for a sender without one."""
    payload = parse_body(AMPayload, body)
    given_key = clean_text(payload.groupKey).strip()
    records = []
    for alert, (starts_at, ends_at) in zip(payload.alerts, alert_times(payload.alerts, now), strict=True):
        labels = clean_mapping(alert.labels)
        status = AlertStatus(alert.status)
        group_key = fit_group_key(given_key) if given_key else label_group_key(labels, group_by)
        links = {"source": clean_text(alert.generatorURL)} if alert.generatorURL else {}
        if payload.externalURL:
            links["alertmanager"] = clean_text(payload.externalURL)
        records.append(
            AlertRecord(
                source=SOURCE,
                fingerprint=clean_text(alert.fingerprint, 128)
                if alert.fingerprint
                else label_fingerprint(labels),
                status=status,
                labels=labels,
                annotations=clean_mapping(alert.annotations),
                starts_at=starts_at,
                ends_at=ends_at,
                group_key=group_key,
                generator_url=clean_text(alert.generatorURL) if alert.generatorURL else None,
                expression=promql_from_generator_url(alert.generatorURL),
                links=links,
            )
        )
    return records, payload.truncatedAlerts
