"""Alembic migrations: they build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import create_database
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Base


def test_migrations_match_the_models_and_round_trip(database_url: str) -> None:
    db = create_database(database_url)
    try:
        upgrade(db.engine)
        assert is_current(db.engine)
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

        command.downgrade(alembic_config(db.engine), "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        assert not is_current(db.engine)

        upgrade(db.engine)
        assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
