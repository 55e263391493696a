"""SQLite engines: durable commits by default (synchronous=FULL), NORMAL only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import create_database

# PRAGMA synchronous answers a number: 1 NORMAL, 2 FULL, 3 EXTRA.
LEVELS = {"normal": 1, "full": 2, "extra": 3}


def synchronous(url: str, **options: str) -> int:
    db = create_database(url, **options)  # type: ignore[arg-type]
    try:
        with db.read() as conn:
            return int(conn.execute(text("PRAGMA synchronous")).scalar_one())
    finally:
        db.dispose()


def test_sqlite_commits_are_synced_to_disk_by_default(tmp_path: Path) -> None:
    assert synchronous(f"sqlite:///{tmp_path / 'a.db'}") == LEVELS["full"]


@pytest.mark.parametrize("mode", ["normal", "full", "extra"])
def test_the_synchronous_mode_is_the_one_asked_for(tmp_path: Path, mode: str) -> None:
    assert synchronous(f"sqlite:///{tmp_path / 'a.db'}", synchronous=mode) == LEVELS[mode]


def test_an_unknown_mode_is_refused_before_it_reaches_a_pragma(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not full, normal or extra"):
        synchronous(f"sqlite:///{tmp_path / 'a.db'}", synchronous="off; DROP TABLE x")
