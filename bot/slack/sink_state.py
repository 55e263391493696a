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
from storage.stories import Firings, RelatedIncident, StoryRepository

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
    story: Story | None = None

    @property
    def pace_key(self) -> str:
        """Posts to one channel share one schedule: keyed by the channel as routed (else its id)."""
        return self.channel_key or self.incident.slack_channel or "?"

    @property
    def thread_ts(self) -> str | None:
        """Where the incident's replies go: its root's thread, or for a related incident its primary's."""
        if self.story is not None and self.story.primary is not None:
            return self.story.primary.slack_ts
        return self.incident.slack_ts


@dataclass(slots=True)
class Story:
    """The incident's story (``bot.slack.story``): its primary (when related) or its related incidents,
    how its alerts fired, and the one reply a flapping incident updates."""

    primary: Incident | None
    related: list[RelatedIncident]
    firings: Firings
    flap_reply_ts: str | None


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
            story = self.story(conn, reads, incident)
        return progress, View(
            incident, first_alert, noise, silence, later, channel_key, last, affected=affected, story=story
        )

    def story(self, conn: Connection, reads: IncidentReads, incident: Incident) -> Story:
        stories = StoryRepository(conn)
        primary = reads.get(incident.related_to) if incident.related_to is not None else None
        related = stories.related_of(incident.id) if primary is None else []
        flap_ts = SlackStateRepository(conn).flap_reply_ts(incident.id) if incident.flapping else None
        return Story(primary, related, stories.firings(incident.id), flap_ts)

    def root_place(self, incident_id: int) -> tuple[str | None, str | None]:
        """Where the incident's root message is (channel id, ts), or (None, None) before it is posted."""
        with self.db.read() as conn:
            incident = IncidentReads(conn).get(incident_id)
            return (incident.slack_channel, incident.slack_ts) if incident else (None, None)

    def primary_silenced(self, primary: Incident) -> str | None:
        """Whether the primary's posts are silenced (its related incident then posts a root of its own)."""
        with self.db.read() as conn:
            return self.silence(SilenceRepository(conn), self.facts(primary), self.clock())

    def set_flap_reply(
        self, message: OutboxItem, progress: Mapping[str, Any], incident_id: int, ts: str
    ) -> None:
        with self.db.write() as conn:
            self.hold_lease(conn, message, progress)
            SlackStateRepository(conn).set_thread(incident_id, flap_reply_ts=ts)

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
