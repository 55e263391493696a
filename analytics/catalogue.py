"""The bundled, labelled catalogue of alert archetypes written by sevbot's authors (pure; package data).

Data flow: ``analytics/data/archetypes.jsonl`` (one alert archetype per line, with a ``{c}``/``{C}``
placeholder for the component) ─► :func:`load_archetypes` ─► one more "organisation" of rules for the
bundled model (``analytics.bundled.catalogue_rules``: each archetype once, its own level) and
:func:`catalogue_examples`: expanded variants with contexts, for tests and benchmarks.

The bundled model learns from the archetypes' wording only; the context policy below is what the
catalogue's variants were labelled with, and ``analytics.policy`` now holds sevbot's own (fixed) policy.
Each archetype is expanded over components of its kind, environments, label sets, and scoring contexts.
The level an example gets is the archetype's level adjusted by the team policy this catalogue encodes:

* dev and staging environments are one level less urgent, and so are low-criticality services;
* a burst on a critical or high-criticality service is one level more urgent;
* a flapping alert below SEV1 is one level less urgent;
* when people rated past incidents of the alert at least three times, their majority wins.

The source's own severity word is what the rule author wrote for the archetype (with some disagreement),
present on about two thirds of the rows, so the model learns to score alerts with and without it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

from analytics.burst import context_burst
from analytics.examples import TrainingExample, rule_alert
from analytics.records import AlertRecord, Severity
from analytics.scoring import ScoringContext

COMPONENTS: Mapping[str, tuple[str, ...]] = {
    "http": (
        "checkout",
        "payments",
        "search",
        "login",
        "cart",
        "api-gateway",
        "orders",
        "catalog",
        "notifications",
        "profile",
    ),
    "k8s": ("checkout", "payments", "ingress-nginx", "search", "orders", "coredns"),
    "db": ("postgres", "mysql", "mongodb"),
    "cache": ("redis", "memcached"),
    "queue": ("kafka", "rabbitmq", "nats"),
    "node": ("web", "db", "worker", "edge"),
    "storage": ("ceph", "minio"),
    "lb": ("checkout", "api-gateway", "payments"),
    "dns": ("coredns",),
    "cert": ("shop-frontend", "public-api", "internal-mtls", "vpn"),
    "backup": ("postgres", "mysql", "etcd", "object-store"),
    "batch": ("nightly-billing", "report-export", "etl-orders", "invoice-sync"),
    "security": ("login", "api-gateway", "admin-portal"),
    "deploy": ("checkout", "payments", "search", "orders"),
    "pipeline": ("clickstream", "orders-cdc", "metrics-rollup"),
    "info": ("checkout", "search", "payments", "catalog"),
}
SEVERITY_WORDS: Mapping[Severity, tuple[tuple[str, float], ...]] = {
    Severity.SEV1: (("critical", 0.6), ("page", 0.15), ("P1", 0.1), ("sev1", 0.05), ("emergency", 0.1)),
    Severity.SEV2: (("critical", 0.35), ("high", 0.2), ("error", 0.1), ("P2", 0.1), ("warning", 0.25)),
    Severity.SEV3: (("warning", 0.7), ("warn", 0.1), ("P3", 0.1), ("medium", 0.1)),
    Severity.SEV4: (("info", 0.65), ("low", 0.1), ("P4", 0.1), ("none", 0.05), ("notice", 0.1)),
}
CRITICALITIES = ("critical", "high", "medium", "low")
ENVIRONMENTS = (("prod", 0.6), ("staging", 0.2), ("dev", 0.2))
VARIANTS_PER_ARCHETYPE = 12
_EPOCH = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday


@dataclass(frozen=True, slots=True)
class Archetype:
    """One alert archetype as written in the catalogue file."""

    category: str
    kind: str
    name: str
    summary: str
    description: str
    expr: str
    for_duration: str
    level: Severity


def load_archetypes() -> list[Archetype]:
    """Read the bundled archetypes (``analytics/data/archetypes.jsonl``)."""
    text = resources.files("analytics").joinpath("data/archetypes.jsonl").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(
                Archetype(
                    category=row["category"],
                    kind=row["kind"],
                    name=row["name"],
                    summary=row["summary"],
                    description=row["description"],
                    expr=row["expr"],
                    for_duration=row["for"],
                    level=Severity(row["level"]),
                )
            )
    return out


def _camel(component: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", component) if part)


def _fill(template: str, component: str) -> str:
    snake = re.sub(r"[^a-z0-9]+", "_", component.lower())
    return template.replace("{c}_", f"{snake}_").replace("{C}", _camel(component)).replace("{c}", component)


def _weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices], k=1)[0]


def _shift(level: Severity, steps: int) -> Severity:
    return Severity(f"SEV{min(4, max(1, level.rank + steps))}")


def _source_word(rng: random.Random, level: Severity) -> str:
    if rng.random() < 0.12:  # authors disagree with the catalogue now and then
        level = _shift(level, rng.choice((-1, 1)))
    return _weighted(rng, SEVERITY_WORDS[level])


def _context(rng: random.Random) -> ScoringContext:
    usual = round(10 ** rng.uniform(-0.3, 1.3), 2)
    burst = rng.random() < 0.35
    if burst:
        per_hour = int(usual * rng.uniform(5.0, 30.0)) + 3
        alerts_60m, alerts_5m = per_hour, max(2, per_hour // rng.randint(3, 8))
        group_5m = rng.randint(3, 40)
    else:
        alerts_60m = int(rng.uniform(0, 1.3) * usual)
        alerts_5m = min(alerts_60m, rng.randint(0, 1))
        group_5m = rng.randint(0, 2)
    ratings: dict[str, int] = {}
    if rng.random() < 0.2:
        ratings = {f"SEV{rng.randint(1, 4)}": rng.randint(1, 6)}
    return ScoringContext(
        service_criticality=rng.choice((*CRITICALITIES, None)),
        group_alerts_5m=group_5m,
        group_alerts_60m=group_5m + rng.randint(0, 10),
        service_alerts_5m=alerts_5m,
        service_alerts_60m=alerts_60m,
        service_usual_per_hour=usual,
        flapping=rng.random() < 0.1,
        duplicates=rng.randint(0, 5) if rng.random() < 0.3 else 0,
        past_ratings=ratings,
    )


def policy_level(*, base: Severity, env: str, context: ScoringContext, burst: bool) -> Severity:
    """The level the catalogue's team policy gives an archetype in an environment and context."""
    level = base
    if env in ("dev", "staging"):
        level = _shift(level, 1)
    if context.service_criticality == "low":
        level = _shift(level, 1)
    if burst and context.service_criticality in ("critical", "high"):
        level = _shift(level, -1)
    if context.flapping and level is not Severity.SEV1:
        level = _shift(level, 1)
    total = sum(context.past_ratings.values())
    if total >= 3:
        rated = max(context.past_ratings.items(), key=lambda item: item[1])[0]
        level = Severity(rated)
    return level


def _example(rng: random.Random, archetype: Archetype) -> TrainingExample:
    component = rng.choice(COMPONENTS[archetype.kind])
    env = _weighted(rng, ENVIRONMENTS)
    labels = {
        "service": component,
        "namespace": f"{component}-{env}" if rng.random() < 0.5 else component,
        "job": component if archetype.kind not in ("node", "cert") else archetype.kind,
        "env": env,
        "cluster": f"{env}-{rng.choice(('eu1', 'us1', 'ap1'))}",
    }
    if rng.random() < 0.4:
        labels["team"] = rng.choice(("platform", "commerce", "data", "identity", "sre"))
    if rng.random() < 0.66:
        labels["severity"] = _source_word(rng, archetype.level)
    context = _context(rng) if rng.random() < 0.5 else ScoringContext()
    burst = context_burst(context).is_burst
    level = policy_level(base=archetype.level, env=env, context=context, burst=burst)
    alert = rule_alert(
        alertname=_fill(archetype.name, component),
        expr=_fill(archetype.expr, component) if rng.random() < 0.7 else None,
        for_duration=archetype.for_duration if rng.random() < 0.5 else None,
        labels=labels,
        summary=_fill(archetype.summary, component),
        description=_fill(archetype.description, component),
        source="catalogue",
        starts_at=_EPOCH + timedelta(minutes=rng.randrange(7 * 24 * 60)),
    )
    alert = _with_severity(alert, labels.get("severity"))
    return TrainingExample(
        alert=alert,
        level=level,
        context=context,
        group=f"catalogue:{archetype.name}",
        origin="catalogue",
    )


def _with_severity(alert: AlertRecord, word: str | None) -> AlertRecord:
    if word is None:
        return alert
    labels = {**alert.labels, "severity": word}
    return AlertRecord(
        source=alert.source,
        fingerprint=alert.fingerprint,
        status=alert.status,
        labels=labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        group_key=alert.group_key,
        expression=alert.expression,
        values=alert.values,
    )


def catalogue_examples(*, seed: int = 0, variants: int = VARIANTS_PER_ARCHETYPE) -> list[TrainingExample]:
    """Expand every archetype into ``variants`` labelled examples, reproducibly for a given seed."""
    rng = random.Random(seed)
    return [_example(rng, archetype) for archetype in load_archetypes() for _ in range(variants)]
