"""A simulated week of alerts and people for ``sevbot replay``: a realistic storm, reproducible by seed.

    .venv/bin/python bench/storm.py --out storm.jsonl            # the week before now, seed 7
    .venv/bin/sevbot replay storm.jsonl && .venv/bin/sevbot report --since 7d --out charts/

It writes JSON lines in time order: Alertmanager webhook notifications (payload version 4, as Alertmanager
0.25 sends them: the whole group each time, firing alerts resent, resolved ones once) and people's actions
(``{"source": "action", ...}``, see ``bot/actions.py``). What is in the week:

* services with dependencies: postgres ← orders-api, payments-api ← checkout ← web-frontend; redis ←
  search-api ← web-frontend; kafka ← billing-worker; auth ← every API;
* background alerts per (rule, service) at a daily rate, lasting a log-normal time, on 1-3 instances;
* a cascading failure on day 4: postgres goes down, then its dependants' error rates, checkout's
  latency, the frontend and the billing consumer lag, recovering in reverse order about 40 min later;
* flapping rules (CPU throttling, clock skew) that fire and resolve every few minutes for an hour or two;
* duplicates: Alertmanager resending firing alerts with each group update and every 4 h, and now and
  then the same notification delivered twice (a sender's retry);
* four people who acknowledge (fast for critical alerts, slower at night, rarely for noise), mark the
  flapping rules as noise, resolve a long disk alert by hand, and rate severities: each (rule, service)
  has a level people consider right, given on some incidents (a confirmation or a correction).

The week ends at ``--end`` (default: now, to the minute), so ``sevbot report --since 7d`` right after
the replay covers it; alerts still firing at the end stay open.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)
REPEAT_INTERVAL = timedelta(hours=4)
REOPEN_WINDOW = timedelta(minutes=30)  # sevbot's default: firings closer than this are one incident
PEOPLE = {"db": "U_ALICE", "platform": "U_BOB", "payments": "U_CAROL", "search": "U_DAVE"}

# service → (team, what it depends on)
SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "postgres": ("db", ()),
    "redis": ("search", ()),
    "kafka": ("platform", ()),
    "auth": ("platform", ("postgres",)),
    "orders-api": ("payments", ("postgres", "auth")),
    "payments-api": ("payments", ("postgres", "auth")),
    "checkout": ("payments", ("orders-api", "payments-api")),
    "search-api": ("search", ("redis", "auth")),
    "web-frontend": ("platform", ("checkout", "search-api")),
    "billing-worker": ("payments", ("kafka", "postgres")),
}


@dataclass(frozen=True, slots=True)
class Rule:
    alertname: str
    severity: str  # the rule file's label
    summary: str
    expr: str
    services: tuple[str, ...]
    per_day: float  # episodes per service per day
    median_minutes: float
    people_say: str | dict[str, str]  # the level people consider right (per service where it differs)
    noise: bool = False  # flaps; people call it noise
    rated: float = 0.3  # share of incidents someone rates


RULES = [
    Rule(
        "HighErrorRate",
        "critical",
        "5xx ratio above 5% on {service}",
        'sum by (service) (rate(http_requests_total{{service="{service}",code=~"5.."}}[5m])) '
        '/ sum by (service) (rate(http_requests_total{{service="{service}"}}[5m])) > 0.05',
        ("orders-api", "payments-api", "checkout", "search-api", "web-frontend", "auth"),
        0.25,
        12,
        {"search-api": "SEV2", "auth": "SEV1"}
        | dict.fromkeys(("orders-api", "payments-api", "checkout"), "SEV1"),
    ),
    Rule(
        "HighLatencyP99",
        "warning",
        "p99 latency above 1s on {service}",
        "histogram_quantile(0.99, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{{service="{service}"}}[5m]))) > 1',
        ("checkout", "search-api", "web-frontend", "orders-api"),
        0.5,
        20,
        {"checkout": "SEV2"},
    ),
    Rule(
        "PodCrashLooping",
        "warning",
        "Pod of {service} is crash looping",
        'increase(kube_pod_container_status_restarts_total{{namespace="prod",container="{service}"}}[15m])'
        " > 3",
        ("auth", "search-api", "billing-worker", "orders-api"),
        0.25,
        25,
        {"auth": "SEV2"},
    ),
    Rule(
        "DiskSpaceLow",
        "warning",
        "Disk almost full on {service}",
        'node_filesystem_avail_bytes{{service="{service}",mountpoint="/var/lib"}} '
        '/ node_filesystem_size_bytes{{service="{service}",mountpoint="/var/lib"}} < 0.1',
        ("postgres", "kafka"),
        0.2,
        150,
        {"postgres": "SEV2"},
    ),
    Rule(
        "PostgresReplicationLag",
        "warning",
        "Replica lag above 30s",
        "pg_replication_lag_seconds > 30",
        ("postgres",),
        0.4,
        15,
        "SEV2",
    ),
    Rule(
        "KafkaConsumerLag",
        "warning",
        "Consumer group of {service} is lagging",
        'sum by (consumergroup) (kafka_consumergroup_lag{{consumergroup="{service}"}}) > 10000',
        ("billing-worker",),
        0.5,
        30,
        "SEV3",
    ),
    Rule(
        "CertificateExpiringSoon",
        "warning",
        "TLS certificate of {service} expires in less than 30 days",
        'probe_ssl_earliest_cert_expiry{{service="{service}"}} - time() < 86400 * 30',
        ("web-frontend", "auth"),
        0.3,
        10,
        "SEV4",
        rated=0.6,
    ),
    Rule(
        "CpuThrottlingHigh",
        "warning",
        "CPU throttling above 25% on {service}",
        'sum(rate(container_cpu_cfs_throttled_periods_total{{container="{service}"}}[5m])) '
        '/ sum(rate(container_cpu_cfs_periods_total{{container="{service}"}}[5m])) > 0.25',
        ("search-api", "web-frontend"),
        0.6,
        5,
        "SEV4",
        noise=True,
    ),
    Rule(
        "NodeClockSkew",
        "info",
        "Clock skew above 50ms on a {service} node",
        'abs(node_timex_offset_seconds{{service="{service}"}}) > 0.05',
        ("kafka", "redis"),
        0.4,
        4,
        "SEV4",
        noise=True,
    ),
    Rule(
        "TargetDown",
        "critical",
        "Scrape target of {service} is down",
        'up{{service="{service}"}} == 0',
        ("redis", "kafka", "auth"),
        0.08,
        8,
        {"redis": "SEV2", "kafka": "SEV1", "auth": "SEV1"},
    ),
    Rule(
        "PostgresDown",
        "critical",
        "PostgreSQL primary is down",
        'pg_up{{service="{service}"}} == 0',
        ("postgres",),
        0.0,  # only in the cascade
        30,
        "SEV1",
    ),
]
RULE_BY_NAME = {rule.alertname: rule for rule in RULES}


@dataclass(slots=True)
class Firing:
    """One alert (labels) firing from ``starts`` to ``ends`` (``None``: still firing at the end)."""

    rule: Rule
    service: str
    instance: str
    starts: datetime
    ends: datetime | None

    @property
    def labels(self) -> dict[str, str]:
        return {
            "alertname": self.rule.alertname,
            "service": self.service,
            "instance": self.instance,
            "job": self.service,
            "namespace": "prod",
            "env": "prod",
            "team": SERVICES[self.service][0],
            "severity": self.rule.severity,
        }

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.labels, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(slots=True)
class Storm:
    start: datetime
    end: datetime
    rng: random.Random
    scale: float = 1.0
    firings: list[Firing] = field(default_factory=list)
    lines: list[tuple[datetime, int, dict[str, Any]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, at: datetime, entry: dict[str, Any]) -> None:
        self.lines.append((at, len(self.lines), entry))
        kind = entry["source"] if entry["source"] != "action" else f"action:{entry['action']}"
        self.counts[kind] = self.counts.get(kind, 0) + 1


def minutes(rng: random.Random, median: float, sigma: float = 0.8) -> timedelta:
    return timedelta(minutes=max(0.5, rng.lognormvariate(math.log(median), sigma)))


def background(storm: Storm) -> None:
    """Each (rule, service) fires at its daily rate, on 1-3 instances, for a log-normal time."""
    days = (storm.end - storm.start).total_seconds() / 86400
    rng = storm.rng
    for rule in RULES:
        for service in rule.services:
            count = _poisson(rng, rule.per_day * storm.scale * days)
            for _ in range(count):
                at = storm.start + timedelta(seconds=rng.uniform(3600, days * 86400 - 600))
                if rule.noise:
                    flap(storm, rule, service, at)
                    continue
                for n in range(rng.choice((1, 1, 1, 2, 3))):
                    starts = at + timedelta(seconds=rng.uniform(0, 90) * n)
                    fire(
                        storm,
                        rule,
                        service,
                        f"{service}-{n}",
                        starts,
                        starts + minutes(rng, rule.median_minutes),
                    )


def flap(storm: Storm, rule: Rule, service: str, at: datetime) -> None:
    """Fire and resolve every few minutes for an hour or two: one instance, many firings."""
    rng = storm.rng
    for _ in range(rng.randint(4, 12)):
        ends = at + minutes(rng, rule.median_minutes, 0.5)
        fire(storm, rule, service, f"{service}-node-{rng.randint(1, 2)}", at, ends)
        at = ends + minutes(rng, 4, 0.5)


def cascade(storm: Storm) -> None:
    """Day 4, 14:10: postgres down, then everything that depends on it, recovering in reverse."""
    t0 = (storm.start + timedelta(days=3)).replace(hour=14, minute=10, second=0, microsecond=0)
    steps = [
        ("PostgresDown", "postgres", 0, 38),
        ("HighErrorRate", "orders-api", 1, 36),
        ("HighErrorRate", "payments-api", 1.5, 36),
        ("HighErrorRate", "auth", 2, 35),
        ("HighErrorRate", "checkout", 3, 34),
        ("HighLatencyP99", "checkout", 3.5, 33),
        ("HighErrorRate", "web-frontend", 5, 31),
        ("KafkaConsumerLag", "billing-worker", 8, 45),
        ("PodCrashLooping", "billing-worker", 9, 20),
    ]
    for alertname, service, start_min, length_min in steps:
        rule = RULE_BY_NAME[alertname]
        for n in range(2 if service != "postgres" else 1):
            starts = t0 + timedelta(minutes=start_min, seconds=20 * n)
            fire(
                storm, rule, service, f"{service}-{n}", starts, starts + timedelta(minutes=length_min - 2 * n)
            )


def fire(storm: Storm, rule: Rule, service: str, instance: str, starts: datetime, ends: datetime) -> None:
    if starts >= storm.end:
        return
    storm.firings.append(Firing(rule, service, instance, starts, ends if ends < storm.end else None))


def notifications(storm: Storm) -> None:
    """Alertmanager's notifications per group (alertname, service), as its dispatcher sends them:
    group_wait after a fresh group's first alert; then on group_interval ticks when something changed,
    and every repeat_interval while alerts fire; a group whose alerts all resolved starts afresh."""
    groups: dict[tuple[str, str], list[Firing]] = {}
    for f in storm.firings:
        groups.setdefault((f.rule.alertname, f.service), []).append(f)
    for (alertname, service), firings in groups.items():
        changes = sorted({f.starts for f in firings} | {f.ends for f in firings if f.ends is not None})
        previous = storm.start - timedelta(days=1)  # the last notification of this group
        last_sent = previous
        due: datetime | None = changes[0] + GROUP_WAIT
        while due is not None and due < storm.end:
            at = due
            firing = [f for f in firings if f.starts <= at and (f.ends is None or f.ends > at)]
            resolved = [f for f in firings if f.ends is not None and previous < f.ends <= at]
            changed = any(previous < c <= at for c in changes)
            if changed or at - last_sent >= REPEAT_INTERVAL:
                payload = am_payload(alertname, service, firing + resolved, at)
                storm.add(at, {"source": "alertmanager", "payload": payload})
                if storm.rng.random() < 0.03:  # the sender retried: the very same notification again
                    storm.add(at + timedelta(seconds=2), {"source": "alertmanager", "payload": payload})
                last_sent = at
            previous = at
            upcoming = next((c for c in changes if c > at), None)
            if firing:
                ticks = 1 if upcoming is None else max(1, math.ceil((upcoming - at) / GROUP_INTERVAL))
                due = min(at + ticks * GROUP_INTERVAL, last_sent + REPEAT_INTERVAL)
            else:
                due = None if upcoming is None else upcoming + GROUP_WAIT


def am_payload(alertname: str, service: str, alerts: list[Firing], at: datetime) -> dict[str, Any]:
    items = []
    for f in sorted(alerts, key=lambda f: (f.instance, f.starts)):
        resolved = f.ends is not None and f.ends <= at
        expr = f.rule.expr.format(service=f.service)
        items.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": f.labels,
                "annotations": {
                    "summary": f.rule.summary.format(service=f.service),
                    "description": f"{f.rule.summary.format(service=f.service)} ({f.instance}).",
                    "runbook_url": f"https://runbooks.example.com/{f.rule.alertname.lower()}",
                },
                "startsAt": iso(f.starts),
                "endsAt": iso(f.ends) if resolved and f.ends else iso(at + timedelta(minutes=4)),
                "generatorURL": f"http://prometheus.prod:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1",
                "fingerprint": f.fingerprint,
            }
        )
    status = "firing" if any(a["status"] == "firing" for a in items) else "resolved"
    group = {"alertname": alertname, "service": service}
    return {
        "receiver": "sevbot",
        "status": status,
        "alerts": items,
        "groupLabels": group,
        "commonLabels": {
            **group,
            "env": "prod",
            "namespace": "prod",
            "severity": items[0]["labels"]["severity"],
        },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.prod:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        "truncatedAlerts": 0,
    }


def people(storm: Storm) -> None:
    """Per incident (firings of a group closer than the reopen window): acknowledge, rate, mark noise,
    resolve by hand, as the owning team's person would."""
    rng = storm.rng
    groups: dict[tuple[str, str], list[Firing]] = {}
    for f in sorted(storm.firings, key=lambda f: f.starts):
        groups.setdefault((f.rule.alertname, f.service), []).append(f)
    for (alertname, service), firings in groups.items():
        rule = RULE_BY_NAME[alertname]
        user = PEOPLE[SERVICES[service][0]]
        for episode in _episodes(firings):
            opened = episode[0].starts
            ends = [f.ends for f in episode]
            closed = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
            seen = opened + GROUP_WAIT + timedelta(seconds=15)
            match = {"alertname": alertname, "service": service}

            def act(
                kind: str, at: datetime, match: dict[str, str] = match, user: str = user, **extra: Any
            ) -> None:
                if at < storm.end:
                    storm.add(
                        at,
                        {
                            "source": "action",
                            "action": kind,
                            "incident_match": match,
                            "user": user,
                            "at": iso(at),
                        }
                        | extra,
                    )

            night = opened.hour < 7
            p_ack = 0.08 if rule.noise else {"critical": 0.95, "warning": 0.65, "info": 0.2}[rule.severity]
            median = {"critical": 3, "warning": 12, "info": 30}[rule.severity] * (3 if night else 1)
            acked = seen + minutes(rng, median, 0.7)
            if rng.random() < p_ack and (closed is None or acked < closed):
                act("ack", acked)
            if rule.noise and rng.random() < 0.5:
                act("noise", seen + minutes(rng, 20), reason="flaps every few minutes; nobody can act on it")
            level = rule.people_say if isinstance(rule.people_say, str) else rule.people_say.get(service)
            if level and rng.random() < rule.rated:
                act("sev", seen + minutes(rng, 15), severity=level)
            if alertname == "DiskSpaceLow" and closed and closed - opened > timedelta(hours=2):
                act("resolve", opened + minutes(rng, 70, 0.3))


def _episodes(firings: list[Firing]) -> Iterator[list[Firing]]:
    episode: list[Firing] = []
    until: datetime | None = None
    for f in firings:
        if episode and until is not None and f.starts > until + REOPEN_WINDOW:
            yield episode
            episode = []
        if not episode:
            until = f.ends
        episode.append(f)
        if until is not None:
            until = None if f.ends is None else max(until, f.ends)
    if episode:
        yield episode


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def generate(*, end: datetime, days: float, seed: int, scale: float = 1.0) -> Storm:
    storm = Storm(start=end - timedelta(days=days), end=end, rng=random.Random(seed), scale=scale)
    background(storm)
    cascade(storm)
    notifications(storm)
    people(storm)
    storm.lines.sort(key=lambda line: (line[0], line[1]))
    return storm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON-lines file to write")
    parser.add_argument(
        "--days", type=float, default=7.0, help="how long the simulated period is (default 7)"
    )
    parser.add_argument("--end", help="when it ends, ISO 8601 UTC (default: now, to the minute)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scale", type=float, default=3.0, help="multiplies every rule's daily rate (default 3)"
    )
    args = parser.parse_args(argv)
    if args.end:
        end = datetime.fromisoformat(args.end.replace("Z", "+00:00"))
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
    else:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
    storm = generate(end=end, days=args.days, seed=args.seed, scale=args.scale)
    with args.out.open("w", encoding="utf-8") as handle:
        for _, _, entry in storm.lines:
            handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(storm.counts.items()))
    print(
        f"wrote {len(storm.lines)} lines to {args.out}: {len(storm.firings)} alert firings over "
        f"{args.days:g} days ending {iso(end)}; {counts}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
