"""``sevbot outbox status|retry [--parked]`` and ``sevbot db prune --before DATE`` on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.cli import main
from storage.db import create_database
from storage.models import Incident, OutboxMessage
from tests.support.payloads import am_alert, am_payload


def replay(cli_env: Path, *alerts: dict[str, object]) -> None:
    path = cli_env / "replay.jsonl"
    path.write_text(
        "\n".join(json.dumps({"source": "alertmanager", "payload": am_payload([a])}) for a in alerts) + "\n",
        encoding="utf-8",
    )
    assert main(["replay", str(path)]) == 0


def statuses(cli_env: Path) -> list[tuple[str, str | None]]:
    db = create_database(f"sqlite:///{cli_env / 'data' / 'sevbot.db'}")
    try:
        with db.read() as conn:
            rows = conn.execute(
                select(OutboxMessage.status, OutboxMessage.parked_reason).order_by(OutboxMessage.id)
            )
            return [(r.status, r.parked_reason) for r in rows]
    finally:
        db.dispose()


def test_parked_rows_are_listed_and_queued_again_by_retry_parked(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay(cli_env, am_alert(name="A"), am_alert(name="B", service="payments"))
    db = create_database(f"sqlite:///{cli_env / 'data' / 'sevbot.db'}")
    with db.write() as conn:  # what the worker leaves after Slack answered token_revoked
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.topic == "slack")
            .values(
                status="parked", parked_reason="token_revoked", last_error="chat.postMessage: token_revoked"
            )
        )
    db.dispose()
    capsys.readouterr()

    assert main(["outbox", "status"]) == 0
    shown = capsys.readouterr().out
    assert "parked 2" in shown and "parked: 2 row(s) on token_revoked" in shown
    assert "sevbot outbox retry --parked" in shown
    assert main(["outbox", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parked_reasons"] == {"token_revoked": 2}

    assert main(["outbox", "retry"]) == 0  # without --parked, parked rows stay parked
    assert "parked" not in capsys.readouterr().out
    assert ("parked", "token_revoked") in statuses(cli_env)

    assert main(["outbox", "retry", "--parked"]) == 0
    assert "2 parked row(s) queued again" in capsys.readouterr().out
    assert all(status == "pending" and reason is None for status, reason in statuses(cli_env))


def test_db_prune_deletes_resolved_incidents_before_the_date_only(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resolved = {**am_alert(name="Old"), "status": "resolved", "endsAt": "2026-11-20T08:20:00Z"}
    replay(cli_env, am_alert(name="Old"), resolved, am_alert(name="Open"))
    capsys.readouterr()

    assert main(["db", "prune", "--before", "2026-11-21", "--dry-run"]) == 0
    assert "would delete 1 incident(s)" in capsys.readouterr().out
    assert main(["db", "prune", "--before", "2026-11-21"]) == 0
    assert (
        "deleted 1 incident(s) resolved before 2026-11-21T00:00:00+00:00: 1 alert(s)"
        in capsys.readouterr().out
    )
    assert main(["db", "prune", "--before", "2999-01-01"]) == 2
    assert main(["db", "prune", "--before", "last week"]) == 2

    db = create_database(f"sqlite:///{cli_env / 'data' / 'sevbot.db'}")
    with db.read() as conn:
        assert list(conn.execute(select(Incident.alertname)).scalars()) == ["Open"]
    db.dispose()
