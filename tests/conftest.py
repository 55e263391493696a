"""Fixtures every test may use: a database per test on SQLite and PostgreSQL, settings, a clock, the CLI's
environment, and the real public data beside the checkout. Helpers live in ``tests/support/``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Services, build_services
from tests.support.clock import Clock
from tests.support.db import postgres_schema
from tests.support.fake_slack import FakeSlack
from tests.support.processes import MODEL_CACHE
from tests.support.requirements import SHARED_DATA, missing
from tests.support.settings import make_settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that asks for this runs twice: on a fresh SQLite file and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sevbot.db'}"
    else:
        yield from postgres_schema()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sevbot.db'}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Services]:
    built = build_services(make_settings(tmp_path, database_url), clock=clock)
    yield built
    built.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack Web API over real HTTP that records every call (see tests/support/fake_slack.py)."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment ``sevbot`` commands read, with nothing of the developer's own: a fresh data folder,
    the shared model cache, the rule scorer (levels fixed by the source's words). Returns ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith(("SEVBOT_", "SLACK_", "OPENAI_", "AZURE_OPENAI_")) and not name.startswith(
            "SEVBOT_TEST_"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SEVBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SEVBOT_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("SEVBOT_SCORER", "rules")
    return tmp_path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout: the real public alert rules and runbooks."""
    if not (SHARED_DATA / "alert_rules.jsonl").exists():
        missing(f"real public alert data not found at {SHARED_DATA}")  # skipped locally; fails in CI
    return SHARED_DATA


@pytest.fixture(scope="session")
def mixins(shared_data: Path) -> Path:
    """The rendered monitoring-mixins rule files of the shared data."""
    return shared_data / "upstream" / "monitoring-mixins__website"


@pytest.fixture(scope="session")
def real_rules(shared_data: Path) -> list[dict[str, Any]]:
    with open(shared_data / "alert_rules.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def real_instances(shared_data: Path) -> list[dict[str, Any]]:
    with open(shared_data / "alert_instances.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
