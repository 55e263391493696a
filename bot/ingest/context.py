"""Scoring context for a batch of alerts: recent alert rates, the service catalog, people's past ratings.

Ingestion asks for the context of a whole batch at once (a few aggregate queries inside its transaction),
then for each new alert. The slow-moving parts, a service's usual alert rate and how people rated an alert
name before, are cached for a short while per process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from analytics.records import AlertRecord
from analytics.scoring import ScoringContext
from bot.settings import ServiceConfig
from storage.alerts import AlertStats, WindowCounts
from storage.feedback import FeedbackRepository

RECENT = timedelta(minutes=60)
VERY_RECENT = timedelta(minutes=5)
USUAL_WINDOW = timedelta(days=7)


class _TTLCache:
    """A tiny per-process cache: values older than ``ttl`` seconds are fetched again."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def missing(self, keys: Iterable[str]) -> set[str]:
        now = time.monotonic()
        with self._lock:
            return {k for k in keys if k not in self._values or now - self._values[k][0] > self.ttl}

    def put(self, values: Mapping[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            for key, value in values.items():
                self._values[key] = (now, value)

    def get(self, key: str, default: Any) -> Any:
        with self._lock:
            found = self._values.get(key)
        return found[1] if found else default


class ContextProvider:
    """Builds :class:`ScoringContext` values; one per app, shared by all requests."""

    def __init__(self, *, catalog: Mapping[str, ServiceConfig], cache_seconds: float = 60.0) -> None:
        self.catalog = catalog
        self._usual = _TTLCache(cache_seconds)
        self._ratings = _TTLCache(cache_seconds)

    def for_batch(self, conn: Connection, records: list[AlertRecord], now: datetime) -> BatchContext:
        """The context of ``records``; nothing is queried until the first new alert asks for it."""
        return BatchContext(self, conn, records, now)

    def _load(self, conn: Connection, records: list[AlertRecord], now: datetime) -> _Loaded:
        starts = [r.starts_at for r in records if r.starts_at is not None]
        at = max(starts) if starts else now
        services = {r.service for r in records if r.service}
        stats = AlertStats(conn)
        groups = stats.by_group({r.group_key for r in records}, at=at, window=RECENT, recent=VERY_RECENT)
        by_service = stats.by_service(services, at=at, window=RECENT, recent=VERY_RECENT)
        self._refresh_usual(conn, services, at)
        self._refresh_ratings(conn, {r.alertname for r in records})
        return _Loaded(groups, by_service)

    def _refresh_usual(self, conn: Connection, services: set[str], at: datetime) -> None:
        stale = self._usual.missing(services)
        if not stale:
            return
        start, end = at - USUAL_WINDOW, at - RECENT
        counts = AlertStats(conn).per_service_between(stale, start=start, end=end)
        hours = (end - start).total_seconds() / 3600
        self._usual.put({service: n / hours for service, n in counts.items()})

    def _refresh_ratings(self, conn: Connection, alertnames: set[str]) -> None:
        stale = self._ratings.missing(alertnames)
        if stale:
            found = FeedbackRepository(conn).ratings(stale)
            self._ratings.put({name: found.get(name, {}) for name in stale})


@dataclass(frozen=True, slots=True)
class _Loaded:
    groups: dict[str, WindowCounts]
    services: dict[str, WindowCounts]


class BatchContext:
    """The context of one batch; counts alerts of the batch itself as they are scored."""

    def __init__(
        self, provider: ContextProvider, conn: Connection, records: list[AlertRecord], now: datetime
    ) -> None:
        self._provider = provider
        self._conn = conn
        self._records = records
        self._now = now
        self._loaded: _Loaded | None = None
        self._seen_groups: Counter[str] = Counter()
        self._seen_services: Counter[str] = Counter()

    def context(self, record: AlertRecord, *, flapping: bool, recurrences: int) -> ScoringContext:
        if self._loaded is None:
            self._loaded = self._provider._load(self._conn, self._records, self._now)
        service = record.service
        group = self._loaded.groups.get(record.group_key, WindowCounts())
        svc = self._loaded.services.get(service or "", WindowCounts())
        in_group = self._seen_groups[record.group_key]
        in_service = self._seen_services[service or ""]
        self._seen_groups[record.group_key] += 1
        if service:
            self._seen_services[service] += 1
        entry = self._provider.catalog.get(service or "")
        return ScoringContext(
            service_criticality=entry.criticality if entry else None,
            group_alerts_5m=group.recent + in_group,
            group_alerts_60m=group.window + in_group,
            service_alerts_5m=svc.recent + in_service,
            service_alerts_60m=svc.window + in_service,
            service_usual_per_hour=float(self._provider._usual.get(service or "", 0.0)),
            flapping=flapping,
            duplicates=recurrences,
            past_ratings=dict(self._provider._ratings.get(record.alertname, {})),
        )
