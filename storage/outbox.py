"""The outbox queue: side effects promised in the ingest transaction, claimed and delivered later (SQL only).

Workers claim rows with a lease. On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED`` so any number of
workers share the queue; SQLite serializes writers with ``BEGIN IMMEDIATE`` instead. A claimed row whose
lease runs out (its worker died) is claimed again, so delivery is at least once and senders must be
idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, text, update
from sqlalchemy.orm import aliased

from analytics.records import OutboxStatus
from storage.models import OutboxMessage

CLAIM_LOCK_ID = 0x5E5B07_0C1A1  # the advisory lock that serializes outbox claims on PostgreSQL


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    kind: str
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class NewMessage:
    topic: str
    kind: str
    incident_id: int | None
    payload: Mapping[str, Any]


class OutboxRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def enqueue(self, messages: Sequence[NewMessage], now: datetime) -> None:
        if not messages:
            return
        rows = [
            {
                "topic": m.topic,
                "kind": m.kind,
                "incident_id": m.incident_id,
                "payload": dict(m.payload),
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "result": {},
            }
            for m in messages
        ]
        self.conn.execute(insert(OutboxMessage), rows)

    def claim(self, *, worker: str, now: datetime, lease: timedelta, limit: int) -> list[OutboxItem]:
        """Take up to ``limit`` due rows, oldest first, for ``lease``; call inside a write transaction.

        Order is kept per incident and topic: a row waits while an earlier row of the same incident and
        topic is still pending but not claimable now (backing off after a failure, or claimed by a worker).
        On PostgreSQL claims are serialized with an advisory lock so two claims never split an incident.
        """
        earlier = aliased(OutboxMessage)
        blocked = (
            select(earlier.id)
            .where(
                earlier.incident_id == OutboxMessage.incident_id,
                earlier.topic == OutboxMessage.topic,
                earlier.id < OutboxMessage.id,
                earlier.status == OutboxStatus.PENDING,
                or_(earlier.next_attempt_at > now, earlier.claimed_until >= now),
            )
            .exists()
        )
        stmt = (
            select(
                OutboxMessage.id,
                OutboxMessage.topic,
                OutboxMessage.kind,
                OutboxMessage.incident_id,
                OutboxMessage.payload,
                OutboxMessage.attempts,
            )
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                ~blocked,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK_ID})
            stmt = stmt.with_for_update(skip_locked=True)
        items = [OutboxItem(**row._mapping) for row in self.conn.execute(stmt)]
        if items:
            self.conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([item.id for item in items]))
                .values(claimed_by=worker, claimed_until=now + lease)
            )
        return items

    def release(self, message_ids: Sequence[int]) -> None:
        """Give claimed rows back untouched (their delivery was not attempted), due again at once."""
        if message_ids:
            self.conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(list(message_ids)))
                .values(claimed_until=None, claimed_by=None)
            )

    def complete(self, message_id: int, *, now: datetime, result: Mapping[str, Any]) -> None:
        self.conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                status=OutboxStatus.DONE,
                done_at=now,
                claimed_until=None,
                result=dict(result),
                attempts=OutboxMessage.attempts + 1,
            )
        )

    def retry(self, message_id: int, *, error: str, next_attempt_at: datetime) -> None:
        self.conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                attempts=OutboxMessage.attempts + 1,
                last_error=error[:2000],
                next_attempt_at=next_attempt_at,
                claimed_until=None,
                claimed_by=None,
            )
        )

    def fail(self, message_id: int, *, error: str, now: datetime) -> None:
        """Give up on a row for good (a permanent error); it stays for inspection."""
        self.conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                status=OutboxStatus.FAILED,
                attempts=OutboxMessage.attempts + 1,
                last_error=error[:2000],
                done_at=now,
                claimed_until=None,
            )
        )

    def next_due_after(self, now: datetime) -> datetime | None:
        """When the earliest pending row that is not due yet (a retry, a deferral) becomes due."""
        stmt = select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at > now
        )
        due: datetime | None = self.conn.execute(stmt).scalar_one()
        return due

    def backlog(self) -> int:
        stmt = (
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
        )
        return int(self.conn.execute(stmt).scalar_one())

    def count_by_status(self) -> dict[str, int]:
        stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        return {status: int(n) for status, n in self.conn.execute(stmt)}
