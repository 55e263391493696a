"""``sevbot report``: JSON and charts from the shared report dataset, and a bad period refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.bootstrap import build_services
from bot.cli import main
from tests.support.report_data import NOW, load_dataset
from tests.support.settings import make_settings


def test_sevbot_report_prints_json_and_writes_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SEVBOT_DATABASE_URL", "SEVBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEVBOT_DATA_DIR", str(tmp_path / "data"))
    # The CLI reports back from the real now; move the dataset so it sits in the last 7 days.
    monkeypatch.setattr("bot.clock.utcnow", lambda: NOW)
    built = build_services(make_settings(tmp_path / "data"))
    load_dataset(built.db)
    built.close()

    assert main(["report", "--since", "7d", "--format", "json", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert (data["incidents"], data["alerts"], data["compression"]) == (6, 15, 2.5)
    assert data["mtta_s"]["median"] == 120.0
    assert data["noisiest_rules"][0]["alertname"] == "CpuHigh"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "incidents_per_day.png",
        "mtta_mttr_trend.png",
        "noisiest_rules.png",
    ]

    assert main(["report", "--since", "1d"]) == 0
    assert "1 incidents from 1 alerts" in capsys.readouterr().out  # only ApiDown on the 20th


def test_sevbot_report_refuses_a_bad_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEVBOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["report", "--since", "a week"]) == 2
    assert "--since: 'a week' is not a duration" in capsys.readouterr().err
