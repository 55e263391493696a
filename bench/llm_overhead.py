"""What a draft costs sevbot before any LLM call: grounding (SQL reads, runbook search), prompt rendering and
redaction, per incident. Prints median and p99 of each part.

Incidents of 1 to 60 alerts with realistic labels and annotations (some carrying secrets to redact) are
stored through the real ingest path on SQLite; the runbook library is the real one in ../shared/data when
present (531 documents), else none.

    .venv/bin/python bench/llm_overhead.py [--incidents 300]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bot.bootstrap import build_services
from bot.llm.drafting import Drafter, DraftRequest
from bot.llm.grounding import build_grounding
from bot.llm.redaction import Redactor
from bot.llm.runbooks import RunbookLibrary
from bot.normalize import normalize
from bot.settings import Settings
from tests.support.payloads import am_alert, am_payload, body

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NAMES = [
    "KubePodCrashLooping",
    "NodeFilesystemSpaceFillingUp",
    "CheckoutHighErrorRate",
    "KubeAPIDown",
    "TargetDown",
]


def library() -> RunbookLibrary | None:
    if not (DATA / "runbooks.jsonl").exists():
        return None
    records = [
        json.loads(line) for line in (DATA / "runbooks.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return RunbookLibrary((r["runbook_id"], r["text"]) for r in records)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(3)
    runbooks = library()
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(data_dir=Path(tmp), worker_in_process=False))
        start = datetime.now(UTC) - timedelta(hours=2)
        for g in range(args.incidents):
            name = rng.choice(NAMES)
            alerts = [
                am_alert(
                    name,
                    instance=f"node-{g}-{i}:9100",
                    service=f"svc-{g % 40}",
                    starts_at=start + timedelta(seconds=i),
                    annotations={
                        "summary": f"{name} on node-{g}-{i}",
                        "description": f"value {rng.random():.3f} above threshold; "
                        f"dsn postgres://app:pw{g}x@db-{g}:5432/app contact ops-{g}@example.com",
                        "runbook_url": f"https://runbooks.example.com/{name.lower()}",
                    },
                )
                for i in range(rng.randint(1, 60))
            ]
            payload = body(am_payload(alerts, group_key=f"bench/{g}"))
            services.ingestor.ingest(normalize("alertmanager", payload, ["alertname", "service"]))
        redactor = Redactor({"customer": r"CUST-\d{6}"})
        drafter = Drafter(
            db=services.db,
            client=None,
            redactor=redactor,
            library=runbooks,
            budget=None,  # type: ignore[arg-type]  (never reached: only the preparation is timed)
            clock=lambda: datetime.now(UTC),
        )
        whole, grounding_times, redaction_times, sizes = [], [], [], []
        for incident_id in range(1, args.incidents + 1):
            t0 = time.perf_counter()
            prepared, _ = drafter._prepare(
                DraftRequest(10**12, incident_id, "summary", "opened", None), "bench"
            )
            whole.append(time.perf_counter() - t0)
            assert prepared is not None
            sizes.append(len(prepared.prompt_text))
            t1 = time.perf_counter()
            with services.db.read() as conn:
                build_grounding(conn, incident_id, library=runbooks, redact=redactor)
            grounding_times.append(time.perf_counter() - t1)
            t2 = time.perf_counter()
            redactor(prepared.prompt_text)
            redaction_times.append(time.perf_counter() - t2)
        services.close()

    def line(label: str, values: list[float]) -> str:
        median, p99 = statistics.median(values) * 1e3, percentile(values, 0.99) * 1e3
        return f"{label}: median {median:.2f} ms, p99 {p99:.2f} ms"

    print(f"incidents: {args.incidents}, runbook library: {'real (531 documents)' if runbooks else 'none'}")
    print(f"prompt size: median {statistics.median(sizes) / 1000:.1f} kB, max {max(sizes) / 1000:.1f} kB")
    print(line("whole preparation per incident (grounding + render + redact)", whole))
    print(line("grounding alone (SQL reads, dedupe, runbook search)", grounding_times))
    print(line("redaction of the rendered prompt alone", redaction_times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
