"""Shared fixtures: a database per test on SQLite and on PostgreSQL, settings, a controllable clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from bot.bootstrap import Services, build_services
from bot.settings import Settings
from storage.db import Database
from storage.models import Alert, Incident, OutboxMessage, TimelineEvent
from tests.support.payloads import T0
from tests.support.processes import MODEL_CACHE

POSTGRES_URL = os.environ.get("SEVBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_ALL = os.environ.get("SEVBOT_TEST_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    """Skip locally when a real part is absent; in CI (SEVBOT_TEST_REQUIRE_ALL=1) that is a failure."""
    if REQUIRE_ALL:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _postgres_schema() -> Iterator[str]:
    conninfo = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
        raise
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that asks for this runs twice: on a fresh SQLite file and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sevbot.db'}"
    else:
        yield from _postgres_schema()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sevbot.db'}"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "worker_in_process": False,
        # Grouping tests score with the rule scorer (its levels are fixed by the words); tests of the
        # model ask for scorer="model" and share one cached bundled model.
        "scorer": "rules",
        "model_cache_dir": MODEL_CACHE,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def services(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Services]:
    built = build_services(make_settings(tmp_path, database_url), clock=clock)
    yield built
    built.close()


def row_counts(db: Database) -> dict[str, int]:
    """How many rows each table the ingest path writes holds (to prove nothing was half-written)."""
    with db.read() as conn:
        return {
            model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for model in (Incident, Alert, TimelineEvent, OutboxMessage)
        }
