"""Builders for webhook payloads in each source's real shape, with our own example values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NO_END = "0001-01-01T00:00:00Z"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def am_alert(
    name: str = "CheckoutHighErrorRate",
    *,
    instance: str = "checkout-1:8080",
    status: str = "firing",
    starts_at: datetime = T0,
    ends_at: datetime | None = None,
    severity: str | None = "critical",
    service: str = "checkout",
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    labels = {"alertname": name, "instance": instance, "job": service, "service": service, "env": "prod"}
    if severity:
        labels["severity"] = severity
    labels.update(extra_labels or {})
    alert: dict[str, Any] = {
        "status": status,
        "labels": labels,
        "annotations": annotations or {"summary": f"{name} on {instance}", "description": "5xx above 5%"},
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at)
        if ends_at
        else (iso(starts_at + timedelta(minutes=5)) if status == "firing" else NO_END),
        "generatorURL": "http://prometheus.internal:9090/graph?g0.expr=sum+by+%28job%29+%28rate%28http_requests_total"
        "%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1",
    }
    alert["fingerprint"] = fingerprint or f"{abs(hash((name, instance))) % (1 << 64):016x}"
    return alert


def am_payload(
    alerts: list[dict[str, Any]], *, group_key: str | None = None, truncated: int = 0
) -> dict[str, Any]:
    """An Alertmanager 0.25 webhook notification (payload version 4)."""
    name = alerts[0]["labels"]["alertname"] if alerts else "none"
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "receiver": "sevbot",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.internal:9093",
        "version": "4",
        "groupKey": group_key or '{}/{severity=~"critical|warning"}:{alertname="' + name + '"}',
        "truncatedAlerts": truncated,
    }


def grafana_payload(
    *, status: str = "firing", starts_at: datetime = T0, ends_at: datetime | None = None
) -> dict[str, Any]:
    """Grafana unified alerting's webhook body, in the shape its documentation gives."""
    alert = {
        "status": status,
        "labels": {
            "alertname": "HighMemoryUsage",
            "team": "payments",
            "service": "ledger",
            "grafana_folder": "Prod",
        },
        "annotations": {
            "summary": "Memory above 90% on ledger",
            "runbook_url": "https://runbooks.internal/memory",
        },
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at) if ends_at else NO_END,
        "generatorURL": "https://grafana.internal/alerting/grafana/cdq1xeeqt/view?orgId=1",
        "fingerprint": "57c6d9296de2ad39",
        "silenceURL": "https://grafana.internal/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHighMemoryUsage",
        "dashboardURL": "https://grafana.internal/d/ledger-overview",
        "panelURL": "https://grafana.internal/d/ledger-overview?viewPanel=4",
        "values": {"B": 93.5, "C": 1},
        "valueString": "[ var='B' labels={service=ledger} value=93.5 ], "
        "[ var='C' labels={service=ledger} value=1 ]",
    }
    return {
        "receiver": "sevbot",
        "status": status,
        "orgId": 1,
        "alerts": [alert],
        "groupLabels": {"alertname": "HighMemoryUsage", "grafana_folder": "Prod"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "https://grafana.internal/",
        "version": "1",
        "groupKey": '{}:{alertname="HighMemoryUsage", grafana_folder="Prod"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] HighMemoryUsage Prod (ledger payments)",
        "state": "alerting",
        "message": "**Firing**\n\nValue: B=93.5, C=1",
    }


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def generic_alert(title: str = "Nightly backup failed", **fields: Any) -> dict[str, Any]:
    """One alert in sevbot's generic shape (README, "The generic shape"), with every field set."""
    alert: dict[str, Any] = {
        "title": title,
        "status": "firing",
        "severity": "warning",
        "labels": {"service": "billing-db", "env": "prod"},
        "annotations": {"runbook_url": "https://runbooks.example/backup"},
        "description": "pg_dump exited with status 1",
        "dedup_key": "billing-db-backup",
        "started_at": iso(T0),
        "ended_at": None,
        "url": "https://ci.example/jobs/123",
    }
    alert.update(fields)
    return alert
