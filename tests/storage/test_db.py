"""SQLite engines: durable commits by default (synchronous=FULL), NORMAL only when asked for."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import SQLITE_POOL_SIZE, WriteLock, create_database
from tests.support.processes import wait_until

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


def test_a_writer_marked_first_goes_ahead_of_writers_already_waiting() -> None:
    lock = WriteLock()
    order: list[str] = []

    def writer(name: str, first: bool) -> None:
        with lock.hold(first=first):
            order.append(name)

    threads = []
    with lock.hold():  # a transaction in progress (the outbox worker's)
        writers = (("worker", False), ("another worker", False), ("webhooks", True))
        for n, (name, first) in enumerate(writers, start=1):
            threads.append(threading.Thread(target=writer, args=(name, first)))
            threads[-1].start()
            wait_until(lambda n=n: lock.waiting == n, what=f"{n} writers waiting")
    for thread in threads:
        thread.join(timeout=10)

    assert order[0] == "webhooks"
    assert sorted(order[1:]) == ["another worker", "worker"]
    assert lock.waiting == 0


@pytest.mark.parametrize("fail", [False, True])
def test_an_unsynced_write_is_normal_for_itself_only(tmp_path: Path, fail: bool) -> None:
    db = create_database(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with (
            pytest.raises(RuntimeError) if fail else contextlib.nullcontext(),
            db.write(synced=False) as conn,
        ):
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == LEVELS["normal"]
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            if fail:
                raise RuntimeError("rolled back")
        with db.write() as conn:  # the pool's one connection again, back to FULL
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == LEVELS["full"]
            tables = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 't'")).scalar_one()
        assert tables == (0 if fail else 1)  # committed (or rolled back) as any write
    finally:
        db.dispose()


def test_a_writer_opens_its_connection_before_it_queues_for_the_lock(tmp_path: Path) -> None:
    """A new connection's set-up (its PRAGMAs) is not done while other writers wait for the lock."""
    db = create_database(f"sqlite:///{tmp_path / 'a.db'}")
    entered = threading.Event()

    def writer() -> None:
        with db.write() as conn:
            conn.execute(text("SELECT 1"))
            entered.set()

    try:
        with db._write_lock.hold():  # another writer's transaction in progress
            thread = threading.Thread(target=writer)
            thread.start()
            wait_until(lambda: db._write_lock.waiting == 1, what="the writer queued for the lock")
            assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # its connection, open
            assert not entered.is_set()
        thread.join(timeout=10)
        assert entered.is_set()
    finally:
        db.dispose()


def test_a_sqlite_file_keeps_its_connections_for_the_next_use(tmp_path: Path) -> None:
    db = create_database(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with contextlib.ExitStack() as stack:
            for _ in range(SQLITE_POOL_SIZE):
                stack.enter_context(db.read())
        assert db.engine.pool.checkedin() == SQLITE_POOL_SIZE  # type: ignore[attr-defined]  # none closed
    finally:
        db.dispose()
