"""Slack delivery state in SQL: handled event ids, per-channel pacing, thread batching and silences.

Everything here is shared by all sevbot processes through the database, so "handled once" and "one post
per second per channel" hold across ``sevbot serve`` replicas and ``sevbot worker`` processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from analytics.records import OutboxStatus, SilenceTarget
from storage.models import Incident, OutboxMessage, Silence, SlackChannelPace, SlackEvent, SlackThread

FIRST_LANE = "\x1ffirst"  # the pacing key suffix of a channel's new messages (see reserve_slot)


@dataclass(frozen=True, slots=True)
class SilenceRow:
    id: int
    matchers: list[dict[str, str]]
    reason: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    target: str = SilenceTarget.SEVBOT  # SilenceTarget
    remote_id: str | None = None
    incident_id: int | None = None


@dataclass(frozen=True, slots=True)
class PendingRow:
    id: int
    kind: str
    payload: dict[str, Any]


def _insert_ignore(conn: Connection, table: Any, values: Mapping[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; ``True`` when the row is new (it comes back from RETURNING;
    ``rowcount`` is not reliable here on every driver)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.__table__.primary_key.columns))
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(stmt).first() is not None


class SlackStateRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- Events API retries ------------------------------------------------------------------

    def remember_event(self, event_id: str, *, now: datetime) -> bool:
        """Record an event id; ``False`` when some process already handled it (a retry)."""
        return _insert_ignore(self.conn, SlackEvent, {"event_id": event_id[:64], "received_at": now})

    def forget_events_before(self, before: datetime) -> int:
        return int(self.conn.execute(delete(SlackEvent).where(SlackEvent.received_at < before)).rowcount)

    # --- pacing ------------------------------------------------------------------------------

    def reserve_slot(
        self,
        channel: str,
        *,
        now: datetime,
        interval: timedelta,
        max_wait: timedelta,
        first: bool = False,
    ) -> datetime:
        """When this caller may post to ``channel``; the slot after it goes to the next caller.

        If the turn is more than ``max_wait`` away nothing is reserved and that later time is returned,
        so the caller can come back then instead of holding a slot it will not use.

        ``first``: a new channel message (an incident's root, a SEV1 notice), which queues only behind
        other new channel messages, on a schedule of their own, and pushes the channel's other posts
        (replies, updates) back by one interval. So a new incident never waits for another incident's
        draft or update in the same channel; the price is that a channel busy with both may see two posts
        in one interval (a new message right after a reply), never more.
        """
        key = channel[:64]
        own = f"{key[: 64 - len(FIRST_LANE)]}{FIRST_LANE}" if first else key
        slot = max(now, self._pace_next_at(own, now))
        if slot - now > max_wait:
            return slot
        self._pace_set(own, slot + interval)
        if first:  # the channel's other posts go after it
            self._pace_set(key, max(self._pace_next_at(key, now), slot + interval))
        return slot

    def _pace_next_at(self, key: str, now: datetime) -> datetime:
        _insert_ignore(self.conn, SlackChannelPace, {"channel": key, "next_at": now})
        stmt = select(SlackChannelPace.next_at).where(SlackChannelPace.channel == key)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        next_at: datetime = self.conn.execute(stmt).scalar_one()
        return next_at

    def _pace_set(self, key: str, next_at: datetime) -> None:
        self.conn.execute(
            update(SlackChannelPace).where(SlackChannelPace.channel == key).values(next_at=next_at)
        )

    # --- thread batching -----------------------------------------------------------------------

    def thread(self, incident_id: int) -> tuple[str | None, datetime | None]:
        """The incident's channel as routed (its pacing key) and when its last "joined" reply went out."""
        stmt = select(SlackThread.channel_key, SlackThread.last_joined_reply_at).where(
            SlackThread.incident_id == incident_id
        )
        row = self.conn.execute(stmt).one_or_none()
        return (row.channel_key, row.last_joined_reply_at) if row else (None, None)

    def flap_reply_ts(self, incident_id: int) -> str | None:
        """The ts of the one reply a flapping incident keeps up to date (None: not posted yet)."""
        stmt = select(SlackThread.flap_reply_ts).where(SlackThread.incident_id == incident_id)
        found: str | None = self.conn.execute(stmt).scalar_one_or_none()
        return found

    def set_thread(self, incident_id: int, **values: Any) -> None:
        """Set ``channel_key``, ``last_joined_reply_at`` and/or ``flap_reply_ts`` of an incident's thread."""
        if not _insert_ignore(self.conn, SlackThread, {"incident_id": incident_id, **values}):
            self.conn.execute(
                update(SlackThread).where(SlackThread.incident_id == incident_id).values(**values)
            )

    def store_root(self, incident_id: int, *, channel_key: str, channel: str, ts: str) -> None:
        """Remember where the incident's root message is (its channel as routed, the channel id, its ts)."""
        self.set_thread(incident_id, channel_key=channel_key)
        self.conn.execute(
            update(Incident).where(Incident.id == incident_id).values(slack_channel=channel, slack_ts=ts)
        )

    def known_channel_id(self, channel_key: str) -> str | None:
        """The channel id a root message routed to ``channel_key`` went to (Slack answers ids, we route by
        name); ``None`` before the first one."""
        stmt = (
            select(Incident.slack_channel)
            .join(SlackThread, SlackThread.incident_id == Incident.id)
            .where(SlackThread.channel_key == channel_key, Incident.slack_channel.is_not(None))
            .order_by(Incident.id.desc())
            .limit(1)
        )
        found: str | None = self.conn.execute(stmt).scalar_one_or_none()
        return found

    # --- outbox rows of one incident -------------------------------------------------------------

    def outbox_result(self, message_id: int) -> tuple[str, dict[str, Any]]:
        """A row's status and result (what a previous attempt already did)."""
        row = self.conn.execute(
            select(OutboxMessage.status, OutboxMessage.result).where(OutboxMessage.id == message_id)
        ).one()
        return str(row.status), dict(row.result or {})

    def pending_after(self, message_id: int, *, incident_id: int, topic: str) -> list[PendingRow]:
        """The pending rows queued after ``message_id`` for the same incident and topic, in order."""
        rows = self.conn.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload)
            .where(
                OutboxMessage.incident_id == incident_id,
                OutboxMessage.topic == topic,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.id > message_id,
            )
            .order_by(OutboxMessage.id)
        )
        return [PendingRow(id=r.id, kind=r.kind, payload=dict(r.payload or {})) for r in rows]

    def mark_coalesced(self, message_ids: Sequence[int], *, into: int, now: datetime) -> None:
        """Rows whose content went out with message ``into``: done, pointing at it."""
        if message_ids:
            self.conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(list(message_ids)), OutboxMessage.status == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.DONE, done_at=now, claimed_until=None, result={"coalesced_into": into}
                )
            )

    def wake_incident(self, incident_id: int, *, topic: str, now: datetime) -> None:
        """Make an incident's waiting rows due now (a person acted: batching must not delay that)."""
        self.conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.incident_id == incident_id,
                OutboxMessage.topic == topic,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at > now,
                OutboxMessage.last_error.like("batched%"),
            )
            .values(next_attempt_at=now)
        )


_SILENCE_COLUMNS = (
    Silence.id,
    Silence.matchers,
    Silence.reason,
    Silence.created_by,
    Silence.created_at,
    Silence.expires_at,
    Silence.target,
    Silence.remote_id,
    Silence.incident_id,
)


class SilenceRepository:
    """sevbot's own silences, and the record of those it made at the source (Alertmanager, Grafana)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        *,
        matchers: Sequence[Mapping[str, str]],
        reason: str | None,
        created_by: str,
        now: datetime,
        expires_at: datetime,
        target: str = SilenceTarget.SEVBOT,
        remote_id: str | None = None,
        incident_id: int | None = None,
    ) -> int:
        new_id = self.conn.execute(
            insert(Silence)
            .values(
                matchers=[dict(m) for m in matchers],
                reason=reason,
                created_by=created_by,
                created_at=now,
                expires_at=expires_at,
                target=target,
                remote_id=remote_id,
                incident_id=incident_id,
            )
            .returning(Silence.id)
        ).scalar_one()
        return int(new_id)

    def active(self, now: datetime, *, target: str | None = SilenceTarget.SEVBOT) -> list[SilenceRow]:
        """Silences not yet ended: sevbot's own by default (what mutes Slack posts); ``target=None``: all."""
        stmt = select(*_SILENCE_COLUMNS).where(Silence.expires_at > now).order_by(Silence.id)
        if target is not None:
            stmt = stmt.where(Silence.target == target)
        return [SilenceRow(**row._mapping) for row in self.conn.execute(stmt)]

    def get(self, silence_id: int) -> SilenceRow | None:
        row = self.conn.execute(select(*_SILENCE_COLUMNS).where(Silence.id == silence_id)).first()
        return SilenceRow(**row._mapping) if row is not None else None

    def by_remote_id(self, remote_id: str) -> SilenceRow | None:
        """The newest record of a silence sevbot made at the source, by the source's id."""
        row = self.conn.execute(
            select(*_SILENCE_COLUMNS)
            .where(Silence.remote_id == remote_id)
            .order_by(Silence.id.desc())
            .limit(1)
        ).first()
        return SilenceRow(**row._mapping) if row is not None else None

    def end(self, silence_id: int, now: datetime) -> bool:
        """A silence at the source was expired: its record ends now (kept, so the history says so)."""
        stmt = (
            update(Silence).where(Silence.id == silence_id, Silence.expires_at > now).values(expires_at=now)
        )
        return bool(self.conn.execute(stmt).rowcount)

    def remove(self, silence_id: int) -> bool:
        return bool(self.conn.execute(delete(Silence).where(Silence.id == silence_id)).rowcount)
