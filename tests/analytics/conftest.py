"""Shared fixtures of the analytics tests: the bundled model (trained once) and the real public data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analytics.model import SeverityModel
from analytics.training import train_default_model
from tests.conftest import missing

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def default_model() -> SeverityModel:
    return train_default_model(seed=0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "alert_rules.jsonl").exists():
        missing(f"real public alert data not found at {SHARED_DATA}")  # skipped locally; fails in CI
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_rules(shared_data: Path) -> list[dict[str, Any]]:
    with open(shared_data / "alert_rules.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def real_instances(shared_data: Path) -> list[dict[str, Any]]:
    with open(shared_data / "alert_instances.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
