"""Alertmanager's v4 payload as Alertmanager 0.25 sends it, normalized."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from analytics.records import AlertStatus
from bot.normalize import normalize

# Byte-for-byte the shape Alertmanager 0.25 posts: nanosecond times, "0001-01-01" for no end, and Go's
# escaping of the PromQL expression in generatorURL.
REAL_BODY = json.dumps(
    {
        "receiver": "sevbot",
        "status": "resolved",
        "alerts": [
            {
                "status": "resolved",
                "labels": {"alertname": "TargetDown", "job": "node", "severity": "warning"},
                "annotations": {"summary": "node target is down"},
                "startsAt": "2026-11-20T08:00:00.123456789Z",
                "endsAt": "2026-11-20T08:07:30.5Z",
                "generatorURL": "http://prom:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0&g0.tab=1",
                "fingerprint": "1b7c5a3f2e9d0c84",
            },
            {
                "status": "firing",
                "labels": {"alertname": "TargetDown", "job": "api"},
                "annotations": {},
                "startsAt": "2026-11-20T08:01:00+01:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "",
            },
        ],
        "groupLabels": {"alertname": "TargetDown"},
        "commonLabels": {"alertname": "TargetDown"},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "version": "4",
        "groupKey": '{}:{alertname="TargetDown"}',
        "truncatedAlerts": 2,
    }
).encode()


def test_real_payload_is_normalized() -> None:
    batch = normalize("alertmanager", REAL_BODY, ["alertname"])

    resolved, _ = batch.alerts
    assert batch.truncated == 2
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == "1b7c5a3f2e9d0c84"
    assert resolved.starts_at == datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=UTC)
    assert resolved.ends_at == datetime(2026, 11, 20, 8, 7, 30, 500000, tzinfo=UTC)
    assert resolved.expression == 'up{job="node"} == 0'
    assert resolved.group_key == '{}:{alertname="TargetDown"}'
    assert resolved.links == {"source": resolved.generator_url, "alertmanager": "http://am:9093"}


def test_missing_fingerprint_and_expression_and_offsets() -> None:
    firing = normalize("alertmanager", REAL_BODY, ["alertname"]).alerts[1]

    assert firing.ends_at is None
    assert firing.starts_at == datetime(2026, 11, 20, 7, 1, tzinfo=UTC)
    assert firing.expression is None
    assert len(firing.fingerprint) == 16  # a hash of the labels, as Alertmanager's own would be
