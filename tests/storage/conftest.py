"""A migrated database per test, on SQLite and on PostgreSQL (``database_url`` runs each test on both)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.db import Database, create_database
from storage.migrate import upgrade


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = create_database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()
