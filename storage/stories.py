"""Incidents as stories in SQL: related incidents (a primary and those in its thread) and how often each
alert fired (a flapping alert is one alert fired many times, not many alerts). Reads and the one write."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select, update

from analytics.records import IncidentStatus, Severity
from storage.models import Alert, Incident


@dataclass(frozen=True, slots=True)
class OpeningFacts:
    """What correlation decides on for an incident."""

    id: int
    service: str | None
    severity: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class WaitingPrimary:
    """A primary still open: a later related incident joins its thread. ``paged``: its story had SEV1."""

    id: int
    service: str | None
    opened_at: datetime
    paged: bool


@dataclass(frozen=True, slots=True)
class RelatedIncident:
    """One incident of a story, as the primary's root message lists it."""

    id: int
    severity: str
    status: str
    title: str
    alert_count: int


@dataclass(frozen=True, slots=True)
class Firings:
    """How an incident's alerts fired: distinct alerts (fingerprints), firings in all, and the alert that
    fired most often with how many times, between its first and its latest start."""

    alerts: int
    firings: int
    most: int
    first_at: datetime | None
    last_at: datetime | None


class StoryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- related incidents ----------------------------------------------------------------------

    def opening_facts(self, incident_ids: Collection[int]) -> list[OpeningFacts]:
        columns = (Incident.id, Incident.service, Incident.severity, Incident.opened_at)
        rows = self.conn.execute(select(*columns).where(Incident.id.in_(sorted(incident_ids))))
        return [OpeningFacts(**row._mapping) for row in rows]

    def waiting_primaries(
        self, services: Collection[str], *, since: datetime, until: datetime, exclude: Collection[int]
    ) -> list[WaitingPrimary]:
        """Primaries (related to nothing themselves) of these services, still open or acknowledged, that
        opened between ``since`` and ``until``; with whether their story was paged at SEV1 already."""
        if not services:
            return []
        rows = list(
            self.conn.execute(
                select(Incident.id, Incident.service, Incident.opened_at, Incident.severity).where(
                    Incident.service.in_(sorted(services)),
                    Incident.related_to.is_(None),
                    Incident.status != IncidentStatus.RESOLVED,
                    Incident.opened_at >= since,
                    Incident.opened_at <= until,
                    Incident.id.not_in(sorted(exclude)),
                )
            )
        )
        ids = [row.id for row in rows]
        paged_related = set()
        if ids:
            paged_related = set(
                self.conn.execute(
                    select(Incident.related_to)
                    .where(Incident.related_to.in_(ids), Incident.severity == Severity.SEV1)
                    .distinct()
                ).scalars()
            )
        return [
            WaitingPrimary(
                row.id, row.service, row.opened_at, row.severity == Severity.SEV1 or row.id in paged_related
            )
            for row in rows
        ]

    def link(self, links: Mapping[int, int]) -> None:
        """Make each incident (key) a related incident of its primary (value)."""
        if links:
            stmt = (
                update(Incident)
                .where(Incident.id == bindparam("b_id"))
                .values(related_to=bindparam("b_primary"))
            )
            self.conn.execute(stmt, [{"b_id": i, "b_primary": p} for i, p in links.items()])

    def related_of(self, primary_id: int) -> list[RelatedIncident]:
        """The incidents in ``primary_id``'s story (without itself), in the order they opened."""
        columns = (Incident.id, Incident.severity, Incident.status, Incident.title, Incident.alert_count)
        stmt = select(*columns).where(Incident.related_to == primary_id).order_by(Incident.id)
        return [RelatedIncident(**row._mapping) for row in self.conn.execute(stmt)]

    def story_ids(self, incident_id: int) -> set[int]:
        """Every incident of the story ``incident_id`` belongs to (itself, its primary, their related)."""
        primary = self.conn.execute(
            select(func.coalesce(Incident.related_to, Incident.id)).where(Incident.id == incident_id)
        ).scalar_one_or_none()
        if primary is None:
            return set()
        related = self.conn.execute(select(Incident.id).where(Incident.related_to == primary)).scalars()
        return {int(primary), *(int(i) for i in related)}

    # --- flapping alerts ----------------------------------------------------------------------------

    def firings(self, incident_id: int) -> Firings:
        per_alert = (
            select(
                Alert.fingerprint,
                func.count().label("n"),
                func.min(Alert.starts_at).label("first"),
                func.max(Alert.starts_at).label("last"),
            )
            .where(Alert.incident_id == incident_id)
            .group_by(Alert.fingerprint)
            .subquery()
        )
        rows = list(self.conn.execute(select(per_alert)))
        if not rows:
            return Firings(0, 0, 0, None, None)
        most = max(rows, key=lambda r: (r.n, r.last))
        return Firings(len(rows), sum(r.n for r in rows), int(most.n), most.first, most.last)
