"""The outbox's "slack" sink: root message per incident (updated in place), thread replies, drafts.

Delivery is at least once, so every step is idempotent: the root message's channel and ``ts`` are stored
on the incident right after it is posted (a retry updates it instead of posting again), and a thread
reply's ``ts`` is stored on the outbox row before anything else can fail (a retry does not post it again).

Replies about joined alerts are batched: at most one per incident per ``reply_interval``. A row that
would reply sooner waits in the outbox (holding later rows of its incident, so order is kept) and, when it
goes, takes the incident's later waiting ``incident.updated`` rows with it: one reply, one root update.
Anything other than joined/resolved alerts (severity, acknowledgement, resolution, a person's action)
goes at once.

Slack's answers become the worker's vocabulary through :mod:`bot.slack.webapi`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from analytics.records import OutboxKind, OutboxStatus, OutboxTopic
from bot.clock import utcnow
from bot.errors import PermanentError, RetryAfter, SlackPermanentFailure
from bot.metrics import Metrics
from bot.settings import FileConfig, Settings
from bot.slack import blocks
from bot.slack.pacing import ChannelPacer
from bot.slack.routing import ChannelRouter, config_matchers, incident_facts, matches
from bot.slack.webapi import ROOT_GONE, translate
from storage.db import Database
from storage.drafts import DraftRepository, StoredDraft
from storage.incident_reads import IncidentReads
from storage.models import Alert, Incident
from storage.outbox import OutboxItem
from storage.slack import PendingRow, SilenceRepository, SlackStateRepository

log = logging.getLogger(__name__)

TOPIC = OutboxTopic.SLACK


class BatchWait(RetryAfter):
    """An "alerts joined" reply went out less than the batching interval ago: try again later."""

    def __str__(self) -> str:
        return f"batched: next thread reply in {self.seconds:.0f}s"


@dataclass(frozen=True, slots=True)
class SlackOptions:
    default_channel: str
    reply_interval: timedelta = timedelta(seconds=30)
    sev1_mention: str | None = None
    public_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackOptions:
        return cls(
            default_channel=settings.slack_channel,
            reply_interval=settings.slack_reply_interval,
            sev1_mention=settings.slack_sev1_mention,
            public_url=settings.public_url,
        )


@dataclass(slots=True)
class _View:
    """What one delivery needs from SQL, read in one go."""

    incident: Incident
    first_alert: Alert | None
    noise: bool
    silence: str | None
    later: list[PendingRow] = field(default_factory=list)
    channel_key: str | None = None
    last_joined_reply_at: datetime | None = None

    @property
    def pace_key(self) -> str:
        """Posts to one channel share one schedule: keyed by the channel as routed (else its id)."""
        return self.channel_key or self.incident.slack_channel or "?"


class SlackSink:
    def __init__(
        self,
        *,
        db: Database,
        client: AsyncWebClient,
        config: FileConfig,
        options: SlackOptions,
        metrics: Metrics | None = None,
        pacer: ChannelPacer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.config = config
        self.options = options
        self.router = ChannelRouter(config.slack, options.default_channel)
        self.errors = metrics.slack_api_errors if metrics else None
        self.pacer = pacer
        self.clock = clock

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        if incident is None or message.incident_id is None:
            return {"skipped": "the incident no longer exists"}
        progress, view = await anyio.to_thread.run_sync(self._load, message)
        if view is None:
            return progress  # already sent along with an earlier row
        if view.silence is not None:
            return {**progress, "silenced": view.silence}
        if message.kind == OutboxKind.INCIDENT_OPENED:
            posted = await self._ensure_root(view, progress, message.id)
            if not posted and "root_updated" not in progress:  # an earlier row posted it: bring it up to date
                progress["root_updated"] = await self._update_root(view)
            return progress
        if message.kind == OutboxKind.INCIDENT_UPDATED:
            return await self._updated(message, view, progress)
        if message.kind == OutboxKind.INCIDENT_DRAFT:
            return await self._draft(message, view, progress)
        raise PermanentError(f"the slack sink does not know outbox kind {message.kind!r}")

    # --- kinds ---------------------------------------------------------------------------------

    async def _updated(self, message: OutboxItem, view: _View, progress: dict[str, Any]) -> dict[str, Any]:
        absorbed: list[PendingRow] = []
        if "coalesced" in progress:  # a retry: exactly the rows the first attempt took (and replied about)
            taken = set(progress["coalesced"])
            absorbed = [row for row in view.later if row.id in taken]
        else:
            for row in view.later:  # take the run of waiting updates right behind this one
                if row.kind != OutboxKind.INCIDENT_UPDATED:
                    break
                absorbed.append(row)
        payloads = [message.payload, *(row.payload for row in absorbed)]
        changes = [c for p in payloads for c in p.get("changes", [])]
        total = sum(int(p.get("count", len(p.get("changes", [])))) for p in payloads)
        throttled = blocks.FLAPPING_BATCHED_KINDS if view.incident.flapping else blocks.BATCHED_KINDS
        # A person's action is never held back (it names who did it).
        batched_only = all(c.get("kind") in throttled and not c.get("by") for c in changes)
        others_waiting = len(absorbed) < len(view.later)
        now = self.clock()
        last = view.last_joined_reply_at
        due = last + self.options.reply_interval if last is not None else now
        if batched_only and not others_waiting and view.incident.slack_ts and now < due:
            raise BatchWait((due - now).total_seconds())

        posted_root = await self._ensure_root(view, progress, message.id)
        incident = view.incident
        lines = blocks.changes_text(changes, incident=incident, total=total)
        link = self._links(view).get("incident")
        progress["coalesced"] = [row.id for row in absorbed]
        if lines and "reply_ts" not in progress:
            reply = blocks.reply_message(lines, link=link)
            progress["reply_ts"] = await self._post_reply(view, reply)
            await anyio.to_thread.run_sync(self._save_progress, message.id, progress)
        if not posted_root and "root_updated" not in progress:
            progress["root_updated"] = await self._update_root(view)
        joined = any(c.get("kind") in throttled for c in changes)
        await anyio.to_thread.run_sync(
            self._finish_update, message.id, incident.id, absorbed, joined and bool(lines)
        )
        return progress

    async def _draft(self, message: OutboxItem, view: _View, progress: dict[str, Any]) -> dict[str, Any]:
        draft_id = message.payload.get("draft_id")
        draft = await anyio.to_thread.run_sync(self._load_draft, draft_id)
        if draft is None:
            raise PermanentError(f"draft {draft_id!r} does not exist")
        await self._ensure_root(view, progress, message.id)
        if "reply_ts" not in progress:
            reply = blocks.draft_message(
                kind=draft.kind,
                source=draft.source,
                model=draft.model,
                text=draft.text,
                link=self._links(view).get("incident"),
            )
            progress["reply_ts"] = await self._post_reply(view, reply)
        return progress

    # --- Slack calls -----------------------------------------------------------------------------

    async def _ensure_root(self, view: _View, progress: dict[str, Any], message_id: int) -> bool:
        """Post the root message unless the incident has one; ``True`` when posted now."""
        incident = view.incident
        if incident.slack_ts and incident.slack_channel:
            return False
        channel = self.router.channel_for(self._facts(incident))
        root = self._root(view)
        response = await self._call(
            "chat_postMessage",
            channel,
            channel=channel,
            text=root.text,
            blocks=root.blocks,
            unfurl_links=False,
        )
        channel_id, ts = str(response["channel"]), str(response["ts"])
        await anyio.to_thread.run_sync(self._store_root, incident.id, channel, channel_id, ts)
        incident.slack_channel, incident.slack_ts = channel_id, ts
        view.channel_key = channel
        progress.update(channel=channel_id, root_ts=ts)
        return True

    async def _update_root(self, view: _View) -> bool:
        incident = view.incident
        assert incident.slack_channel and incident.slack_ts
        root = self._root(view)
        try:
            await self._call(
                "chat_update",
                view.pace_key,
                channel=incident.slack_channel,
                ts=incident.slack_ts,
                text=root.text,
                blocks=root.blocks,
            )
        except SlackPermanentFailure as exc:
            if exc.error in ROOT_GONE:
                log.warning("root message gone; not updated", extra={"incident_id": incident.id})
                return False
            raise
        return True

    async def _post_reply(self, view: _View, reply: blocks.SlackMessage) -> str:
        incident = view.incident
        assert incident.slack_channel and incident.slack_ts
        response = await self._call(
            "chat_postMessage",
            view.pace_key,
            channel=incident.slack_channel,
            thread_ts=incident.slack_ts,
            text=reply.text,
            blocks=reply.blocks,
            unfurl_links=False,
        )
        return str(response["ts"])

    async def _call(self, method: str, pace_key: str, **kwargs: Any) -> Any:
        """Call a Web API method after the channel's turn, translating Slack's errors for the worker."""
        if self.pacer is not None:
            await self.pacer.wait_turn(pace_key)
        try:
            return await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise translate(method, exc, errors=self.errors) from exc

    # --- building ----------------------------------------------------------------------------------

    def _facts(self, incident: Incident) -> dict[str, str]:
        return incident_facts(
            labels=incident.labels or {},
            service=incident.service,
            alertname=incident.alertname,
            severity=incident.severity,
            catalog=self.config.services,
        )

    def _links(self, view: _View) -> dict[str, str]:
        return blocks.incident_links(view.incident, view.first_alert, self.options.public_url)

    def _root(self, view: _View) -> blocks.SlackMessage:
        return blocks.root_message(
            view.incident, links=self._links(view), mention=self.options.sev1_mention, noise=view.noise
        )

    # --- SQL (run in a worker thread) ---------------------------------------------------------------

    def _load(self, message: OutboxItem) -> tuple[dict[str, Any], _View | None]:
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
            noise = reads.marked_noise(incident.id)
            facts = self._facts(incident)
            silence = self._silence(SilenceRepository(conn), facts, now)
            state = SlackStateRepository(conn)
            later = state.pending_after(message.id, incident_id=incident.id, topic=TOPIC)
            channel_key, last = state.thread(incident.id)
        return progress, _View(incident, first_alert, noise, silence, later, channel_key, last)

    def _silence(self, silences: SilenceRepository, facts: Mapping[str, str], now: datetime) -> str | None:
        for row in silences.active(now):
            if matches(row.matchers, facts):
                return f"silence {row.id}"
        for index, entry in enumerate(self.config.silences):
            if (entry.until is None or entry.until > now) and matches(config_matchers(entry.match), facts):
                return f"config silence {index + 1}"
        return None

    def _store_root(self, incident_id: int, channel_key: str, channel: str, ts: str) -> None:
        with self.db.write() as conn:
            SlackStateRepository(conn).store_root(
                incident_id, channel_key=channel_key, channel=channel, ts=ts
            )

    def _save_progress(self, message_id: int, progress: Mapping[str, Any]) -> None:
        with self.db.write() as conn:
            SlackStateRepository(conn).save_progress(message_id, progress)

    def _finish_update(
        self, message_id: int, incident_id: int, absorbed: Sequence[PendingRow], joined: bool
    ) -> None:
        now = self.clock()
        with self.db.write() as conn:
            state = SlackStateRepository(conn)
            state.mark_coalesced([row.id for row in absorbed], into=message_id, now=now)
            if joined:
                state.set_thread(incident_id, last_joined_reply_at=now)

    def _load_draft(self, draft_id: Any) -> StoredDraft | None:
        if not isinstance(draft_id, int):
            return None
        with self.db.read() as conn:
            return DraftRepository(conn).get(draft_id)


def build_slack_sink(
    *,
    db: Database,
    settings: Settings,
    config: FileConfig,
    metrics: Metrics | None,
    clock: Callable[[], datetime],
) -> SlackSink:
    """The sink ``sevbot serve`` and ``sevbot worker`` use when ``SLACK_BOT_TOKEN`` is set."""
    assert settings.slack_bot_token is not None
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    return SlackSink(
        db=db,
        client=client,
        config=config,
        options=SlackOptions.from_settings(settings),
        metrics=metrics,
        pacer=ChannelPacer(db, interval=settings.slack_channel_interval),
        clock=clock,
    )
