"""Alert statistics in SQL: recent alert counts per group and service, a service's usual rate, recent alerts.

Ingestion reads these for scoring context (a few aggregate queries per batch, inside its transaction);
drift reads the last day's alerts. Counts are by the alerts' own start times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select

from storage.models import Alert


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Alerts that started in the last ``recent`` and in the last ``window`` up to a moment."""

    recent: int = 0
    window: int = 0


@dataclass(frozen=True, slots=True)
class RecentAlert:
    source: str
    fingerprint: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    expression: str | None
    severity: str


class AlertStats:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_group(
        self, keys: Iterable[str], *, at: datetime, window: timedelta, recent: timedelta
    ) -> dict[str, WindowCounts]:
        return self._window_counts(_statements().by_group, keys, at=at, window=window, recent=recent)

    def by_service(
        self, services: Iterable[str], *, at: datetime, window: timedelta, recent: timedelta
    ) -> dict[str, WindowCounts]:
        return self._window_counts(_statements().by_service, services, at=at, window=window, recent=recent)

    def per_service_between(
        self, services: Iterable[str], *, start: datetime, end: datetime
    ) -> dict[str, int]:
        """Alerts of each service that started in ``[start, end)`` (services without any: 0)."""
        names = sorted(set(services))
        if not names:
            return {}
        rows = self.conn.execute(
            select(Alert.service, func.count())
            .where(Alert.service.in_(names), Alert.starts_at >= start, Alert.starts_at < end)
            .group_by(Alert.service)
        )
        return dict.fromkeys(names, 0) | {str(service): int(n) for service, n in rows}

    def received_since(self, since: datetime, *, limit: int) -> list[RecentAlert]:
        """The newest alerts received since ``since`` (at most ``limit``)."""
        rows = self.conn.execute(
            select(
                Alert.source,
                Alert.fingerprint,
                Alert.labels,
                Alert.annotations,
                Alert.expression,
                Alert.severity,
            )
            .where(Alert.received_at >= since)
            .order_by(Alert.id.desc())
            .limit(limit)
        )
        return [RecentAlert(**row._mapping) for row in rows]

    def _window_counts(
        self, statement: Any, keys: Iterable[str], *, at: datetime, window: timedelta, recent: timedelta
    ) -> dict[str, WindowCounts]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        params = {"keys": wanted, "start": at - window, "recent": at - recent, "end": at}
        return {
            key: WindowCounts(int(n5 or 0), int(n60)) for key, n5, n60 in self.conn.execute(statement, params)
        }


@dataclass(frozen=True, slots=True)
class _Statements:
    by_group: Any
    by_service: Any


@cache
def _statements() -> _Statements:
    """Built once: these run for every batch that brings a new alert."""

    def window(column: Any) -> Any:
        return (
            select(column, func.sum(case((Alert.starts_at >= bindparam("recent"), 1), else_=0)), func.count())
            .where(
                column.in_(bindparam("keys", expanding=True)),
                Alert.starts_at >= bindparam("start"),
                Alert.starts_at <= bindparam("end"),
            )
            .group_by(column)
        )

    return _Statements(by_group=window(Alert.group_key), by_service=window(Alert.service))
