"""Replayed action records: applied in file order through the same code as Slack, checked first."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import Services
from bot.cli import main
from bot.normalize import normalize
from tests.support.payloads import T0, am_alert, am_payload, iso


def open_incident(services: Services, name: str = "CheckoutHighErrorRate") -> int:
    body = json.dumps(am_payload([am_alert(name)])).encode()
    result = services.ingestor.ingest(normalize("alertmanager", body, services.config.grouping.by))
    return result.opened[0]


def action(kind: str, minutes: int, user: str = "U_ALICE", **extra: object) -> dict[str, object]:
    return {
        "source": "action",
        "action": kind,
        "incident_match": {"alertname": "CheckoutHighErrorRate", "service": "checkout"},
        "user": user,
        "at": iso(T0 + timedelta(minutes=minutes)),
        **extra,
    }


def test_replay_applies_action_records_in_order(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"source": "alertmanager", "payload": am_payload([am_alert()])},
        action("ack", 3),
        action("sev", 5, user="U_BOB", severity="SEV3", reason="only the canary"),
        action("noise", 6, user="U_BOB"),
        action("resolve", 20),
    ]
    replay = cli_env / "actions.jsonl"
    replay.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    assert main(["replay", str(replay)]) == 0
    assert "4 action(s), 4 changed an incident" in capsys.readouterr().out
    assert main(["incidents", "show", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    incident = doc["incident"]
    assert incident["status"] == "resolved"
    assert incident["severity"]["level"] == "SEV3"
    kinds = [e["kind"] for e in doc["timeline"]]
    assert kinds[-4:] == ["incident.acknowledged", "severity.changed", "incident.noise", "incident.resolved"]


def test_replay_refuses_bad_action_records_and_replays_nothing(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"source": "alertmanager", "payload": am_payload([am_alert()])},
        action("sev", 5),  # no severity
        action("ack", 5) | {"incident_match": {}},
        action("ack", 5) | {"at": "2026-11-20T08:00:00"},  # no time zone
        action("shout", 5),
    ]
    replay = cli_env / "bad.jsonl"
    replay.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    assert main(["replay", str(replay)]) == 1
    err = capsys.readouterr().err
    assert 'line 2: action: invalid payload: (body): Value error, action "sev" needs "severity"' in err
    assert "line 3: action: invalid payload: incident_match: Value error, needs at least one of" in err
    assert "line 4: action: invalid payload: at: Input should have timezone info" in err
    assert (
        "line 5: action: invalid payload: action: Input should be 'ack', 'resolve', 'sev' or 'noise'" in err
    )
    assert "4 bad line(s); nothing was replayed" in err


def test_replay_reports_an_action_that_matches_no_incident(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [action("ack", -10), {"source": "alertmanager", "payload": am_payload([am_alert()])}]
    replay = cli_env / "early.jsonl"
    replay.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    assert main(["replay", str(replay)]) == 1
    captured = capsys.readouterr()
    assert "1 incident(s) opened; 1 action(s), 0 changed an incident" in captured.out
    assert "line 1: no incident matches" in captured.err
