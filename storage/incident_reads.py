"""The incident aggregate's read side in SQL: lists, one incident with its alerts and timeline, and the
look-ups that explanations, drafts, Slack and the API need (ORM objects on a connection; no writes)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, exists, func, or_, select
from sqlalchemy.orm import Session

from analytics.records import FeedbackKind, IncidentStatus, TimelineKind
from storage.models import Alert, Feedback, Incident, TimelineEvent

# How many past incidents of the same alert name, and of the same service, similar-incident search reads
# (newest first): two index range scans, so the cost does not grow with the history.
SIMILAR_CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: str | None = None
    severity: str | None = None
    service: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Unposted:
    """What decides the Slack channel of an incident that has no root message yet."""

    id: int
    labels: dict[str, Any]
    service: str | None
    alertname: str
    severity: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A past incident that might be like the one being explained: what similarity is computed on."""

    id: int
    title: str
    alertname: str
    service: str | None
    labels: dict[str, Any]
    severity: str
    status: str
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertBrief:
    """What the root message shows of an alert: which one it is, whether it fires, since when."""

    fingerprint: str
    alertname: str
    status: str
    labels: dict[str, Any]
    starts_at: datetime


class IncidentReads:
    """Reads of incidents, their alerts and timeline, on the caller's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._orm: Session | None = None

    def search(
        self,
        filters: IncidentFilter,
        *,
        limit: int,
        offset: int,
        exclude_channels: Collection[str] = (),
        exclude_ids: Collection[int] = (),
        by_severity: bool = False,
    ) -> tuple[list[Incident], int]:
        """Newest first (``by_severity``: unresolved first, then SEV1 … SEV4, then newest first), and how
        many match; ``exclude_*``: incidents posted to those channels, those ids."""
        conditions = self._conditions(filters)
        if exclude_channels:
            conditions.append(
                or_(Incident.slack_channel.is_(None), Incident.slack_channel.not_in(list(exclude_channels)))
            )
        if exclude_ids:
            conditions.append(Incident.id.not_in(list(exclude_ids)))
        total = self.conn.execute(select(func.count()).select_from(Incident).where(*conditions)).scalar_one()
        order: list[Any] = [Incident.id.desc()]
        if by_severity:  # "SEV1" < "SEV2" …: the column's text sorts by urgency
            resolved_last = case((Incident.status == IncidentStatus.RESOLVED, 1), else_=0)
            order = [resolved_last, Incident.severity.asc(), Incident.opened_at.desc(), *order]
        stmt = select(Incident).where(*conditions).order_by(*order).limit(limit).offset(offset)
        return list(self._session.scalars(stmt)), int(total)

    def unposted(self, filters: IncidentFilter) -> list[Unposted]:
        """Matching incidents with no Slack root message yet (silenced, waiting, failed): where they route."""
        columns = (Incident.id, Incident.labels, Incident.service, Incident.alertname, Incident.severity)
        stmt = select(*columns).where(*self._conditions(filters), Incident.slack_channel.is_(None))
        return [Unposted(**row._mapping) for row in self.conn.execute(stmt)]

    def channels(self) -> list[str]:
        """Every Slack channel an incident was posted to."""
        stmt = select(Incident.slack_channel).where(Incident.slack_channel.is_not(None)).distinct()
        return [str(channel) for channel in self.conn.execute(stmt).scalars()]

    def _conditions(self, filters: IncidentFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if filters.status:
            conditions.append(Incident.status == filters.status)
        if filters.severity:
            conditions.append(Incident.severity == filters.severity)
        if filters.service:
            conditions.append(Incident.service == filters.service)
        if filters.since:
            conditions.append(Incident.opened_at >= filters.since)
        return conditions

    def get(self, incident_id: int) -> Incident | None:
        return self._session.get(Incident, incident_id)

    def exists(self, incident_id: int) -> bool:
        found = self.conn.execute(select(Incident.id).where(Incident.id == incident_id)).first()
        return found is not None

    def alerts_of(self, incident_id: int, *, limit: int | None = None, offset: int = 0) -> list[Alert]:
        """The incident's alerts in the order they arrived; a page of them with ``limit``/``offset``."""
        stmt = select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)
        if limit is not None or offset:
            stmt = stmt.limit(limit).offset(offset)
        return list(self._session.scalars(stmt))

    def newest_alerts(self, incident_id: int, *, limit: int) -> list[AlertBrief]:
        """The incident's newest ``limit`` firings, newest first (an index range scan on the incident)."""
        columns = (Alert.fingerprint, Alert.alertname, Alert.status, Alert.labels, Alert.starts_at)
        stmt = select(*columns).where(Alert.incident_id == incident_id).order_by(Alert.id.desc()).limit(limit)
        return [AlertBrief(**row._mapping) for row in self.conn.execute(stmt)]

    def count_instances(self, incident_id: int) -> int:
        """How many distinct alerts (fingerprints) the incident has."""
        stmt = select(func.count(func.distinct(Alert.fingerprint))).where(Alert.incident_id == incident_id)
        return int(self.conn.execute(stmt).scalar_one())

    def label_sets(self, incident_id: int) -> list[dict[str, Any]]:
        """The labels of each of the incident's alerts (what a silence of the incident matches on)."""
        stmt = select(Alert.labels).where(Alert.incident_id == incident_id).order_by(Alert.id)
        return [dict(labels or {}) for labels in self.conn.execute(stmt).scalars()]

    def count_alerts(self, incident_id: int) -> int:
        stmt = select(func.count()).select_from(Alert).where(Alert.incident_id == incident_id)
        return int(self.conn.execute(stmt).scalar_one())

    def first_alert(self, incident_id: int) -> Alert | None:
        """The alert that opened the incident (its links are the incident's links)."""
        stmt = select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id).limit(1)
        return self._session.scalars(stmt).first()

    def timeline_of(
        self, incident_id: int, *, limit: int | None = None, offset: int = 0
    ) -> list[TimelineEvent]:
        """The incident's events in time order; a page of them with ``limit``/``offset``."""
        stmt = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
        if limit is not None or offset:
            stmt = stmt.limit(limit).offset(offset)
        return list(self._session.scalars(stmt))

    def count_events(self, incident_id: int) -> int:
        stmt = select(func.count()).select_from(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
        return int(self.conn.execute(stmt).scalar_one())

    def by_thread(self, channel: str, thread_ts: str) -> int | None:
        """The incident whose root message starts this Slack thread, if any."""
        found = self.conn.execute(
            select(Incident.id).where(Incident.slack_channel == channel, Incident.slack_ts == thread_ts)
        ).scalar_one_or_none()
        return int(found) if found is not None else None

    def marked_noise(self, incident_id: int) -> bool:
        """Whether someone marked the incident not actionable."""
        stmt = select(
            exists().where(Feedback.incident_id == incident_id, Feedback.kind == FeedbackKind.NOISE)
        )
        return bool(self.conn.execute(stmt).scalar())

    # --- similar incidents ---------------------------------------------------------------------

    def similar_candidates(self, incident: Incident, *, exclude: Collection[int] = ()) -> list[Candidate]:
        """Earlier resolved incidents with the same alert name, then the same service (newest first,
        bounded); never one still open, nor those in ``exclude`` (the incident's own story)."""
        columns = (
            Incident.id,
            Incident.title,
            Incident.alertname,
            Incident.service,
            Incident.labels,
            Incident.severity,
            Incident.status,
            Incident.resolved_at,
        )
        earlier = select(*columns).where(
            Incident.id.not_in(sorted({incident.id, *exclude})),
            Incident.opened_at <= incident.opened_at,
            Incident.status == IncidentStatus.RESOLVED,
        )
        same_name = earlier.where(Incident.alertname == incident.alertname)
        rows = list(self.conn.execute(same_name.order_by(Incident.id.desc()).limit(SIMILAR_CANDIDATES)))
        if incident.service:
            seen = {r.id for r in rows}
            same_service = earlier.where(Incident.service == incident.service)
            rows += [
                r
                for r in self.conn.execute(
                    same_service.order_by(Incident.id.desc()).limit(SIMILAR_CANDIDATES)
                )
                if r.id not in seen
            ]
        return [Candidate(**row._mapping) for row in rows]

    def latest_ratings(self, incident_ids: Sequence[int]) -> dict[int, str]:
        """The latest word people gave on each incident: a severity, or "noise"."""
        if not incident_ids:
            return {}
        rows = self.conn.execute(
            select(Feedback.incident_id, Feedback.kind, Feedback.new_severity)
            .where(Feedback.incident_id.in_(list(incident_ids)))
            .order_by(Feedback.created_at, Feedback.id)
        )
        latest: dict[int, str] = {}
        for incident_id, kind, severity in rows:
            latest[incident_id] = FeedbackKind.NOISE.value if kind == FeedbackKind.NOISE else str(severity)
        return latest

    def resolution_notes(self, incident_ids: Sequence[int]) -> dict[int, str]:
        """The note people left when resolving each incident (the newest one), where there is one."""
        if not incident_ids:
            return {}
        stmt = (
            select(TimelineEvent.incident_id, TimelineEvent.data)
            .where(
                TimelineEvent.incident_id.in_(list(incident_ids)),
                TimelineEvent.kind == TimelineKind.INCIDENT_RESOLVED,
            )
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
        notes: dict[int, str] = {}
        for incident_id, data in self.conn.execute(stmt):
            note = (data or {}).get("note")
            if isinstance(note, str) and note.strip():
                notes[incident_id] = note.strip()
        return notes

    @property
    def _session(self) -> Session:
        """An ORM session on the same connection, made on first use."""
        if self._orm is None:
            self._orm = Session(bind=self.conn, expire_on_commit=False)
        return self._orm
