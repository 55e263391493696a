"""A small fixed dataset for report tests, with every figure worked out by hand.

The dataset (period: the 7 days before NOW, 2026-11-20 12:00 UTC):

| id | rule     | service | sev  | opened     | acked | resolved | alerts (dups) | notes            |
|----|----------|---------|------|------------|-------|----------|---------------|------------------|
| 1  | DiskFull | db      | SEV2 | 19th 10:00 | 120 s | 1800 s   | 7 (1)         | rated SEV1, SEV2 |
| 2  | DiskFull | db      | SEV2 | 18th 10:00 | 300 s | 3600 s   | 1             |                  |
| 3  | CpuHigh  | api     | SEV3 | 18th 11:00 | -     | 600 s    | 4 (2)         | flapping, noise  |
| 4  | CpuHigh  | api     | SEV3 | 17th 11:00 | -     | 300 s    | 1             | rated SEV4       |
| 5  | CpuHigh  | api     | SEV4 | 17th 12:00 | -     | -        | 1             | still open       |
| 6  | ApiDown  | api     | SEV1 | 20th 11:00 | 60 s  | -        | 1             | rated SEV1       |
| 7  | ApiDown  | api     | SEV1 | 10th 11:00 | 60 s  | 60 s     | 1             | before period    |

(acked / resolved: that long after opening; the 7 days are the 13th 12:00 to the 20th 12:00.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from storage.db import Database
from storage.models import Alert, Feedback, Incident, LlmCall

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PERIOD = "2026-11-13 12:00 → 2026-11-20 12:00 UTC"
WEEK = timedelta(days=7)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


INCIDENTS: list[dict[str, Any]] = [
    # id, alertname, service, severity, opened, ack after s, resolved after s, alerts, duplicates, flapping
    dict(id=1, name="DiskFull", service="db", sev="SEV2", opened=at(19, 10), ack=120, res=1800, n=7, dups=1),
    dict(id=2, name="DiskFull", service="db", sev="SEV2", opened=at(18, 10), ack=300, res=3600, n=1, dups=0),
    dict(id=3, name="CpuHigh", service="api", sev="SEV3", opened=at(18, 11), ack=None, res=600, n=4, dups=2),
    dict(id=4, name="CpuHigh", service="api", sev="SEV3", opened=at(17, 11), ack=None, res=300, n=1, dups=0),
    dict(id=5, name="CpuHigh", service="api", sev="SEV4", opened=at(17, 12), ack=None, res=None, n=1, dups=0),
    dict(id=6, name="ApiDown", service="api", sev="SEV1", opened=at(20, 11), ack=60, res=None, n=1, dups=0),
    dict(id=7, name="ApiDown", service="api", sev="SEV1", opened=at(10, 11), ack=60, res=60, n=1, dups=0),
]
FEEDBACK = [
    # incident, kind, old, new (in this order: the first row's old and the last row's new count)
    (1, "severity", "SEV2", "SEV1"),
    (1, "severity", "SEV1", "SEV2"),
    (3, "noise", "SEV3", None),
    (4, "severity", "SEV3", "SEV4"),
    (6, "severity", "SEV1", "SEV1"),
    (7, "severity", "SEV1", "SEV3"),  # before the period: not counted
]
LLM_CALLS = [
    # outcome, tokens in, tokens out, when
    ("ok", 100, 50, at(19, 10, 1)),
    ("ok", 200, 80, at(18, 10, 1)),
    ("timeout", 0, 0, at(18, 11, 1)),
    ("disabled", 0, 0, at(17, 11, 1)),
    ("cached", 0, 0, at(17, 12, 1)),
    ("ok", 999, 999, at(10, 11, 1)),  # before the period
]


def load_dataset(db: Database) -> None:
    incidents, alerts, feedback = [], [], []
    for inc in INCIDENTS:
        opened: datetime = inc["opened"]
        acked = opened + timedelta(seconds=inc["ack"]) if inc["ack"] is not None else None
        resolved = opened + timedelta(seconds=inc["res"]) if inc["res"] is not None else None
        status = "resolved" if resolved else ("acknowledged" if acked else "open")
        incidents.append(
            {
                "id": inc["id"],
                "group_key": f"{inc['name']}/{inc['service']}",
                "title": f"{inc['name']} on {inc['service']}",
                "alertname": inc["name"],
                "service": inc["service"],
                "source": "alertmanager",
                "status": status,
                "severity": inc["sev"],
                "severity_source": "model",
                "confidence": 0.8,
                "model_version": "test",
                "reasons": [],
                "labels": {"alertname": inc["name"]},
                "alert_count": inc["n"],
                "firing_count": 0 if resolved else 1,
                "flapping": inc["id"] == 3,
                "opened_at": opened,
                "acknowledged_at": acked,
                "acknowledged_by": "alice" if acked else None,
                "resolved_at": resolved,
                "resolved_by": None,
                "last_alert_at": opened,
                "updated_at": NOW,
            }
        )
        for n in range(inc["n"]):
            alerts.append(
                {
                    "incident_id": inc["id"],
                    "source": "alertmanager",
                    "group_key": f"{inc['name']}/{inc['service']}",
                    "fingerprint": f"fp-{inc['id']}-{n}",
                    "status": "resolved" if resolved else "firing",
                    "alertname": inc["name"],
                    "title": inc["name"],
                    "service": inc["service"],
                    "labels": {},
                    "annotations": {},
                    "starts_at": opened + timedelta(seconds=n),
                    "ends_at": resolved,
                    "severity": inc["sev"],
                    "model_version": "test",
                    "duplicates": inc["dups"] if n == 0 else 0,
                    "received_at": opened,
                    "updated_at": opened,
                }
            )
    for incident_id, kind, old, new in FEEDBACK:
        name = next(i["name"] for i in INCIDENTS if i["id"] == incident_id)
        feedback.append(
            {
                "incident_id": incident_id,
                "kind": kind,
                "alertname": name,
                "user": "bob",
                "old_severity": old,
                "new_severity": new,
                "reason": None,
                "created_at": NOW,
            }
        )
    llm = [
        {
            "incident_id": None,
            "prompt_name": "incident_summary",
            "prompt_version": "1",
            "model": "m",
            "latency_ms": 1.0,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "outcome": outcome,
            "created_at": when,
        }
        for outcome, tokens_in, tokens_out, when in LLM_CALLS
    ]
    with db.write() as conn:
        conn.execute(insert(Incident), incidents)
        conn.execute(insert(Alert), alerts)
        conn.execute(insert(Feedback), feedback)
        conn.execute(insert(LlmCall), llm)
