"""The outbox queue: side effects promised in the ingest transaction, claimed and delivered later (SQL only).

Workers claim rows with a lease. On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED`` so any number of
workers share the queue; SQLite serializes writers with ``BEGIN IMMEDIATE`` instead. A claimed row whose
lease runs out (its worker died, or hangs) is claimed again, so delivery is at least once and senders must
be idempotent.

Leases are fenced: each claim hands out a fresh token, and every write that ends or extends a claim
(``complete``, ``retry``, ``fail``, ``park``, ``release``, ``save_progress``) applies only while the row
still carries that token. They return ``False`` when the lease was taken over, and change nothing then.

A parked row (an error only a person can fix) holds back the later rows of its incident and topic until
``retry_now(parked=True)`` returns it to the queue; finished rows are pruned by ``prune_finished``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from analytics.records import OutboxStatus
from storage.models import OutboxMessage

CLAIM_LOCK_ID = 0x5E5B07_0C1A1  # the advisory lock that serializes outbox claims on PostgreSQL


def _build_claimable(*, kinds: bool, for_update: bool) -> Select[Any]:
    """Due rows, oldest first, that no earlier row of their incident and topic holds back (parked, backing
    off, or claimed): parameters ``now``, ``limit`` and, with ``kinds``, ``kinds``."""
    now: BindParameter[datetime] = bindparam("now", type_=OutboxMessage.next_attempt_at.type)
    earlier = aliased(OutboxMessage)
    blocked = (
        select(earlier.id)
        .where(
            earlier.incident_id == OutboxMessage.incident_id,
            earlier.topic == OutboxMessage.topic,
            earlier.id < OutboxMessage.id,
            or_(
                earlier.status == OutboxStatus.PARKED,
                and_(
                    earlier.status == OutboxStatus.PENDING,
                    or_(earlier.next_attempt_at > now, earlier.claimed_until >= now),
                ),
            ),
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
        .limit(bindparam("limit"))
    )
    if kinds:
        stmt = stmt.where(OutboxMessage.kind.in_(bindparam("kinds", expanding=True)))
    if for_update:
        stmt = stmt.with_for_update(skip_locked=True)
    return stmt


# The claim's statements, built once: building them took most of a claim's time (the SQL itself about a
# fifth), and the worker claims after every commit that queued messages.
_CLAIMABLE = {
    (kinds, for_update): _build_claimable(kinds=kinds, for_update=for_update)
    for kinds in (False, True)
    for for_update in (False, True)
}
_TAKE = (
    update(OutboxMessage)
    .where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_by=bindparam("by"), claimed_until=bindparam("until"), lease_token=bindparam("token"))
)


def _claimable(*, kinds: bool, for_update: bool) -> Select[Any]:
    return _CLAIMABLE[(kinds, for_update)]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    kind: str
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int
    lease_token: str  # this claim's token: the row's later writes need it


@dataclass(frozen=True, slots=True)
class RetryCounts:
    """What ``sevbot outbox retry`` changed."""

    due_now: int  # pending rows that were backing off, now due
    unparked: int  # parked rows back in the queue


@dataclass(frozen=True, slots=True)
class NewMessage:
    topic: str
    kind: str
    incident_id: int | None
    payload: Mapping[str, Any]
    not_before: datetime | None = None  # due no earlier than this (None: at once)


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
                "next_attempt_at": max(now, m.not_before) if m.not_before else now,
                "created_at": now,
                "result": {},
            }
            for m in messages
        ]
        self.conn.execute(insert(OutboxMessage), rows)

    def claim(
        self,
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        kinds: Sequence[str] | None = None,
    ) -> list[OutboxItem]:
        """Take up to ``limit`` due rows, oldest first, for ``lease``; call inside a write transaction.

        ``kinds``: only rows of these (the worker's root-post lane claims new incidents' root posts alone,
        so they never queue behind drafts, replies or updates of other incidents; a root post is the first
        row of its incident and topic, so the order within each is kept).

        Order is kept per incident and topic: a row waits while an earlier row of the same incident and
        topic is still pending but not claimable now (backing off after a failure, or claimed by a worker),
        or parked. On PostgreSQL claims are serialized with an advisory lock so two claims never split an
        incident. Every row of one claim carries the same fresh ``lease_token``.
        """
        postgres = self.conn.dialect.name == "postgresql"
        if postgres:
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK_ID})
        params: dict[str, Any] = {"now": now, "limit": limit}
        if kinds is not None:
            params["kinds"] = list(kinds)
        token = secrets.token_hex(16)
        found = self.conn.execute(_claimable(kinds=kinds is not None, for_update=postgres), params)
        items = [OutboxItem(**row._mapping, lease_token=token) for row in found]
        if items:
            self.conn.execute(
                _TAKE,
                {"ids": [item.id for item in items], "by": worker, "until": now + lease, "token": token},
            )
        return items

    def _fenced(self, message_id: int, token: str, **values: Any) -> bool:
        """Update a row only while it carries ``token``; ``False`` when the lease was taken over."""
        result = self.conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.lease_token == token)
            .values(**values)
        )
        return bool(result.rowcount)

    def release(self, message_id: int, *, token: str) -> bool:
        """Give a claimed row back untouched (its delivery was not attempted), due again at once."""
        return self._fenced(message_id, token, claimed_until=None, claimed_by=None, lease_token=None)

    def save_progress(
        self, message_id: int, *, token: str, result: Mapping[str, Any], lease_until: datetime
    ) -> bool:
        """Remember what this attempt did or is about to do, and extend the lease to ``lease_until``."""
        return self._fenced(message_id, token, result=dict(result), claimed_until=lease_until)

    def complete(self, message_id: int, *, token: str, now: datetime, result: Mapping[str, Any]) -> bool:
        return self._fenced(
            message_id,
            token,
            status=OutboxStatus.DONE,
            done_at=now,
            claimed_until=None,
            lease_token=None,
            result=dict(result),
            attempts=OutboxMessage.attempts + 1,
        )

    def retry(self, message_id: int, *, token: str, error: str, next_attempt_at: datetime) -> bool:
        return self._fenced(
            message_id,
            token,
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=next_attempt_at,
            claimed_until=None,
            claimed_by=None,
            lease_token=None,
        )

    def fail(self, message_id: int, *, token: str, error: str, now: datetime) -> bool:
        """Give up on a row for good (a permanent error); it stays for inspection."""
        return self._fenced(
            message_id,
            token,
            status=OutboxStatus.FAILED,
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:2000],
            done_at=now,
            claimed_until=None,
            lease_token=None,
        )

    def park(self, message_id: int, *, token: str, reason: str, error: str) -> bool:
        """Set a row aside until a person has fixed ``reason`` (a revoked token …) and retries it."""
        return self._fenced(
            message_id,
            token,
            status=OutboxStatus.PARKED,
            parked_reason=reason[:64],
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:2000],
            claimed_until=None,
            claimed_by=None,
            lease_token=None,
        )

    def retry_now(self, *, now: datetime, parked: bool) -> RetryCounts:
        """Make every pending row that is backing off due now; with ``parked``, queue parked rows again."""
        due = self.conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at > now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .values(next_attempt_at=now)
        ).rowcount
        unparked = 0
        if parked:
            unparked = self.conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PARKED)
                .values(
                    status=OutboxStatus.PENDING,
                    parked_reason=None,
                    next_attempt_at=now,
                    claimed_until=None,
                    claimed_by=None,
                    lease_token=None,
                )
            ).rowcount
        return RetryCounts(due_now=int(due), unparked=int(unparked))

    def parked_reasons(self) -> dict[str, int]:
        """How many rows are parked, by reason (Slack's error code)."""
        stmt = (
            select(OutboxMessage.parked_reason, func.count())
            .where(OutboxMessage.status == OutboxStatus.PARKED)
            .group_by(OutboxMessage.parked_reason)
        )
        return {str(reason or "unknown"): int(n) for reason, n in self.conn.execute(stmt)}

    def prune_finished(self, *, before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` done or failed rows finished before ``before`` (pending and parked stay)."""
        ids = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status.in_([OutboxStatus.DONE, OutboxStatus.FAILED]),
                OutboxMessage.done_at < before,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        result = self.conn.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids.scalar_subquery())))
        return int(result.rowcount)

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
