"""In-process ingestion benchmark: the same traffic as bench/ingest.py, straight into the Ingestor.

No HTTP, no uvicorn: normalizing, scoring (the serving model unless --rules), grouping and the group commit
on a fresh SQLite file (or --database-url). It prints alerts/s and the per-commit p50/p99, so the
whole-process figures of bench/ingest.py can be split into "sevbot's own work" and "the web stack".

    .venv/bin/python bench/ingest_inprocess.py [--seconds 10] [--batch 8] [--rules] [--profile] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import Traffic
from bot.bootstrap import build_services
from bot.normalize import normalize
from bot.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=8, help="webhooks per group commit")
    parser.add_argument("--rules", action="store_true", help="score with the rule scorer, not the model")
    parser.add_argument("--database-url")
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=args.database_url,
            worker_in_process=False,
            scorer="rules" if args.rules else "model",
            model_cache_dir=Path(tempfile.gettempdir()) / "sevbot-bench-models",
        )
        services = build_services(settings)
        traffic = Traffic.build()
        group_by = services.config.grouping.by
        latencies: list[float] = []
        alerts = 0
        profiler = cProfile.Profile() if args.profile else None
        cpu_started = time.process_time()
        started = time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            picked = [traffic.next() for _ in range(args.batch)]
            t0 = time.perf_counter()
            if profiler:
                profiler.enable()
            batches = [normalize("alertmanager", payload, group_by) for _, _, payload in picked]
            results = services.ingestor.ingest_many(batches)
            if profiler:
                profiler.disable()
            latencies.append(time.perf_counter() - t0)
            for (kind, group, _), result in zip(picked, results, strict=True):
                if isinstance(result, Exception):
                    raise result
                traffic.answered(kind, group)
            alerts += sum(len(b.alerts) for b in batches)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        services.close()

    latencies.sort()
    figures = {
        "alerts_per_s": round(alerts / elapsed, 1),
        # CPU per alert is steadier than wall time on a busy machine; 1000 / it is the one-core ceiling.
        "cpu_us_per_alert": round(cpu / alerts * 1e6, 1),
        "commit_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "commit_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 2),
        "webhooks_per_commit": args.batch,
        "scorer": "rules" if args.rules else "model",
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:20} {value}")
    if profiler:
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(40)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
