"""What the Slack sink reads and writes in SQL for one delivery (run in a worker thread; no Slack calls).

One read per delivery (:meth:`DeliveryState.load`: the incident, its first alert, whether it is silenced or
marked noise, the rows waiting behind it, the thread's state), and fenced writes of each attempt's progress:
a write whose lease another worker took over changes nothing and raises :class:`LeaseLost`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from analytics.records import OutboxStatus, OutboxTopic
from bot.errors import LeaseLost, PermanentError
from bot.incidents.affected import Affected, summarize
from bot.settings import FileConfig
from bot.slack.routing import config_matchers, incident_facts, matches
from storage.db import Database
from storage.drafts import DraftRepository, StoredDraft
from storage.incident_reads import IncidentReads
from storage.models import Alert, Incident
from storage.outbox import OutboxItem, OutboxRepository
from storage.slack import PendingRow, SilenceRepository, SlackStateRepository

TOPIC = OutboxTopic.SLACK
# The root lists what the incident's newest firings affect: enough to name the instances of a storm
# without reading all of a 10,000-alert incident on each edit (a larger one is counted, not read).
AFFECTED_SAMPLE = 500


@dataclass(slots=True)
class View:
    """What one delivery needs from SQL, read in one go."""

    incident: Incident
    first_alert: Alert | None
    noise: bool
    silence: str | None
    later: list[PendingRow] = field(default_factory=list)
    channel_key: str | None = None
    last_joined_reply_at: datetime | None = None
    affected: Affected | None = None

    @property
    def pace_key(self) -> str:
        """Posts to one channel share one schedule: keyed by the channel as routed (else its id)."""
        return self.channel_key or self.incident.slack_channel or "?"


class DeliveryState:
    def __init__(
        self, *, db: Database, config: FileConfig, clock: Callable[[], datetime], lease: timedelta
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.lease = lease  # each write before a post extends the row's lease by this much

    def facts(self, incident: Incident) -> dict[str, str]:
        return incident_facts(
            labels=incident.labels or {},
            service=incident.service,
            alertname=incident.alertname,
            severity=incident.severity,
            catalog=self.config.services,
        )

    def load(self, message: OutboxItem) -> tuple[dict[str, Any], View | None]:
        """What an earlier attempt already did, and (unless the row is done already) the view, in one read."""
        assert message.incident_id is not None
        now = self.clock()
        with self.db.read() as conn:
            status, progress = SlackStateRepository(conn).outbox_result(message.id)
            if status != OutboxStatus.PENDING:
                return progress, None
            reads = IncidentReads(conn)
            incident = reads.get(message.incident_id)
            if incident is None:
                raise PermanentError(f"incident {message.incident_id} does not exist")
            first_alert = reads.first_alert(incident.id)
            newest = reads.newest_alerts(incident.id, limit=AFFECTED_SAMPLE)
            instances = reads.count_instances(incident.id) if len(newest) == AFFECTED_SAMPLE else None
            affected = summarize(newest, instances=instances)
            noise = reads.marked_noise(incident.id)
            facts = self.facts(incident)
            silence = self.silence(SilenceRepository(conn), facts, now)
            state = SlackStateRepository(conn)
            later = state.pending_after(message.id, incident_id=incident.id, topic=TOPIC)
            channel_key, last = state.thread(incident.id)
        view = View(incident, first_alert, noise, silence, later, channel_key, last, affected)
        return progress, view

    def silence(self, silences: SilenceRepository, facts: Mapping[str, str], now: datetime) -> str | None:
        for row in silences.active(now):
            if matches(row.matchers, facts):
                return f"silence {row.id}"
        for index, entry in enumerate(self.config.silences):
            if (entry.until is None or entry.until > now) and matches(config_matchers(entry.match), facts):
                return f"config silence {index + 1}"
        return None

    def known_channel_id(self, channel_key: str) -> str | None:
        with self.db.read() as conn:
            return SlackStateRepository(conn).known_channel_id(channel_key)

    def record(
        self, message: OutboxItem, progress: Mapping[str, Any], root: tuple[int, str, str, str] | None
    ) -> None:
        """Store this attempt's progress (and a root message's place) while the row is still ours."""
        with self.db.write() as conn:
            self.hold_lease(conn, message, progress)
            if root is not None:
                incident_id, channel_key, channel, ts = root
                SlackStateRepository(conn).store_root(
                    incident_id, channel_key=channel_key, channel=channel, ts=ts
                )

    def hold_lease(self, conn: Connection, message: OutboxItem, progress: Mapping[str, Any]) -> None:
        stored = OutboxRepository(conn).save_progress(
            message.id, token=message.lease_token, result=progress, lease_until=self.clock() + self.lease
        )
        if not stored:
            raise LeaseLost(message.id)

    def finish_update(
        self,
        message: OutboxItem,
        progress: Mapping[str, Any],
        incident_id: int,
        absorbed: Sequence[PendingRow],
        joined: bool,
    ) -> None:
        now = self.clock()
        with self.db.write() as conn:
            self.hold_lease(conn, message, progress)
            state = SlackStateRepository(conn)
            state.mark_coalesced([row.id for row in absorbed], into=message.id, now=now)
            if joined:
                state.set_thread(incident_id, last_joined_reply_at=now)

    def load_draft(self, draft_id: Any) -> StoredDraft | None:
        if not isinstance(draft_id, int):
            return None
        with self.db.read() as conn:
            return DraftRepository(conn).get(draft_id)
