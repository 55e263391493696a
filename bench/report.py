"""Benchmark of building the report over 100,000 incidents and 1,000,000 alerts (target: under 5 s).

What it measures, on a temporary SQLite file (or ``--database-url postgresql://…``, a fresh database it
creates on that server and drops afterwards):

* in-process: ``bot.reporting.build_report(db, since=7d, now=now)`` (the SQL aggregation, reading into
  DataFrames, every figure) timed ``--runs`` times after one warm-up; also ``write_charts`` once;
* whole process: ``sevbot report --since 7d --format json`` as a new process (interpreter start, imports,
  the idempotent migration check, the report, JSON out), ``--process-runs`` times.

It prints median and p99 (the nearest-rank p99: with few runs that is the slowest) for each.

The data is made with numpy and written with sqlite3/psycopg bulk inserts (not through sevbot): incidents
opened over the 8 days before now (so about 1/8 fall outside the 7-day window), 50 rules on 30 services,
60% acknowledged and 90% resolved after log-normal delays, 1-19 alerts each (1,000,000 in all), some
duplicates, 5,000 feedback rows and 20,000 LLM calls.

    .venv/bin/python bench/report.py                      # 100k incidents / 1M alerts on SQLite
    .venv/bin/python bench/report.py --incidents 10000 --alerts 100000 --runs 3
    .venv/bin/python bench/report.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bot.reporting import build_report, write_charts
from storage.db import create_database
from storage.migrate import upgrade
from tests.support.processes import sevbot_command, sevbot_env

LEVELS = np.array(["SEV1", "SEV2", "SEV3", "SEV4"])
STATUSES = np.array(["open", "acknowledged", "resolved"])


def timestamps(epoch_s: np.ndarray) -> np.ndarray:
    """Seconds since the epoch as the strings SQLAlchemy stores in SQLite (naive UTC, microseconds)."""
    as_us = (np.nan_to_num(epoch_s) * 1e6).astype("int64").astype("datetime64[us]")  # NaN rows unused
    return np.char.replace(np.datetime_as_string(as_us, unit="us"), "T", " ")


def make_data(*, incidents: int, alerts: int, now: datetime, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    end = now.timestamp()
    opened = end - rng.uniform(0, 8 * 86400, incidents)
    acked = np.where(
        rng.random(incidents) < 0.6, opened + rng.lognormal(math.log(300), 1.0, incidents), np.nan
    )
    resolved = np.where(
        rng.random(incidents) < 0.9, opened + rng.lognormal(math.log(1800), 1.0, incidents), np.nan
    )
    acked = np.where(acked > end, np.nan, acked)
    resolved = np.where(resolved > end, np.nan, resolved)
    rule = rng.integers(0, 50, incidents)
    service = rng.integers(0, 30, incidents)
    severity = rng.integers(0, 4, incidents)
    status = np.where(~np.isnan(resolved), 2, np.where(~np.isnan(acked), 1, 0))
    # 1..19 alerts per incident, scaled so the total is exactly ``alerts``.
    weights = rng.integers(1, 20, incidents).astype(float)
    per_incident = np.floor(weights / weights.sum() * alerts).astype(int)
    per_incident[: alerts - per_incident.sum()] += 1
    owner = np.repeat(np.arange(incidents), per_incident)
    starts = opened[owner] + rng.uniform(0, 600, alerts)
    return {
        "opened": opened,
        "acked": acked,
        "resolved": resolved,
        "rule": rule,
        "service": service,
        "severity": severity,
        "status": status,
        "alert_count": per_incident,
        "owner": owner,
        "starts": starts,
        "duplicates": rng.poisson(0.3, alerts),
        "feedback_incidents": rng.choice(incidents, 5000, replace=False),
        "feedback_new": rng.integers(0, 5, 5000),  # 4 = noise
        "llm_at": end - rng.uniform(0, 8 * 86400, 20000),
        "llm_outcome": rng.choice(["ok", "ok", "ok", "cached", "timeout", "error", "disabled"], 20000),
        "llm_tokens": rng.integers(200, 2000, 20000),
    }


def incident_rows(d: dict[str, Any], now_text: str) -> Iterator[tuple[Any, ...]]:
    opened, acked, resolved = (timestamps(d[k]) for k in ("opened", "acked", "resolved"))
    has_ack, has_res = ~np.isnan(d["acked"]), ~np.isnan(d["resolved"])
    for i in range(len(d["opened"])):
        name, svc = f"Rule{d['rule'][i]:02d}", f"service-{d['service'][i]:02d}"
        yield (
            i + 1,
            f"{name}/{svc}",
            f"{name} on {svc}",
            name,
            svc,
            "alertmanager",
            STATUSES[d["status"][i]],
            LEVELS[d["severity"][i]],
            "model",
            0.8,
            "bench",
            "[]",
            "{}",
            int(d["alert_count"][i]),
            0,
            bool(i % 17 == 0),
            opened[i],
            acked[i] if has_ack[i] else None,
            "U_BENCH" if has_ack[i] else None,
            resolved[i] if has_res[i] else None,
            None,
            opened[i],
            now_text,
        )


INCIDENT_COLUMNS = (
    "id, group_key, title, alertname, service, source, status, severity, severity_source, confidence, "
    "model_version, reasons, labels, alert_count, firing_count, flapping, opened_at, acknowledged_at, "
    "acknowledged_by, resolved_at, resolved_by, last_alert_at, updated_at"
)
ALERT_COLUMNS = (
    "incident_id, source, group_key, fingerprint, status, alertname, title, service, labels, annotations, "
    'links, "values", starts_at, severity, probabilities, reasons, model_version, duplicates, received_at, '
    "updated_at"
)


def alert_rows(d: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    starts = timestamps(d["starts"])
    owner = d["owner"]
    for j in range(len(owner)):
        i = owner[j]
        name, svc = f"Rule{d['rule'][i]:02d}", f"service-{d['service'][i]:02d}"
        yield (
            int(i) + 1,
            "alertmanager",
            f"{name}/{svc}",
            f"fp{j:08d}",
            "resolved" if d["status"][i] == 2 else "firing",
            name,
            name,
            svc,
            "{}",
            "{}",
            "{}",
            "{}",
            starts[j],
            LEVELS[d["severity"][i]],
            "{}",
            "[]",
            "bench",
            int(d["duplicates"][j]),
            starts[j],
            starts[j],
        )


def other_rows(d: dict[str, Any], now_text: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    feedback = []
    for incident, new in zip(d["feedback_incidents"], d["feedback_new"], strict=True):
        said = LEVELS[d["severity"][incident]]
        noise = new == 4
        feedback.append(
            (
                int(incident) + 1,
                "noise" if noise else "severity",
                f"Rule{d['rule'][incident]:02d}",
                "U_BENCH",
                said,
                None if noise else LEVELS[new],
                now_text,
            )
        )
    at = timestamps(d["llm_at"])
    llm = [
        ("incident_summary", "1", "bench-model", 900.0, int(tokens), int(tokens) // 4, outcome, at[k])
        for k, (outcome, tokens) in enumerate(zip(d["llm_outcome"], d["llm_tokens"], strict=True))
    ]
    return feedback, llm


FEEDBACK_SQL = (
    'INSERT INTO feedback (incident_id, kind, alertname, "user", old_severity, new_severity, created_at) '
    "VALUES ({p})"
)
LLM_SQL = (
    "INSERT INTO llm_calls (prompt_name, prompt_version, model, latency_ms, tokens_in, tokens_out, outcome, "
    "created_at) VALUES ({p})"
)


def load_sqlite(path: Path, d: dict[str, Any], now: datetime) -> None:
    import sqlite3

    now_text = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany(
            f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({_marks(23)})", incident_rows(d, now_text)
        )
        conn.executemany(f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ({_marks(20)})", alert_rows(d))
        feedback, llm = other_rows(d, now_text)
        conn.executemany(FEEDBACK_SQL.format(p=_marks(7)), feedback)
        conn.executemany(LLM_SQL.format(p=_marks(8)), llm)
    conn.close()  # no ANALYZE: sevbot never runs it, so the planner works without statistics here too


def load_postgres(url: str, d: dict[str, Any], now: datetime) -> None:
    now_text = now.isoformat()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for table, columns, rows in (
            ("incidents", INCIDENT_COLUMNS, incident_rows(d, now_text)),
            ("alerts", ALERT_COLUMNS, alert_rows(d)),
        ):
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([_pg(v) for v in row])
        feedback, llm = other_rows(d, now_text)
        cur.executemany(FEEDBACK_SQL.format(p=", ".join(["%s"] * 7)), [tuple(map(_pg, r)) for r in feedback])
        cur.executemany(LLM_SQL.format(p=", ".join(["%s"] * 8)), [tuple(map(_pg, r)) for r in llm])
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('incidents', 'id'), (SELECT max(id) FROM incidents))"
        )
        conn.commit()
        cur.execute("ANALYZE")  # autovacuum would soon do the same on a live server


def _pg(value: Any) -> Any:
    if isinstance(value, np.str_):
        text = str(value)
        return text + "+00:00" if text[:2] == "20" and " " in text else text
    if isinstance(value, np.generic):
        return value.item()
    return value


def _marks(n: int) -> str:
    return ", ".join("?" * n)


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url is None:
        with tempfile.TemporaryDirectory(prefix="sevbot-report-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'report.db'}"
        return
    parsed = make_url(url)
    name = f"sevbot_bench_report_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):.3f} s, p99 {p99:.3f} s over {len(ordered)} runs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7, help="in-process runs after one warm-up")
    parser.add_argument("--process-runs", type=int, default=3)
    parser.add_argument(
        "--database-url", help="a PostgreSQL server to use instead of a temporary SQLite file"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with database(args.database_url) as url:
        db = create_database(url)
        upgrade(db.engine)
        started = time.perf_counter()
        data = make_data(incidents=args.incidents, alerts=args.alerts, now=now, seed=args.seed)
        if db.is_sqlite:
            load_sqlite(Path(make_url(url).database or ""), data, now)
        else:
            load_postgres(url, data, now)
        print(
            f"data: {args.incidents:,} incidents, {args.alerts:,} alerts on {db.engine.dialect.name} "
            f"(made and bulk-inserted in {time.perf_counter() - started:.1f} s)"
        )

        report = build_report(db, since=timedelta(days=7), now=datetime.now(UTC))  # warm-up
        in_process = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = build_report(db, since=timedelta(days=7), now=datetime.now(UTC))
            in_process.append(time.perf_counter() - started)
        figures = report.as_json()
        print(
            f"report: {figures['incidents']:,} incidents and {figures['alerts']:,} alerts in the last 7 days,"
            f" MTTA median {figures['mtta_s']['median']:.0f} s,"
            f" MTTR median {figures['mttr_s']['median']:.0f} s, "
            f"{len(figures['noisiest_rules'])} noisiest rules, {figures['model_agreement']['rated']} rated"
        )
        print(f"build_report in-process:     {percentiles(in_process)}")
        with tempfile.TemporaryDirectory() as charts_dir:
            started = time.perf_counter()
            write_charts(report, Path(charts_dir))
            print(f"write_charts (3 PNGs):       {time.perf_counter() - started:.3f} s")
        db.dispose()

        env = sevbot_env(data_dir=Path(tempfile.gettempdir()), token=None, database_url=url)
        whole = []
        for _ in range(args.process_runs):
            started = time.perf_counter()
            done = subprocess.run(
                [*sevbot_command(), "report", "--since", "7d", "--format", "json"],
                env=env | {"SEVBOT_LOG_LEVEL": "WARNING"},
                capture_output=True,
                check=False,
            )
            whole.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(done.stderr.decode(errors="replace"), file=sys.stderr)
                return 1
        print(f"sevbot report whole process: {percentiles(whole)}")
        print(f"(target: under 5 s; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
