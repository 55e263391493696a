"""People's severity corrections in SQL: written from Slack, read back as labelled training examples."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from storage.models import Alert, Feedback, Incident

# Votes (one per person per incident) that must agree before a rating feeds live scoring.
AGREEING_VOTES = 2


@dataclass(frozen=True, slots=True)
class LabelledAlert:
    """The alert that opened an incident, with the severity a person gave it (``None`` for "noise")."""

    incident_id: int
    kind: str
    severity: str | None
    user: str
    created_at: datetime
    labels: dict[str, Any]
    annotations: dict[str, Any]
    expression: str | None
    source: str


class FeedbackRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        *,
        incident_id: int,
        kind: str,
        alertname: str,
        user: str,
        old_severity: str | None,
        new_severity: str | None,
        reason: str | None,
        now: datetime,
    ) -> None:
        self.conn.execute(
            insert(Feedback).values(
                incident_id=incident_id,
                kind=kind,
                alertname=alertname,
                user=user,
                old_severity=old_severity,
                new_severity=new_severity,
                reason=reason,
                created_at=now,
            )
        )

    def ratings(self, alertnames: Iterable[str]) -> dict[str, dict[str, int]]:
        """How people rated past incidents of each alert name, as votes: ``{alertname: {"SEV2": 3}}``.

        People, not clicks: each person has one vote per incident, their latest rating of it (a severity,
        or "noise"). A rating counts only when at least :data:`AGREEING_VOTES` votes agree on it, which
        means two different people, or one person on two different incidents: one person repeating
        themselves on one incident moves nothing.
        """
        names = sorted(set(alertnames))
        if not names:
            return {}
        label = func.coalesce(Feedback.new_severity, Feedback.kind).label("rating")
        newest_first = (
            func.row_number()
            .over(
                partition_by=(Feedback.alertname, Feedback.incident_id, Feedback.user),
                order_by=(Feedback.created_at.desc(), Feedback.id.desc()),
            )
            .label("newest")
        )
        votes = (
            select(Feedback.alertname, label, newest_first).where(Feedback.alertname.in_(names)).subquery()
        )
        rows = self.conn.execute(
            select(votes.c.alertname, votes.c.rating, func.count())
            .where(votes.c.newest == 1)
            .group_by(votes.c.alertname, votes.c.rating)
            .having(func.count() >= AGREEING_VOTES)
        )
        ratings: dict[str, dict[str, int]] = {}
        for alertname, rating, count in rows:
            ratings.setdefault(alertname, {})[rating] = int(count)
        return ratings

    def labelled_alerts(self) -> list[LabelledAlert]:
        """Every correction with the first alert of its incident, oldest first (the latest word wins)."""
        first_alert = (
            select(Alert.incident_id, func.min(Alert.id).label("alert_id"))
            .group_by(Alert.incident_id)
            .subquery("first_alert")
        )
        rows = self.conn.execute(
            select(
                Feedback.incident_id,
                Feedback.kind,
                Feedback.new_severity.label("severity"),
                Feedback.user,
                Feedback.created_at,
                Alert.labels,
                Alert.annotations,
                Alert.expression,
                Incident.source,
            )
            .join(Incident, Incident.id == Feedback.incident_id)
            .join(first_alert, first_alert.c.incident_id == Feedback.incident_id)
            .join(Alert, Alert.id == first_alert.c.alert_id)
            .order_by(Feedback.created_at, Feedback.id)
        )
        return [LabelledAlert(**row._mapping) for row in rows]
