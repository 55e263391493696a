"""The outbox's "slack" sink: root message per incident (updated in place), thread replies, drafts.

Delivery is at least once, so every post happens once as far as Slack allows:

- before a post, the row records that it is about to post (and extends its lease); after it, the post's
  ``ts`` (the root's also on the incident) in one fenced transaction, so a retry never posts it again;
- every post carries message metadata naming the incident, the row and the part; an attempt that finds an
  earlier one's "about to post" with no ``ts`` (a timeout, a dropped connection, a crash, a lease that ran
  out) first looks for that message in Slack (:mod:`bot.slack.reconcile`) and adopts its ``ts``;
- slack_sdk's own retries are off (it would resend a post whose answer was lost); the outbox retries;
- a row whose lease was taken over stops at its next write (:class:`LeaseLost`), before posting again.

Replies about joined alerts are batched: at most one per incident per ``reply_interval``. A row that
would reply sooner waits in the outbox (holding later rows of its incident, so order is kept) and, when it
goes, takes the incident's later waiting ``incident.updated`` rows with it: one reply, one root update.
Anything other than joined/resolved alerts (severity, acknowledgement, resolution, a person's action)
goes at once.

Slack's answers become the worker's vocabulary through :mod:`bot.slack.webapi`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from analytics.records import DraftKind, DraftSource, IncidentStatus, OutboxKind, OutboxTopic, Severity
from bot.clock import utcnow
from bot.errors import DeliveryBlocked, PermanentError, RetryAfter, SlackApiFailure, SlackPermanentFailure
from bot.metrics import Metrics
from bot.outbox.messages import draft_label
from bot.settings import FileConfig
from bot.slack import blocks, sink_story, story
from bot.slack.pacing import ChannelPacer
from bot.slack.postmortem_file import share_postmortem
from bot.slack.reconcile import Part, Reconciler, metadata
from bot.slack.reminders import reminder_message
from bot.slack.routing import ChannelRouter
from bot.slack.sink_render import Render, SlackOptions, thread_link
from bot.slack.sink_state import DeliveryState, View
from bot.slack.webapi import ROOT_GONE, translate
from storage.db import Database
from storage.models import Incident
from storage.outbox import OutboxItem
from storage.slack import PendingRow

log = logging.getLogger(__name__)

TOPIC = OutboxTopic.SLACK
POSTING = "posting"  # progress key: the parts this row was about to post, with when and where
NEW_MESSAGES = frozenset({Part.ROOT, Part.NOTICE})  # paced ahead of replies and updates (ChannelPacer)


class BatchWait(RetryAfter):
    """An "alerts joined" reply went out less than the batching interval ago: try again later."""

    def __str__(self) -> str:
        return f"batched: next thread reply in {self.seconds:.0f}s"


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
        lease: timedelta = timedelta(seconds=60),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.client = client
        self.config = config
        self.options = options
        self.router = ChannelRouter(config.slack, options.default_channel)
        self.render = Render(router=self.router, config=config, options=options)
        self.errors = metrics.slack_api_errors if metrics else None
        self.pacer = pacer
        self.clock = clock
        self.lease = lease  # each write before a post extends the row's lease by this much
        self.wall_clock = wall_clock  # Slack's ts are wall-clock seconds, whatever clock the worker uses
        self.state = DeliveryState(db=db, config=config, clock=clock, lease=lease)
        self.reconciler = Reconciler(self._call, lookups=metrics.slack_post_lookups if metrics else None)

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        if incident is None or message.incident_id is None:
            return {"skipped": "the incident no longer exists"}
        progress, view = await anyio.to_thread.run_sync(self.state.load, message)
        if view is None:
            return progress  # already sent along with an earlier row
        if view.silence is not None and not (view.incident.slack_ts and story.by_person(message.payload)):
            return {**progress, "silenced": view.silence}
        if view.silence is not None:  # a person's word (noise with a silence) still shows, and only it
            view.later = []
        if message.kind == OutboxKind.INCIDENT_OPENED:
            posted = await self._ensure_root(view, progress, message)
            if not posted and "root_updated" not in progress:  # an earlier row posted it: bring it up to date
                progress["root_updated"] = await self._update_root(view)
            return progress
        if message.kind == OutboxKind.INCIDENT_UPDATED:
            return await self._updated(message, view, progress)
        if message.kind == OutboxKind.INCIDENT_DRAFT:
            return await self._draft(message, view, progress)
        if message.kind == OutboxKind.INCIDENT_RENOTIFY:
            return await self._remind(message, view, progress)
        raise PermanentError(f"the slack sink does not know outbox kind {message.kind!r}")

    # --- kinds ---------------------------------------------------------------------------------

    async def _updated(self, message: OutboxItem, view: View, progress: dict[str, Any]) -> dict[str, Any]:
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
        if view.incident.flapping and story.collapsible(changes) and view.story is not None:  # one reply
            return await sink_story.flapping(self, message, view, progress, absorbed)
        others_waiting = len(absorbed) < len(view.later)
        now = self.clock()
        last = view.last_joined_reply_at
        due = last + self.options.reply_interval if last is not None else now
        if batched_only and not others_waiting and view.incident.slack_ts and now < due:
            raise BatchWait((due - now).total_seconds())

        posted_root = await self._ensure_root(view, progress, message)
        incident = view.incident
        lines = blocks.changes_text(changes, incident=incident, total=total) + story.refired_lines(changes)
        if lines and view.story is not None and view.story.primary is not None:  # in the primary's thread
            lines[0] = f"*#{incident.id}* · {lines[0]}"
        escalation = blocks.escalation_line(changes, incident, self.render.owner(view))
        if escalation:  # a new message: Slack notifies whom it mentions (an edit of the root would not)
            lines.append(escalation)
        link = self.render.links(view).get("incident")
        progress["coalesced"] = [row.id for row in absorbed]
        if lines:
            await self._ensure_reply(view, progress, message, blocks.reply_message(lines, link=link))
        if escalation and incident.severity == Severity.SEV1:
            await self._ensure_channel_notice(view, progress, message)
        if not posted_root and "root_updated" not in progress:
            progress["root_updated"] = await self._update_root(view)
        joined = any(c.get("kind") in throttled for c in changes)
        await anyio.to_thread.run_sync(
            self.state.finish_update, message, progress, incident.id, absorbed, joined and bool(lines)
        )
        return progress

    async def _draft(self, message: OutboxItem, view: View, progress: dict[str, Any]) -> dict[str, Any]:
        draft_id = message.payload.get("draft_id")
        draft = await anyio.to_thread.run_sync(self.state.load_draft, draft_id)
        if draft is None:
            raise PermanentError(f"draft {draft_id!r} does not exist")
        await self._ensure_root(view, progress, message)
        if draft.kind == DraftKind.POSTMORTEM:  # a Markdown file in the thread, not a reply
            if "file_id" not in progress:
                if self.pacer is not None:
                    await self.pacer.wait_turn(view.pace_key)
                base = (self.options.public_url or "").rstrip("/")
                progress["file_id"] = await share_postmortem(
                    self._call,
                    incident=view.incident,
                    draft=draft,
                    label=draft_label(DraftSource(draft.source), draft.model),
                    requested_by=message.payload.get("requested_by"),
                    link=f"{base}/api/incidents/{view.incident.id}/postmortem.md" if base else None,
                )
                await anyio.to_thread.run_sync(self.state.record, message, progress, None)
            return progress
        reply = blocks.draft_message(
            kind=draft.kind,
            source=draft.source,
            model=draft.model,
            text=draft.text,
            link=self.render.links(view).get("incident"),
            people=(view.incident.resolved_by, view.incident.acknowledged_by),
        )
        await self._ensure_reply(view, progress, message, reply)
        return progress

    async def _remind(self, message: OutboxItem, view: View, progress: dict[str, Any]) -> dict[str, Any]:
        """A new thread reply mentioning the owner (skipped if the incident was acknowledged meanwhile)."""
        if view.incident.status != IncidentStatus.OPEN and "reply_ts" not in progress:
            return {**progress, "skipped": f"incident is {view.incident.status}"}
        await self._ensure_root(view, progress, message)
        reply = reminder_message(
            view.incident,
            owner=self.render.owner(view),
            sev1_mention=self.options.sev1_mention,
            count=int(message.payload.get("count", 1)),
            unacked_seconds=int(message.payload.get("unacked_seconds", 0)),
            link=self.render.links(view).get("incident"),
        )
        await self._ensure_reply(view, progress, message, reply)
        return progress

    # --- Slack calls -----------------------------------------------------------------------------

    async def _ensure_root(self, view: View, progress: dict[str, Any], message: OutboxItem) -> bool:
        """Post the root message unless the incident has one; ``True`` when posted now (an earlier
        attempt's post, found and adopted, counts as not posted now: it is brought up to date)."""
        incident = view.incident
        if incident.slack_ts and incident.slack_channel:
            return False
        primary = view.story.primary if view.story is not None else None
        if primary is not None and await sink_story.related_in_thread(self, view, primary):
            return await sink_story.post_related(self, view, primary, progress, message)
        channel = self.router.channel_for(self.state.facts(incident))
        found = None
        earlier = progress.get(POSTING, {}).get(Part.ROOT)
        if earlier:  # an earlier attempt may have posted it: look before posting again
            known = await anyio.to_thread.run_sync(self.state.known_channel_id, str(earlier["channel"]))
            found = await self.reconciler.root(
                channel=str(earlier["channel"]),
                known_id=known,
                incident_id=incident.id,
                outbox_id=message.id,
                since=float(earlier["at"]),
            )
        if found is not None:
            channel, channel_id, ts = str(earlier["channel"]), found.channel, found.ts  # where it went
        else:
            root = self.render.root(view, posting=True)
            response = await self._post(
                message,
                progress,
                Part.ROOT,
                pace_key=channel,
                channel=channel,
                text=root.text,
                blocks=root.blocks,
                unfurl_links=False,
            )
            channel_id, ts = str(response["channel"]), str(response["ts"])
        progress.get(POSTING, {}).pop(Part.ROOT, None)
        progress.update(channel=channel_id, root_ts=ts)
        place = (incident.id, channel, channel_id, ts)
        await anyio.to_thread.run_sync(self.state.record, message, progress, place)
        incident.slack_channel, incident.slack_ts = channel_id, ts
        view.channel_key = channel
        return found is None

    async def _ensure_reply(
        self, view: View, progress: dict[str, Any], message: OutboxItem, reply: blocks.SlackMessage
    ) -> None:
        """Post this row's thread reply unless it went out already (stored, or found in the thread)."""
        if "reply_ts" in progress:
            return
        incident = view.incident
        thread_ts = view.thread_ts
        assert incident.slack_channel and thread_ts
        found = None
        earlier = progress.get(POSTING, {}).get(Part.REPLY)
        if earlier:
            found = await self.reconciler.reply(
                channel_id=incident.slack_channel,
                root_ts=thread_ts,
                incident_id=incident.id,
                outbox_id=message.id,
                since=float(earlier["at"]),
            )
        if found is not None:
            ts = found.ts
        else:
            response = await self._post(
                message,
                progress,
                Part.REPLY,
                pace_key=view.pace_key,
                channel=incident.slack_channel,
                thread_ts=thread_ts,
                text=reply.text,
                blocks=reply.blocks,
                unfurl_links=False,
            )
            ts = str(response["ts"])
        progress.get(POSTING, {}).pop(Part.REPLY, None)
        progress["reply_ts"] = ts
        await anyio.to_thread.run_sync(self.state.record, message, progress, None)

    async def _ensure_channel_notice(self, view: View, progress: dict[str, Any], message: OutboxItem) -> None:
        """For an incident raised to SEV1: a channel message (a new one, so it notifies) that mentions the
        owner and links the thread, unless it went out already (stored, or found in the channel)."""
        if "notice_ts" in progress:
            return
        incident = view.incident
        assert incident.slack_channel and incident.slack_ts
        found = None
        earlier = progress.get(POSTING, {}).get(Part.NOTICE)
        if earlier:
            found = await self.reconciler.root(
                channel=incident.slack_channel,
                known_id=incident.slack_channel,
                incident_id=incident.id,
                outbox_id=message.id,
                since=float(earlier["at"]),
                part=Part.NOTICE,
            )
        if found is not None:
            ts = found.ts
        else:
            notice = blocks.sev1_notice(
                incident, owner=self.render.owner(view), thread=await thread_link(self._call, view.incident)
            )
            response = await self._post(
                message,
                progress,
                Part.NOTICE,
                pace_key=view.pace_key,
                channel=incident.slack_channel,
                text=notice.text,
                blocks=notice.blocks,
                unfurl_links=False,
            )
            ts = str(response["ts"])
        progress.get(POSTING, {}).pop(Part.NOTICE, None)
        progress["notice_ts"] = ts
        await anyio.to_thread.run_sync(self.state.record, message, progress, None)

    async def _post(
        self, message: OutboxItem, progress: dict[str, Any], part: Part, *, pace_key: str, **arguments: Any
    ) -> Any:
        """``chat.postMessage`` with this post's metadata, recorded as "about to post" first.

        The record is what makes a later attempt look before posting again; it is cleared when Slack
        answers that it did not post (a refusal, a rate limit), and kept when the outcome is unknown.
        """
        assert message.incident_id is not None
        intent = {"at": self.wall_clock(), "channel": arguments["channel"]}
        progress.setdefault(POSTING, {})[str(part)] = intent
        await anyio.to_thread.run_sync(self.state.record, message, progress, None)
        try:
            if self.pacer is not None:  # after the record: the post follows its turn without a gap
                await self.pacer.wait_turn(pace_key, first=part in NEW_MESSAGES)
            response = await self._call(
                "chat_postMessage",
                metadata=metadata(incident_id=message.incident_id, outbox_id=message.id, part=part),
                **arguments,
            )
            if not all(isinstance(response.get(key), str) and response.get(key) for key in ("ts", "channel")):
                # "ok" but not where: nothing to thread on. Posted or not, the retry looks before posting.
                raise SlackApiFailure(method="chat.postMessage", error="answer_without_ts", status=200)
            return response
        except (SlackPermanentFailure, DeliveryBlocked, RetryAfter):  # not posted (refused, rate limited, or
            progress[POSTING].pop(str(part), None)  # not this channel's turn yet)
            await anyio.to_thread.run_sync(self.state.record, message, progress, None)
            raise

    async def _update_root(self, view: View) -> bool:
        incident = view.incident
        assert incident.slack_channel and incident.slack_ts
        root = self.render.root(view)
        if self.pacer is not None:
            await self.pacer.wait_turn(view.pace_key)
        try:
            await self._call(
                "chat_update",
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

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Call a Web API method, translating Slack's errors for the worker."""
        try:
            return await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise translate(method, exc, errors=self.errors) from exc
