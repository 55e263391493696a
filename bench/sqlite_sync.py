"""What ``synchronous=FULL`` costs per commit on SQLite in WAL mode, against ``NORMAL``: one process, the
same database settings as sevbot's (``storage.db.create_database``), small write transactions like one
webhook's (an outbox row), the two modes interleaved block by block so machine load hits both alike.

FULL syncs the WAL file at every commit (a commit that answered survives power loss); NORMAL only at
checkpoints. The end-to-end figure is in ``bench/ingest.py --compare-synchronous``, where group commit
shares one sync among every webhook of a round; this is the cost one commit pays.

    .venv/bin/python bench/sqlite_sync.py                 # 20 blocks of 100 commits per mode, in ./
    .venv/bin/python bench/sqlite_sync.py --dir /var/lib/sevbot   # on the disk sevbot will use
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from storage.db import Database, Synchronous, create_database
from storage.migrate import upgrade
from storage.outbox import NewMessage, OutboxRepository


def commit_times(db: Database, count: int) -> list[float]:
    """Seconds per write transaction, ``count`` of them, each one outbox row."""
    now = datetime.now(UTC)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with db.write() as conn:
            OutboxRepository(conn).enqueue([NewMessage("slack", "incident.opened", None, {})], now)
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20, help="blocks per mode (default 20)")
    parser.add_argument("--commits", type=int, default=100, help="commits per block (default 100)")
    parser.add_argument("--dir", help="where the test databases go (default: a temporary directory here)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sevbot-sync-", dir=args.dir or ".") as tmp:
        modes: tuple[Synchronous, ...] = ("full", "normal")
        dbs = {
            mode: create_database(f"sqlite:///{Path(tmp) / f'{mode}.db'}", synchronous=mode) for mode in modes
        }
        for db in dbs.values():
            upgrade(db.engine)
            commit_times(db, 20)  # warm up
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        load = os.getloadavg()[0]
        for block in range(args.blocks):
            for mode in modes if block % 2 == 0 else reversed(modes):
                times[mode] += commit_times(dbs[mode], args.commits)
        for db in dbs.values():
            db.dispose()
    print(
        f"SQLite WAL commit latency, {args.blocks} interleaved blocks of {args.commits} commits per mode"
        f" · {os.cpu_count()} CPUs · load average {load:.1f} at start"
    )
    medians = {}
    for mode in modes:
        ordered = sorted(times[mode])
        medians[mode] = statistics.median(ordered)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        print(
            f"  synchronous={mode.upper():6} p50 {medians[mode] * 1000:.2f} ms · p99 {p99 * 1000:.2f} ms"
            f" · {len(ordered) / sum(ordered):,.0f} commits/s alone"
        )
    print(f"  FULL costs {(medians['full'] - medians['normal']) * 1000:+.2f} ms per commit (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
