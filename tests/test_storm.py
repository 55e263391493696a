"""bench/storm.py: a reproducible week that replays cleanly and gives the report meaningful figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from bot.cli import main, read_replay
from bot.reporting import build_report
from storage.db import create_database
from tests.support.processes import MODEL_CACHE

END = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_storm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_storm", BENCH / "storm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def storm() -> ModuleType:
    return load_storm()


def test_the_same_seed_writes_the_same_file_in_time_order(storm: ModuleType, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (first, second):
        assert storm.main(["--out", str(path), "--end", "2026-11-22T09:00:00Z", "--scale", "1"]) == 0
    assert first.read_bytes() == second.read_bytes()

    entries = [json.loads(line) for line in first.read_text().splitlines()]
    sources = {e["source"] for e in entries}
    assert sources == {"alertmanager", "action"}
    actions = {e["action"] for e in entries if e["source"] == "action"}
    assert actions == {"ack", "noise", "sev", "resolve"}
    times = [
        e["at"] if e["source"] == "action" else max(a["startsAt"] for a in e["payload"]["alerts"])
        for e in entries
    ]
    assert all(t <= "2026-11-22T09:00:00Z" for t in times)
    lines, errors = read_replay(first)
    assert errors == [] and len(lines) == len(entries)


def test_a_replayed_storm_gives_the_report_its_figures(
    storm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SEVBOT_DATABASE_URL", "SEVBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEVBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SEVBOT_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("SEVBOT_SCORER", "rules")
    path = tmp_path / "storm.jsonl"
    assert storm.main(["--out", str(path), "--end", END.isoformat()]) == 0

    assert main(["replay", str(path)]) == 0, "every action found its incident"
    assert "duplicate(s)" in capsys.readouterr().out
    db = create_database(f"sqlite:///{tmp_path / 'data' / 'sevbot.db'}")
    try:
        data = build_report(db, since=timedelta(days=7), now=END, top=50).as_json()
    finally:
        db.dispose()

    assert data["incidents"] > 50 and data["compression"] > 1.5 and data["duplicates"] > 0
    assert data["mtta_s"]["count"] > 10 and data["mttr_s"]["count"] > 10
    assert data["mtta_s"]["median"] < data["mttr_s"]["median"]
    noisiest = data["noisiest_rules"]
    assert {r["alertname"] for r in noisiest[:2]} == {"NodeClockSkew", "CpuThrottlingHigh"}
    assert all(r["flapping"] > 0 and r["share_noise"] > 0 for r in noisiest[:2])
    cascade = {r["alertname"]: r for r in noisiest}["PostgresDown"]
    assert cascade["incidents"] == 1
    agreement = data["model_agreement"]
    assert agreement["rated"] > 10 and agreement["noise"] > 0
    assert sum(level["people_said"] for level in agreement["levels"].values()) > 0
    assert {s["service"] for s in data["by_service"]} >= {"postgres", "checkout", "web-frontend"}
