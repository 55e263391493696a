"""Database helpers for tests: row counts (nothing half-written), a PostgreSQL schema per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Alert, Incident, OutboxMessage, TimelineEvent
from tests.support.requirements import POSTGRES_URL, missing


def row_counts(db: Database) -> dict[str, int]:
    """How many rows each table the ingest path writes holds."""
    with db.read() as conn:
        return {
            model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for model in (Incident, Alert, TimelineEvent, OutboxMessage)
        }


def postgres_schema() -> Iterator[str]:
    """A database URL on a fresh schema of the test server, dropped afterwards."""
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
