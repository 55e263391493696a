"""Engines for SQLite (embedded default) and PostgreSQL, and the write transaction that serializes writers."""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 10  # connections kept per process (SQLAlchemy's default keeps 5)

# How SQLite syncs commits to disk. FULL (the default) syncs the WAL on every commit, so a commit that has
# been acknowledged survives power loss or an OS crash; NORMAL syncs only at checkpoints and may lose the
# last commits then (never on a process crash). FULL costs ~4 ms per commit on a 2-core VM's disk
# (bench/sqlite_sync.py: p50 4.0 ms against 0.2 ms), shared by every webhook of a group commit;
# bench/ingest.py --compare-synchronous measures it end to end.
Synchronous = Literal["full", "normal", "extra"]


class WriteLock:
    """The lock SQLite writers of this process queue on, ingestion first, and, with ``path``, the lock
    file that writers of every process queue on.

    A writer marked ``first`` (the webhook path's group commit) goes ahead of every other waiting writer
    (the outbox worker's claims and results, the CLI's), so a webhook waits for at most the one
    transaction already running, never for a queue of the worker's small commits, each with its sync.

    Between processes (``serve`` and its worker child, the CLI) SQLite's own lock is unfair: a writer that
    finds it taken sleeps (1, 2, 5 … then 100 ms at a time) while the other process takes it again, and
    webhooks waited up to 430 ms behind the child's short transactions. ``flock`` on ``path`` instead
    queues them in the kernel, which wakes the next writer as soon as the lock is free.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()  # what writers hold
        self._gate = threading.Condition(threading.Lock())  # where the others wait while one is first
        self._first_waiting = 0
        self.waiting = 0  # writers waiting for the lock now

    @contextmanager
    def hold(self, *, first: bool = False) -> Iterator[None]:
        with self._gate:
            self.waiting += 1
            self._first_waiting += first
        try:
            if first:
                self._lock.acquire()
            else:
                while True:
                    with self._gate:
                        while self._first_waiting:
                            self._gate.wait()
                    self._lock.acquire()
                    if not self._first_waiting:
                        break
                    self._lock.release()  # a first writer came meanwhile: it goes ahead
        finally:
            with self._gate:
                self.waiting -= 1
                self._first_waiting -= first
                if not self._first_waiting:
                    self._gate.notify_all()
        try:
            if self.path is not None:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if self.path is not None:
                    fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def _file(self) -> int:
        if self._fd is None:  # opened on first use, under self._lock
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd


@dataclass(frozen=True, slots=True)
class Database:
    """An engine plus how to start a write transaction on it.

    SQLite allows one writer: writers start with ``BEGIN IMMEDIATE`` so they take the lock up front
    instead of failing half-way, and writers in this process queue on a lock instead of busy-waiting.
    PostgreSQL writers run concurrently and serialize per incident group with advisory locks.
    """

    engine: Engine
    _write_lock: WriteLock
    synchronous: Synchronous = "full"

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self, *, first: bool = False, synced: bool = True) -> Iterator[Connection]:
        """A write transaction: commits on success, rolls back everything on any error.

        On SQLite: ``first`` goes ahead of other writers of this process waiting for the lock (ingestion);
        ``synced=False`` commits without syncing the WAL to disk (``synchronous=NORMAL`` for this one
        transaction): it survives a crash of the process, and is made durable by the next synced commit,
        but the last such commits may be lost if the machine loses power first. For the outbox worker's
        bookkeeping (claims, leases, results), whose loss means at most a message delivered again (delivery
        is at least once anyway): a few milliseconds of sync per message would hold the write lock the
        webhooks wait for.
        """
        if self.is_sqlite:
            # The connection first, then the lock: a new connection's set-up (its PRAGMAs) never runs
            # while other writers wait.
            with self.engine.connect() as conn, self._write_lock.hold(first=first):
                conn.execution_options(sevbot_immediate=True)
                relaxed = not synced and self.synchronous != "normal"
                if relaxed:  # on the driver's connection: outside any transaction (autocommit)
                    _pragma_synchronous(conn, "normal")
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if relaxed:
                        try:
                            _pragma_synchronous(conn, self.synchronous)
                        except Exception:
                            conn.invalidate()  # never back into the pool with the wrong mode
        else:
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def lock_groups(self, conn: Connection, keys: list[str]) -> None:
        """Serialize writers on the same incident groups until the transaction ends.

        SQLite's ``BEGIN IMMEDIATE`` already serializes every writer; PostgreSQL takes one
        transaction-scoped advisory lock per group key, always in sorted order so two writers
        can never deadlock.
        """
        if self.is_sqlite:
            return
        ids = [group_lock_id(key) for key in sorted(set(keys))]
        # One round trip: unnest yields the array in order, so every writer locks in the same order.
        conn.execute(
            text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ids AS bigint[])) AS k"),
            {"ids": ids},
        )

    def leave_checkpoints_to_another_process(self) -> None:
        """SQLite: this process's commits never copy the WAL back into the database file (``PRAGMA
        wal_autocheckpoint=0``); another process calls :meth:`checkpoint` instead.

        For ``sevbot serve`` with its worker child: the commit that crosses SQLite's 1,000-page mark runs
        the checkpoint before it returns, and with the worker's commits beside the webhooks' that took 100
        to 400 ms, while every webhook queued behind it. Does nothing on PostgreSQL.
        """
        if not self.is_sqlite:
            return
        event.listen(self.engine, "connect", _no_autocheckpoint)
        self.engine.dispose()  # connections opened before (migrations) would still checkpoint

    def checkpoint(self) -> None:
        """SQLite: a passive WAL checkpoint (it never waits for, nor holds up, a writer)."""
        if not self.is_sqlite:
            return
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def group_lock_id(key: str) -> int:
    """A stable signed 64-bit id for an advisory lock on a group key."""
    digest = zlib.crc32(key.encode()) << 32 | zlib.adler32(key.encode())
    return digest - (1 << 64) if digest >= 1 << 63 else digest


def is_retryable(exc: BaseException) -> bool:
    """Whether a transaction failed on a lock, so the same transaction may well succeed if tried again:
    SQLite's "database is locked" (another process held the write lock past the busy timeout) and
    PostgreSQL's deadlocks, serialization failures and lock timeouts."""
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "locked" in str(orig) or "busy" in str(orig)
    return isinstance(
        orig,
        psycopg.errors.DeadlockDetected
        | psycopg.errors.SerializationFailure
        | psycopg.errors.LockNotAvailable,
    )


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson: the same JSON as the standard library's, several times faster."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def create_database(
    url: str,
    *,
    echo: bool = False,
    synchronous: Synchronous = "full",
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Database:
    """Build the engine for ``url`` with the settings each backend needs; nothing connects yet.

    ``synchronous`` is SQLite's ``PRAGMA synchronous`` (ignored on PostgreSQL, which syncs every commit);
    ``busy_timeout_ms``: how long a SQLite writer waits for another process's write lock before it fails.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # A file's connections are kept (its pool holds SQLITE_POOL_SIZE): one opened afresh costs its
        # PRAGMAs, and overflow connections are closed again when returned.
        on_file = _lock_file(parsed) is not None
        engine = create_engine(
            url,
            echo=echo,
            **({"pool_size": SQLITE_POOL_SIZE} if on_file else {}),
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
        )
        configure = functools.partial(
            _configure_sqlite, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms
        )
        event.listen(engine, "connect", configure)
        event.listen(engine, "begin", _begin_sqlite)
    else:
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(
            parsed,
            echo=echo,
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
        )
    return Database(engine=engine, _write_lock=WriteLock(_lock_file(parsed)), synchronous=synchronous)


def _lock_file(url: URL) -> str | None:
    """Beside a SQLite database file: the file its writers' processes queue on (None: in memory, or not
    SQLite)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return f"{url.database}.writer-lock"


def _configure_sqlite(
    dbapi_connection: Any,
    _record: Any,
    *,
    synchronous: Synchronous = "full",
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (so BEGIN IMMEDIATE works).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    if synchronous not in ("full", "normal", "extra"):  # never interpolate anything else into a pragma
        raise ValueError(f"SQLite synchronous mode {synchronous!r} is not full, normal or extra")
    cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _pragma_synchronous(conn: Connection, mode: Synchronous) -> None:
    if mode not in ("full", "normal", "extra"):  # never interpolate anything else into a pragma
        raise ValueError(f"SQLite synchronous mode {mode!r} is not full, normal or extra")
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA synchronous={mode.upper()}")


def _begin_sqlite(conn: Connection) -> None:
    # Writers (Database.write) take the write lock up front; readers get a deferred transaction.
    immediate = conn.get_execution_options().get("sevbot_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
