"""The ``sevbot`` command line: db upgrade, replay (all or nothing), incidents list|show, serve's guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from storage.migrate import head_revision
from tests.support.payloads import T0, am_alert, am_payload


def write_replay(path: Path, entries: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n", encoding="utf-8")
    return path


def test_db_upgrade_creates_the_sqlite_file(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0

    assert (cli_env / "data" / "sevbot.db").exists()
    assert f"is at revision {head_revision()}" in capsys.readouterr().out


def test_replay_feeds_the_pipeline_and_incidents_list_and_show_read_it_back(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alert = am_alert()
    replay = write_replay(
        cli_env / "storm.jsonl",
        [
            {"source": "alertmanager", "payload": am_payload([alert])},
            {"source": "alertmanager", "payload": am_payload([alert])},
            {"source": "generic", "payload": {"title": "Backup failed", "severity": "warning"}},
            {
                "source": "alertmanager",
                "payload": am_payload([{**alert, "status": "resolved", "endsAt": "2026-11-20T08:20:00Z"}]),
            },
        ],
    )

    assert main(["replay", str(replay)]) == 0
    assert (
        "4 payload(s): 3 alert(s) accepted, 1 duplicate(s), 2 incident(s) opened" in capsys.readouterr().out
    )

    assert main(["incidents", "list"]) == 0
    listing = capsys.readouterr().out
    assert "SEV3  open" in listing and "Backup failed" in listing
    assert "SEV1  resolved" in listing

    assert main(["incidents", "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "Incident #1: CheckoutHighErrorRate on checkout-1:8080" in shown
    assert "why: source says critical +1.0" in shown
    assert "(+1 duplicates)" in shown

    assert main(["incidents", "show", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["incident"]["opened_at"] == T0.isoformat().replace(
        "+00:00", "Z"
    )


def test_replay_with_a_bad_line_replays_nothing_and_names_the_line(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = write_replay(
        cli_env / "bad.jsonl",
        [
            {"source": "alertmanager", "payload": am_payload([am_alert()])},
            {"source": "alertmanager", "payload": {"version": "4"}},
            {"source": "pagerduty", "payload": {}},
        ],
    )

    assert main(["replay", str(replay)]) == 1
    err = capsys.readouterr().err
    assert "line 2: invalid payload: groupKey: Field required" in err
    assert 'line 3: needs "source"' in err
    assert "nothing was replayed" in err
    assert main(["incidents", "list"]) == 0
    assert "(0 of 0)" in capsys.readouterr().out


def test_incidents_show_unknown_id_fails(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "show", "42"]) == 1
    assert "no incident 42" in capsys.readouterr().err


def test_serve_refuses_a_public_address_without_tokens(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err
    assert "alertmanager, grafana, generic" in err


def test_configuration_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEVBOT_WEBHOOK_TOKEN", "changeme")

    assert main(["db", "upgrade"]) == 2
    assert "SEVBOT_WEBHOOK_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--workers", "100000"], "argument --workers: 100000 is not from 1 to 64"),  # forked 100+
        (["serve", "--port", "99999"], "argument --port: 99999 is not from 0 to 65535"),  # served on 34463
        (["incidents", "list", "--limit", "-5"], "argument --limit: -5 is not from 1 to 10000"),  # listed all
        (["incidents", "show", "9" * 23], "argument id: 999"),  # an OverflowError from SQLite
        (["worker", "--metrics-port", "99999"], "argument --metrics-port: 99999 is not from 0 to 65535"),
        (["worker", "--nice", "x"], "argument --nice: 'x' is not a whole number"),
    ],
)
def test_numbers_out_of_range_are_usage_errors_naming_the_argument(
    cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_database_sevbot_cannot_open_is_one_line_not_a_traceback(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVBOT_DATABASE_URL", f"sqlite:///{cli_env}/no/such/folder/sevbot.db")
    assert main(["incidents", "list"]) == 2
    err = capsys.readouterr().err
    assert err == "sevbot: cannot use the database of SEVBOT_DATABASE_URL: unable to open database file\n"
