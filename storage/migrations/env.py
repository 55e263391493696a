"""Alembic environment: runs migrations on the engine handed over by storage.migrate (SQL only)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` command line: take the URL from the ini file
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///data/sevbot.db")
    assert isinstance(engine, Engine)
    return engine


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
