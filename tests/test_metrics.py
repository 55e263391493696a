"""The metrics: every family README documents is exported under exactly that name, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.metrics import Metrics
from tests.support.payloads import am_alert, am_payload
from tests.support.settings import make_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def exported_names(metrics: Metrics) -> set[str]:
    return {
        family.name + ("_total" if family.type == "counter" else "") for family in metrics.registry.collect()
    }


def documented_names() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Metrics and logs") :].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(sevbot_[a-z_]+)` \|", table, flags=re.MULTILINE))


def test_readme_names_every_exported_metric_exactly(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    exported = exported_names(app.state.services.metrics)
    assert documented_names() == exported
    assert all(name.startswith("sevbot_") for name in exported)


def test_metrics_carry_the_build_and_when_each_source_last_delivered(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        before = client.get("/metrics").text
        assert 'sevbot_build_info{python="' in before and 'version="0.1.0"' in before
        assert "sevbot_webhook_last_received_timestamp_seconds{" not in before
        assert client.post("/webhooks/alertmanager", json=am_payload([am_alert()])).status_code == 202
        after = client.get("/metrics").text
    gauge = "sevbot_webhook_last_received_timestamp_seconds{"
    [line] = [row for row in after.splitlines() if row.startswith(gauge)]
    assert 'source="alertmanager"' in line and float(line.rsplit(" ", 1)[1]) > 1.7e9
