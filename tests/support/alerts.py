"""Small alert records for tests that need one of a known shape (no real data)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from analytics.records import AlertRecord, AlertStatus


def checkout_alert(*, service: str, env: str) -> AlertRecord:
    """A warning-level error-rate alert of ``service`` in ``env``."""
    return AlertRecord(
        source="alertmanager",
        fingerprint=f"{service}-{env}",
        status=AlertStatus.FIRING,
        labels={"alertname": "HighErrorRate", "service": service, "env": env, "severity": "warning"},
        annotations={"summary": f"{service} returns many 5xx", "description": "Server errors above 5%."},
        starts_at=datetime(2025, 3, 4, 14, 0, tzinfo=UTC),
        ends_at=None,
        group_key=f"{service}-{env}",
    )


def alert_fields(alert: AlertRecord) -> dict[str, Any]:
    """The record's fields as keyword arguments (to build a changed copy)."""
    return {f.name: getattr(alert, f.name) for f in fields(alert)}


def make_alert(**overrides: object) -> AlertRecord:
    """A firing crash-loop alert (critical, a prod namespace, Saturday night); overrides replace fields."""
    fields: dict[str, object] = {
        "source": "alertmanager",
        "fingerprint": "f1",
        "status": AlertStatus.FIRING,
        "labels": {"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": "shop-prod"},
        "annotations": {"summary": "Pod is crash looping", "description": "Container restarts often."},
        "starts_at": datetime(2025, 3, 8, 2, 30, tzinfo=UTC),  # a Saturday night
        "ends_at": None,
        "group_key": "g",
    }
    fields.update(overrides)
    return AlertRecord(**fields)  # type: ignore[arg-type]
