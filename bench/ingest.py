"""Benchmark of webhook ingestion through a whole ``sevbot serve`` process: alerts/s and p50/p99 latency.

What it measures: HTTP clients post Alertmanager-shaped notifications (webhook payload version 4, 10 alerts
each) to ``POST /webhooks/alertmanager`` of a real, separate sevbot process, and time each request until its
``202`` (which sevbot sends only after the commit). So every figure includes the whole path: HTTP and
keep-alive connections, uvicorn, FastAPI, validation, normalizing, scoring, grouping, the group commit on
the database, the answer, and the in-process outbox worker competing for the same CPU and database.
The clients run on the same machine (and share its cores), as a sender on the host would.

Two runs per database:

* throughput: ``--concurrency`` clients post back to back for ``--seconds``: alerts/s, p50/p99 latency;
* fixed rate: open-loop at ``--rate`` alerts/s (requests are sent on schedule, never waiting for earlier
  answers) for ``--seconds``: p50/p99 latency of each request, timed from when it was sent.

The traffic: thousands of distinct alerts over hundreds of services (one payload = one Alertmanager group
of 10 instances, with realistic labels, annotations and generatorURL), mixed as Alertmanager produces it:
mostly new firing groups, some resends of groups already sent (duplicates), some resolutions.
Every answer must be ``202``; anything else is counted and reported, and makes the exit code 1.
Beside the latencies it prints the CPU the server process used (per webhook, and in cores: sevbot is
bound by one core's worth of GIL) and the client's own share; PostgreSQL's backends are not included.

Without ``--url`` it starts its own ``sevbot serve`` on a free loopback port, on a fresh SQLite file in a
temporary directory, or with ``--database-url postgresql://…`` on a fresh database it creates on that
server (``sevbot_bench_<pid>``) and drops afterwards; ``--both-databases`` runs SQLite, then PostgreSQL.
``--compare-synchronous`` runs SQLite twice in the same run, with ``synchronous=FULL`` (sevbot's durable
default: every commit synced to disk) and ``NORMAL`` (faster; may lose the last commits on power loss),
and prints what FULL costs.

``--baseline`` starts, beside sevbot, ``bench/baseline_server.py``: a bare FastAPI + pydantic + SQLAlchemy
Core insert into SQLite (WAL, FULL, no scoring, grouping or outbox). Both get the same payloads (the same
traffic seed) from the same client, in alternating rounds (``--rounds``, default 2, each server's turn
rotating so that a change of the machine's load is shared out); the medians of the rounds are printed with
the ratio of the rates and, in ``--json``: ``alerts_per_s``, ``baseline_alerts_per_s``, ``ratio``,
``rate_200_p50_ms``, ``rate_200_p99_ms``, ``baseline_rate_200_p50_ms``, ``baseline_rate_200_p99_ms``.
``--old-code DIR`` adds a third server in the same rotation, sevbot from another checkout (``PYTHONPATH``),
so that before and after are measured in one sitting (``old_alerts_per_s``, ``old_ratio`` …).

    .venv/bin/python bench/ingest.py                    # SQLite: throughput, then 200 alerts/s (~30 s)
    .venv/bin/python bench/ingest.py --both-databases   # the same on SQLite and on PostgreSQL
    .venv/bin/python bench/ingest.py --compare-synchronous   # SQLite with synchronous=FULL, then NORMAL
    .venv/bin/python bench/ingest.py --json             # one JSON object (first database)
    .venv/bin/python bench/ingest.py --baseline --json  # sevbot and the bare baseline, alternating
    git worktree add /tmp/old main && .venv/bin/python bench/ingest.py --baseline --old-code /tmp/old
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8080 --token "$SEVBOT_WEBHOOK_TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import psycopg
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from tests.support.processes import LOOPBACK, free_port, start_process, start_sevbot

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
ALERTS_PER_PAYLOAD = 10
WARMUP_REQUESTS = 40

# (alertname, severity, summary, PromQL) - the rules a typical Prometheus setup carries.
RULES = [
    (
        "HighErrorRate",
        "critical",
        "5xx ratio above 5%",
        'sum(rate(http_requests_total{code=~"5.."}[5m])) > 0.05',
    ),
    (
        "HighLatencyP99",
        "warning",
        "p99 latency above 1s",
        "histogram_quantile(0.99, rate(http_duration_seconds_bucket[5m])) > 1",
    ),
    (
        "PodCrashLooping",
        "critical",
        "pod restarting",
        "rate(kube_pod_container_status_restarts_total[15m]) > 0",
    ),
    ("InstanceDown", "critical", "target down", "up == 0"),
    (
        "NodeDiskPressure",
        "warning",
        "disk above 85%",
        "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.15",
    ),
    (
        "NodeMemoryHigh",
        "warning",
        "memory above 90%",
        "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1",
    ),
    (
        "CPUThrottlingHigh",
        "info",
        "CPU throttled",
        "rate(container_cpu_cfs_throttled_periods_total[5m]) > 0.25",
    ),
    ("KafkaConsumerLag", "warning", "consumer lag growing", "kafka_consumergroup_lag > 10000"),
    (
        "CertificateExpiry",
        "info",
        "certificate expires soon",
        "probe_ssl_earliest_cert_expiry - time() < 86400 * 14",
    ),
    ("QueueBacklog", "warning", "queue backlog", "rabbitmq_queue_messages_ready > 5000"),
    ("DatabaseReplicationLag", "critical", "replica behind", "pg_replication_lag_seconds > 30"),
    (
        "TooManyOpenConnections",
        "warning",
        "connections near limit",
        "pg_stat_activity_count / pg_settings_max_connections > 0.8",
    ),
]
TEAMS = ["payments", "checkout", "search", "platform", "identity", "data", "mobile", "growth"]
WORDS = ["api", "worker", "gateway", "ledger", "cart", "auth", "index", "stream", "billing", "notify"]
CLUSTERS = ["eu-west-1", "us-east-1", "ap-south-1"]


# --- the traffic ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """One Alertmanager group (a rule on a service): its alerts fire and resolve together."""

    rule: tuple[str, str, str, str]
    service: str
    team: str
    cluster: str
    starts_at: datetime | None = None
    firing_body: bytes = b""


@dataclass(slots=True)
class Traffic:
    """Makes the next payload: mostly new firing groups, some resends, some resolutions.

    A group can be resent or resolved only once its firing was answered ``202``, as with Alertmanager.
    """

    rng: random.Random
    resend_share: float = 0.25
    resolve_share: float = 0.15
    idle: list[Group] = field(default_factory=list)
    firing: list[Group] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "resend": 0, "resolve": 0})

    @classmethod
    def build(cls, *, services: int = 600, seed: int = 7) -> Traffic:
        rng = random.Random(seed)
        groups: list[Group] = []
        for n in range(services):
            service = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{n}"
            team = rng.choice(TEAMS)
            cluster = rng.choice(CLUSTERS)
            groups.extend(Group(rule, service, team, cluster) for rule in rng.sample(RULES, 6))
        rng.shuffle(groups)
        return cls(rng=rng, idle=groups)

    def next(self) -> tuple[str, Group, bytes]:
        """The next payload: its kind, its group, and the body to post."""
        roll = self.rng.random()
        if self.firing and roll < self.resolve_share:
            group = self.firing.pop(self.rng.randrange(len(self.firing)))
            self.counts["resolve"] += 1
            return "resolve", group, self._body(group, resolved=True)
        if self.firing and roll < self.resolve_share + self.resend_share:
            group = self.rng.choice(self.firing)
            self.counts["resend"] += 1
            return "resend", group, group.firing_body
        group = self.idle.pop(0) if self.idle else self.firing.pop(0)
        group.starts_at = datetime.now(UTC) - timedelta(seconds=self.rng.randint(5, 600))
        group.firing_body = self._body(group, resolved=False)
        self.counts["new"] += 1
        return "new", group, group.firing_body

    def answered(self, kind: str, group: Group) -> None:
        """The server accepted ``group``'s payload: it may now be resent or resolved (or fire anew)."""
        if kind == "new":
            self.firing.append(group)
        elif kind == "resolve":
            self.idle.append(group)

    def _body(self, group: Group, *, resolved: bool) -> bytes:
        alertname, severity, summary, expr = group.rule
        assert group.starts_at is not None
        starts = _iso(group.starts_at)
        ends = _iso(datetime.now(UTC)) if resolved else "0001-01-01T00:00:00Z"
        status = "resolved" if resolved else "firing"
        generator = (
            f"http://prometheus-{group.cluster}.internal:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1"
        )
        common = {"alertname": alertname, "service": group.service, "severity": severity}
        alerts = []
        for i in range(ALERTS_PER_PAYLOAD):
            pod = f"{group.service}-{7 + i:x}f9c{i}d-{i:02d}q"
            labels = {
                **common,
                "job": group.service,
                "namespace": group.team,
                "cluster": group.cluster,
                "env": "prod",
                "team": group.team,
                "pod": pod,
                "instance": f"10.{i}.{len(group.service)}.{i * 7 % 250}:8080",
                "prometheus": f"monitoring/k8s-{group.cluster}",
            }
            alerts.append(
                {
                    "status": status,
                    "labels": labels,
                    "annotations": {
                        "summary": f"{group.service}: {summary}",
                        "description": f"{alertname} on {pod} in {group.cluster} ({summary}).",
                        "runbook_url": f"https://runbooks.example.com/{alertname.lower()}",
                    },
                    "startsAt": starts,
                    "endsAt": ends,
                    "generatorURL": generator,
                    "fingerprint": hashlib.sha256(f"{alertname}/{group.service}/{i}".encode()).hexdigest()[
                        :16
                    ],
                }
            )
        payload = {
            "receiver": "sevbot",
            "status": status,
            "alerts": alerts,
            "groupLabels": {"alertname": alertname, "service": group.service},
            "commonLabels": common,
            "commonAnnotations": {"summary": f"{group.service}: {summary}"},
            "externalURL": "http://alertmanager.internal:9093",
            "version": "4",
            "groupKey": f'{{}}/{{severity=~"critical|warning|info"}}:{{alertname="{alertname}", '
            f'service="{group.service}"}}',
            "truncatedAlerts": 0,
        }
        return json.dumps(payload).encode()


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- posting and timing -----------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)
    alerts: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass(frozen=True, slots=True)
class RunResult:
    mode: str
    seconds: float
    requests: int
    alerts_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    mix: dict[str, int]
    concurrency: int | None = None
    rate: float | None = None
    late_ms_max: float | None = None
    server_cpu_share: float | None = None  # CPU-seconds the server used per second (1.0 = one core)
    server_cpu_ms_per_webhook: float | None = None
    client_cpu_share: float | None = None
    outbox_drain_s: float | None = None  # after the run, until the worker had delivered every message


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` and its live child processes (``serve --workers N``),
    all threads, from /proc; ``None`` elsewhere."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    if pid not in stats:
        return None
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, fields in stats.items() if int(fields[1]) == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    ticks = sum(int(stats[p][11]) + int(stats[p][12]) for p in tree)
    return ticks / os.sysconf("SC_CLK_TCK")


class Poster:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str | None,
        traffic: Traffic,
        server_pid: int | None = None,
    ) -> None:
        self.session = session
        self.url = url.rstrip("/") + "/webhooks/alertmanager"
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.traffic = traffic
        self.server_pid = server_pid

    async def post_one(self, tally: Tally | None) -> None:
        """Post the next payload; record its latency and alerts in ``tally`` (``None``: warm-up)."""
        kind, group, body = self.traffic.next()
        started = time.perf_counter()
        try:
            async with self.session.post(self.url, data=body, headers=self.headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            if tally is not None:
                tally.error(type(exc).__name__)
            return
        elapsed = time.perf_counter() - started
        if status != 202:
            if tally is not None:
                tally.error(f"HTTP {status}")
            return
        self.traffic.answered(kind, group)
        if tally is not None:
            tally.latencies.append(elapsed)
            tally.alerts += ALERTS_PER_PAYLOAD


class Window:
    """What one run used: wall time, the traffic mix, and the CPU of the server and of this client."""

    def __init__(self, poster: Poster) -> None:
        self.poster = poster
        self.mix = dict(poster.traffic.counts)
        self.server_cpu = process_cpu_seconds(poster.server_pid) if poster.server_pid else None
        self.client_cpu = time.process_time()
        self.started = time.perf_counter()

    def result(self, mode: str, tally: Tally, **extra: Any) -> RunResult:
        elapsed = time.perf_counter() - self.started
        ms = sorted(s * 1000 for s in tally.latencies)
        server_cpu = None
        if self.server_cpu is not None and self.poster.server_pid:
            end = process_cpu_seconds(self.poster.server_pid)
            server_cpu = end - self.server_cpu if end is not None else None
        counts = self.poster.traffic.counts
        return RunResult(
            mode=mode,
            seconds=round(elapsed, 2),
            requests=len(ms),
            alerts_per_s=round(tally.alerts / elapsed, 1),
            p50_ms=round(_percentile(ms, 50), 2),
            p99_ms=round(_percentile(ms, 99), 2),
            max_ms=round(ms[-1], 2) if ms else 0.0,
            errors=tally.errors,
            mix={k: counts[k] - self.mix[k] for k in self.mix},
            server_cpu_share=round(server_cpu / elapsed, 2) if server_cpu is not None else None,
            server_cpu_ms_per_webhook=round(server_cpu * 1000 / len(ms), 2)
            if server_cpu is not None and ms
            else None,
            client_cpu_share=round((time.process_time() - self.client_cpu) / elapsed, 2),
            **extra,
        )


async def run_throughput(poster: Poster, *, seconds: float, concurrency: int) -> RunResult:
    """Closed loop: ``concurrency`` clients, each posting its next payload as soon as the last is answered."""
    tally = Tally()
    window = Window(poster)
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            await poster.post_one(tally)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return window.result("throughput", tally, concurrency=concurrency)


async def run_fixed_rate(poster: Poster, *, seconds: float, rate: float) -> RunResult:
    """Open loop: request ``i`` is sent at ``start + i / payloads_per_s`` whatever earlier ones are doing."""
    tally = Tally()
    interval = ALERTS_PER_PAYLOAD / rate
    total = max(1, round(seconds / interval))
    tasks: list[asyncio.Task[None]] = []
    late_max = 0.0
    loop = asyncio.get_running_loop()
    window = Window(poster)
    started = loop.time()
    for i in range(total):
        due = started + i * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late_max = max(late_max, loop.time() - due)
        tasks.append(asyncio.create_task(poster.post_one(tally)))
    await asyncio.gather(*tasks)
    return window.result("fixed_rate", tally, rate=rate, late_ms_max=round(late_max * 1000, 2))


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(pct) - 1]


class Target:
    """One server under test with its own client session and traffic (same seed: the same payloads)."""

    def __init__(self, server: Server, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.poster = Poster(session, server.url, server.token, Traffic.build(), server.pid)

    async def warm_up(self) -> None:
        warmup = Tally()
        await asyncio.gather(*(self.poster.post_one(warmup) for _ in range(WARMUP_REQUESTS)))
        if warmup.errors:
            raise SystemExit(f"bench: {self.server.label} refused the warm-up requests: {warmup.errors}")
        await outbox_drained(self.session, self.server.url)

    async def run(self, mode: str, *, seconds: float, concurrency: int, rate: float) -> RunResult:
        if mode == "throughput":
            result = await run_throughput(self.poster, seconds=seconds, concurrency=concurrency)
        else:
            result = await run_fixed_rate(self.poster, seconds=seconds, rate=rate)
        return replace(result, outbox_drain_s=await outbox_drained(self.session, self.server.url))


def _session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def bench(
    url: str,
    token: str | None,
    *,
    modes: list[str],
    seconds: float,
    concurrency: int,
    rate: float,
    server_pid: int | None = None,
) -> list[RunResult]:
    async with _session() as session:
        target = Target(Server(url, token, "", server_pid), session)
        await target.warm_up()
        return [await target.run(mode, seconds=seconds, concurrency=concurrency, rate=rate) for mode in modes]


async def bench_alternating(
    servers: list[Server], *, modes: list[str], rounds: int, seconds: float, concurrency: int, rate: float
) -> list[list[RunResult]]:
    """Each mode in ``rounds`` rounds, the servers taking turns (ABC, then BCA …) so that a change of the
    machine's load in the middle of the run is shared out; the results of each server, in order."""
    async with contextlib.AsyncExitStack() as stack:
        targets = [Target(server, await stack.enter_async_context(_session())) for server in servers]
        for target in targets:
            await target.warm_up()
        results: list[list[RunResult]] = [[] for _ in targets]
        for mode in modes:
            for n in range(rounds):
                for k in range(len(targets)):
                    i = (n + k) % len(targets)
                    results[i].append(
                        await targets[i].run(mode, seconds=seconds, concurrency=concurrency, rate=rate)
                    )
        return results


async def outbox_drained(session: aiohttp.ClientSession, url: str, within: float = 60.0) -> float | None:
    """Wait (bounded) until sevbot's outbox has nothing pending; how long that took, or ``None`` if unknown.

    Each run then starts from a quiet server, not one still announcing the previous run's incidents.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        async with session.get(url.rstrip("/") + "/metrics") as response:
            text = await response.text()
        pending = [
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "sevbot_outbox_messages"
            for sample in family.samples
            if sample.labels.get("status") == "pending"
        ]
        if not pending:
            return None
        if pending[0] == 0:
            return round(time.perf_counter() - started, 2)
        await asyncio.sleep(0.1)
    return None


# --- the server under test --------------------------------------------------------------------------


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty database on ``admin_url``'s server for one run; dropped afterwards."""
    url = make_url(admin_url)
    name = f"sevbot_bench_{os.getpid()}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    token: str | None
    label: str
    pid: int | None = None


@contextmanager
def own_server(
    database_url: str | None,
    *,
    workers: int = 1,
    outbox: bool = True,
    synchronous: str = "full",
    code: Path | None = None,
) -> Iterator[Server]:
    """``sevbot serve`` on a free port with a fresh database (SQLite, or one made on ``database_url``)."""
    token = secrets.token_urlsafe(24)
    settings = {
        "log_level": "WARNING",
        "workers": str(workers),
        "worker_in_process": str(outbox).lower(),
        "sqlite_synchronous": synchronous,
    }
    # Another checkout's code (``--old-code``): its packages come first on the server's path.
    env = {"PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])} if code else {}
    tag = f" · code {code}" if code else ""
    with tempfile.TemporaryDirectory(prefix="sevbot-bench-", dir=os.environ.get("SEVBOT_BENCH_DIR")) as tmp:
        data_dir = Path(tmp)
        if database_url is None:
            with start_sevbot(data_dir=data_dir, token=token, settings=settings, env=env) as server:
                label = f"sqlite (synchronous={synchronous.upper()}){tag}"
                yield Server(server.url, token, label, server.process.pid)
            return
        with (
            fresh_postgres(database_url) as url,
            start_sevbot(
                data_dir=data_dir, token=token, database_url=url, settings=settings, env=env
            ) as server,
        ):
            yield Server(server.url, token, f"postgresql{tag}", server.process.pid)


@contextmanager
def baseline_server() -> Iterator[Server]:
    """``bench/baseline_server.py`` (bare FastAPI + pydantic + SQLAlchemy Core into SQLite) on a free port."""
    bench_dir = os.environ.get("SEVBOT_BENCH_DIR")
    with tempfile.TemporaryDirectory(prefix="sevbot-baseline-", dir=bench_dir) as tmp:
        port = free_port()
        script = Path(__file__).resolve().with_name("baseline_server.py")
        argv = [sys.executable, str(script), "--port", str(port), "--database", f"{tmp}/baseline.db"]
        with start_process(
            name="baseline",
            argv=argv,
            url=f"http://{LOOPBACK}:{port}",
            ready_path="/readyz",
            log_path=Path(tmp) / "baseline.log",
        ) as running:
            label = "baseline (FastAPI + SQLAlchemy Core, SQLite FULL)"
            yield Server(running.url, None, label, running.process.pid)


def _median_result(results: list[RunResult]) -> RunResult:
    """One figure per mode from several rounds: the median of each round's rate and percentiles."""
    first = results[0]
    return replace(
        first,
        seconds=round(sum(r.seconds for r in results), 2),
        requests=sum(r.requests for r in results),
        alerts_per_s=round(statistics.median(r.alerts_per_s for r in results), 1),
        p50_ms=round(statistics.median(r.p50_ms for r in results), 2),
        p99_ms=round(statistics.median(r.p99_ms for r in results), 2),
        max_ms=max(r.max_ms for r in results),
        errors={k: sum(r.errors.get(k, 0) for r in results) for r in results for k in r.errors},
        mix={k: sum(r.mix.get(k, 0) for r in results) for k in first.mix},
        server_cpu_ms_per_webhook=_median_or_none([r.server_cpu_ms_per_webhook for r in results]),
        server_cpu_share=_median_or_none([r.server_cpu_share for r in results]),
    )


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if len(known) == len(values) and known else None


def run_baseline(args: argparse.Namespace, modes: list[str]) -> int:
    """sevbot (embedded default, or ``--database-url``), the bare baseline, and with ``--old-code`` sevbot
    from that checkout too, rounds alternating."""
    options = {"workers": args.workers, "outbox": not args.no_outbox, "synchronous": args.sqlite_synchronous}
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(own_server(args.database_url, **options))]
        servers.append(stack.enter_context(baseline_server()))
        if args.old_code:
            old = Path(args.old_code).resolve()
            servers.append(stack.enter_context(own_server(args.database_url, code=old, **options)))
        load = os.getloadavg()[0]
        runs = asyncio.run(
            bench_alternating(
                servers,
                modes=modes,
                rounds=args.rounds,
                seconds=args.seconds,
                concurrency=args.concurrency,
                rate=args.rate,
            )
        )
    names = [{"throughput": "throughput", "rate": "fixed_rate"}[m] for m in modes]
    reports = [
        Report(server.label, load, [_median_result([r for r in rs if r.mode == m]) for m in names])
        for server, rs in zip(servers, runs, strict=True)
    ]
    docs = [_json([report]) for report in reports]
    doc = docs[0]
    doc["rounds"] = args.rounds
    for prefix, other in zip(["baseline", "old"], docs[1:], strict=False):
        doc[prefix] = other
        for key, value in other.items():
            if key.endswith("_ms") or key == "alerts_per_s":
                doc[f"{prefix}_{key}"] = value
    if "alerts_per_s" in doc and doc["baseline_alerts_per_s"]:
        doc["ratio"] = round(doc["alerts_per_s"] / doc["baseline_alerts_per_s"], 3)
        if "old_alerts_per_s" in doc:
            doc["old_ratio"] = round(doc["old_alerts_per_s"] / doc["baseline_alerts_per_s"], 3)
    doc["rounds_detail"] = [[asdict(r) for r in rs] for rs in runs]
    if args.json:
        print(json.dumps(doc))
    else:
        print(f"median of {args.rounds} alternating rounds per mode")
        for report in reports:
            _print(report)
        if "ratio" in doc:
            before = f" (old code: {doc['old_ratio']:.3f})" if "old_ratio" in doc else ""
            print(f"ratio sevbot ÷ baseline: {doc['ratio']:.3f}{before}")
        key = f"rate_{args.rate:g}_p99_ms"
        if key in doc:
            before = f", old code {doc['old_' + key]:.1f} ms" if "old_" + key in doc else ""
            print(
                f"fixed rate {args.rate:g} alerts/s p99: sevbot {doc[key]:.1f} ms, baseline "
                f"{doc['baseline_' + key]:.1f} ms ({doc[key] / doc['baseline_' + key]:.1f}×){before}"
            )
    return 1 if any(r.errors for rs in runs for r in rs) else 0


# --- the command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="benchmark this running sevbot instead of starting one")
    parser.add_argument("--token", default=os.environ.get("SEVBOT_WEBHOOK_TOKEN"), help="with --url")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each run (default 12)")
    parser.add_argument("--rate", type=float, default=200.0, help="alerts/s of the fixed-rate run")
    parser.add_argument("--concurrency", type=int, default=16, help="clients of the throughput run")
    parser.add_argument("--mode", choices=["both", "throughput", "rate"], default="both")
    parser.add_argument("--database-url", help="a PostgreSQL server (a fresh database is created on it)")
    parser.add_argument(
        "--both-databases",
        action="store_true",
        help=f"run on SQLite, then PostgreSQL (--database-url, default {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--compare-synchronous",
        action="store_true",
        help="SQLite twice in one run: synchronous=FULL (the durable default), then NORMAL",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["full", "normal", "extra"],
        default="full",
        help="SEVBOT_SQLITE_SYNCHRONOUS of the own SQLite server (default full)",
    )
    parser.add_argument("--workers", type=int, default=1, help="sevbot serve --workers (own server only)")
    parser.add_argument(
        "--no-outbox",
        action="store_true",
        help="own server without the in-process outbox worker (ingestion alone; messages stay queued)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="beside sevbot, the bare FastAPI + SQLAlchemy Core baseline (bench/baseline_server.py), "
        "rounds alternating; prints both and the ratio",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds per mode with --baseline (default 2)")
    parser.add_argument(
        "--old-code",
        metavar="DIR",
        help="with --baseline: also sevbot from this checkout (e.g. a `git worktree add` of main), in turn",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    modes = ["throughput", "rate"] if args.mode == "both" else [args.mode]
    if args.baseline:
        return run_baseline(args, modes)

    if args.url:
        targets: list[tuple[str | None, str]] = []
    elif args.compare_synchronous:
        targets = [(None, "full"), (None, "normal")]
    elif args.both_databases:
        targets = [(None, args.sqlite_synchronous), (args.database_url or DEFAULT_POSTGRES, "full")]
    else:
        targets = [(args.database_url, args.sqlite_synchronous)]

    def run(server: Server) -> list[RunResult]:
        return asyncio.run(
            bench(
                server.url,
                server.token,
                modes=modes,
                seconds=args.seconds,
                concurrency=args.concurrency,
                rate=args.rate,
                server_pid=server.pid,
            )
        )

    reports: list[Report] = []
    if args.url:
        load = os.getloadavg()[0]
        reports.append(Report("as running", load, run(Server(args.url, args.token, "as running"))))
        if not args.json:
            _print(reports[-1])
    for database, synchronous in targets:
        with own_server(
            database, workers=args.workers, outbox=not args.no_outbox, synchronous=synchronous
        ) as server:
            load = os.getloadavg()[0]
            reports.append(Report(server.label, load, run(server)))
        if not args.json:
            _print(reports[-1])
    if args.compare_synchronous and not args.json:
        _print_cost(*reports[-2:])

    if args.json:
        print(json.dumps(_json(reports)))
    return 1 if any(r.errors for report in reports for r in report.results) else 0


@dataclass(frozen=True, slots=True)
class Report:
    database: str
    load_average: float  # the machine's 1-minute load average when the runs started
    results: list[RunResult]


def _json(reports: list[Report]) -> dict[str, Any]:
    def flat(report: Report) -> dict[str, Any]:
        doc: dict[str, Any] = {"database": report.database}
        for r in report.results:
            if r.mode == "throughput":
                doc |= {"alerts_per_s": r.alerts_per_s, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms}
            else:
                key = f"rate_{r.rate:g}"
                doc |= {f"{key}_p50_ms": r.p50_ms, f"{key}_p99_ms": r.p99_ms}
        doc["errors"] = sum(n for r in report.results for n in r.errors.values())
        doc["load_average"] = round(report.load_average, 2)
        doc["runs"] = [asdict(r) for r in report.results]
        return doc

    first, *others = [flat(report) for report in reports]
    if others:
        first["other_databases"] = others
    return first


def _print_cost(full: Report, normal: Report) -> None:
    """What synchronous=FULL costs against NORMAL, run by run."""
    print("synchronous=FULL against NORMAL (same run, same traffic):")
    for a, b in zip(full.results, normal.results, strict=True):
        if a.mode == "throughput":
            change = (a.alerts_per_s / b.alerts_per_s - 1) * 100 if b.alerts_per_s else 0.0
            print(
                f"  throughput  {a.alerts_per_s:,.0f} vs {b.alerts_per_s:,.0f} alerts/s ({change:+.1f}%)"
                f" · p50 {a.p50_ms:.1f} vs {b.p50_ms:.1f} ms · p99 {a.p99_ms:.1f} vs {b.p99_ms:.1f} ms"
            )
        else:
            print(
                f"  fixed rate  {a.rate:g} alerts/s: p50 {a.p50_ms:.1f} vs {b.p50_ms:.1f} ms"
                f" · p99 {a.p99_ms:.1f} vs {b.p99_ms:.1f} ms"
            )


def _print(report: Report) -> None:
    print(
        f"sevbot ingest benchmark · database {report.database} · {os.cpu_count()} CPUs"
        f" · load average {report.load_average:.1f} at start · {ALERTS_PER_PAYLOAD} alerts per webhook"
    )
    for r in report.results:
        mix = ", ".join(f"{k} {v}" for k, v in r.mix.items())
        errors = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "none"
        if r.mode == "throughput":
            print(
                f"  throughput  {r.concurrency} clients, {r.seconds:.1f} s: {r.alerts_per_s:,.0f} alerts/s "
                f"({r.requests / r.seconds:,.0f} webhooks/s) · p50 {r.p50_ms:.1f} ms · p99 {r.p99_ms:.1f} ms"
                f" · max {r.max_ms:.1f} ms"
            )
        else:
            print(
                f"  fixed rate  {r.rate:g} alerts/s, {r.seconds:.1f} s: p50 {r.p50_ms:.1f} ms · "
                f"p99 {r.p99_ms:.1f} ms · max {r.max_ms:.1f} ms · sender late ≤ {r.late_ms_max:.1f} ms"
            )
        print(f"              {r.requests} webhooks answered 202 ({mix}) · errors: {errors}")
        cpu = [f"client {r.client_cpu_share:.2f}"]
        if r.server_cpu_share is not None:
            cpu.insert(
                0, f"server {r.server_cpu_share:.2f} ({r.server_cpu_ms_per_webhook:.2f} ms per webhook)"
            )
        drained = f" · outbox drained {r.outbox_drain_s:.1f} s later" if r.outbox_drain_s is not None else ""
        print(f"              CPU cores used: {', '.join(cpu)}{drained}")


if __name__ == "__main__":
    sys.exit(main())
