"""LLM calls in an alert storm: replay 5,000 alerts forming 50 incidents and count the calls per incident.

The storm is replayed as ``sevbot replay`` would send it (Alertmanager notifications of 10 alerts, groups
interleaved, some alerts escalating from warning to critical), with the outbox worker delivering between
notifications, through the real drafting sink and the real ``openai`` client to a local fake
OpenAI-compatible server. Then every alert resolves, the clock moves past the redraft interval so any
deferred redraft comes due, and the outbox is drained. Run twice: a storm that resolves, and one that
does not. Prints the calls per incident (the aim: at most two) and what happened to every draft request.

    .venv/bin/python bench/llm_storm.py [--incidents 50] [--alerts 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bot.bootstrap import build_services, outbox_sinks
from bot.llm.sink import DraftSink
from bot.normalize import normalize
from bot.outbox.console import ConsoleSink
from bot.outbox.worker import OutboxWorker
from bot.settings import Settings
from storage.models import LlmCall, OutboxMessage
from tests.support.fake_llm import FakeLLM
from tests.support.payloads import am_alert, am_payload, body

GROUP_BY = ["alertname", "service"]


class WallClock:
    """The real time plus an offset the benchmark can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def notifications(incidents: int, alerts: int, seed: int = 7) -> list[tuple[str, list[dict[str, Any]]]]:
    """(group key, alerts) per notification: each group's alerts arrive 10 at a time, groups interleaved."""
    rng = random.Random(seed)
    per_group = alerts // incidents
    start = datetime.now(UTC) - timedelta(minutes=30)
    queues = []
    for g in range(incidents):
        name, service = f"Service{g}HighErrorRate", f"service-{g}"
        fired = [
            am_alert(
                name,
                instance=f"{service}-{i}:8080",
                service=service,
                severity="critical" if i >= per_group * 0.7 and g % 3 == 0 else "warning",
                starts_at=start + timedelta(seconds=i * 10),
                annotations={"summary": f"{name} on {service}-{i}", "description": "5xx above 5%"},
            )
            for i in range(per_group)
        ]
        queues.append((f"storm/{g}", [fired[i : i + 10] for i in range(0, per_group, 10)]))
    out: list[tuple[str, list[dict[str, Any]]]] = []
    while any(chunks for _, chunks in queues):
        key, chunks = rng.choice([q for q in queues if q[1]])
        out.append((key, chunks.pop(0)))
    return out


async def drain(worker: OutboxWorker, sink: DraftSink, clock: WallClock) -> None:
    """Deliver until nothing is due: wait for drafts in flight, and let handed-back rows come due."""
    while True:
        delivered = await worker.run_once()
        if sink.in_flight:
            await sink.drain()
        elif sink.ready:
            clock.offset += timedelta(seconds=sink.recheck)
        elif not delivered:
            return


async def storm(incidents: int, alerts: int, *, resolve: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, FakeLLM().running() as llm:
        settings = Settings(
            data_dir=Path(tmp),
            worker_in_process=False,
            openai_base_url=llm.base_url,
            llm_model="bench-model",
            llm_handoff_seconds=30.0,
            llm_calls_per_hour=100_000,  # count what the storm asks for, not what the default budget allows
            llm_tokens_per_day=100_000_000,
        )
        clock = WallClock()
        services = build_services(settings, clock=clock)
        router = outbox_sinks(services, slack=ConsoleSink(lambda _: None))
        worker = OutboxWorker(db=services.db, sink=router, clock=clock)
        sink = router.sinks["llm"]
        assert isinstance(sink, DraftSink)
        started = time.perf_counter()
        sent: dict[str, list[dict[str, Any]]] = {}
        for n, (key, chunk) in enumerate(notifications(incidents, alerts), start=1):
            services.ingestor.ingest(
                normalize("alertmanager", body(am_payload(chunk, group_key=key)), GROUP_BY)
            )
            sent.setdefault(key, []).extend(chunk)
            if n % 10 == 0:
                await drain(worker, sink, clock)
        await drain(worker, sink, clock)
        if resolve:
            for key, fired in sent.items():
                for i in range(0, len(fired), 10):
                    resolved = [
                        {**a, "status": "resolved", "endsAt": a["startsAt"]} for a in fired[i : i + 10]
                    ]
                    services.ingestor.ingest(
                        normalize("alertmanager", body(am_payload(resolved, group_key=key)), GROUP_BY)
                    )
            await drain(worker, sink, clock)
        clock.offset += settings.llm_redraft_interval + timedelta(minutes=1)
        await drain(worker, sink, clock)
        elapsed = time.perf_counter() - started
        with services.db.read() as conn:
            per_incident = Counter(
                dict(
                    conn.execute(
                        select(LlmCall.incident_id, func.count())
                        .where(LlmCall.outcome.in_(("ok", "timeout", "error")))
                        .group_by(LlmCall.incident_id)
                    ).all()
                )
            )
            requests = Counter(
                (payload["reason"], status, str(result.get("skipped") or result.get("source") or ""))
                for payload, status, result in conn.execute(
                    select(OutboxMessage.payload, OutboxMessage.status, OutboxMessage.result).where(
                        OutboxMessage.topic == "llm"
                    )
                )
            )
            outcomes = Counter(
                dict(conn.execute(select(LlmCall.outcome, func.count()).group_by(LlmCall.outcome)).all())
            )
        services.close()
        return {
            "incidents": len(sent),
            "alerts": sum(len(v) for v in sent.values()),
            "requests_to_server": len(llm.requests),
            "max_calls_per_incident": max(per_incident.values(), default=0),
            "calls_per_incident": dict(sorted(Counter(per_incident.values()).items())),
            "draft_requests": dict(sorted(requests.items())),
            "llm_call_outcomes": dict(sorted(outcomes.items())),
            "seconds": round(elapsed, 1),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--alerts", type=int, default=5000)
    args = parser.parse_args()
    worst = 0
    for resolve in (True, False):
        result = asyncio.run(storm(args.incidents, args.alerts, resolve=resolve))
        worst = max(worst, result["max_calls_per_incident"])
        print(f"storm that {'resolves' if resolve else 'keeps firing'}:")
        for key, value in result.items():
            print(f"  {key}: {value}")
    print(f"most LLM calls for one incident: {worst} (aim: at most 2)")
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
