"""The Slack sink's story deliveries: a related incident's post in its primary's thread (with the story's
single SEV1 page), and a flapping incident's one reply kept up to date (``chat.update``) instead of one
reply per change. Functions of the :class:`~bot.slack.sink.SlackSink` they serve, kept apart from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from analytics.records import OutboxKind
from bot.errors import RetryAfter
from bot.slack import blocks, story
from bot.slack.reconcile import Part
from bot.slack.sink_state import View
from storage.models import Incident
from storage.outbox import OutboxItem
from storage.slack import PendingRow

if TYPE_CHECKING:
    from bot.slack.sink import SlackSink

POSTING = "posting"  # the sink's progress key (see bot.slack.sink)
PRIMARY_WAIT_SECONDS = 1.0  # then the row tries again (a wait, not a failure)
PRIMARY_LOOKS = 10
PRIMARY_LOOK_SECONDS = 0.05


class PrimaryWait(RetryAfter):
    """A related incident waits for its primary's root message, in whose thread it goes."""

    def __str__(self) -> str:
        return f"waiting for the primary's root message ({self.seconds:.0f}s)"


async def related_in_thread(sink: SlackSink, view: View, primary: Incident) -> bool:
    """Whether a related incident posts into its primary's thread (waiting for the primary's root), or as
    a root of its own: when routing sends it to another channel than its primary, or the primary's posts
    are silenced."""
    assert view.story is not None
    elsewhere = sink.router.channel_for(sink.state.facts(view.incident)) != sink.router.channel_for(
        sink.state.facts(primary)
    )
    if elsewhere or (
        not primary.slack_ts
        and await anyio.to_thread.run_sync(sink.state.primary_silenced, primary) is not None
    ):
        view.story.primary = None
        return False
    for _ in range(PRIMARY_LOOKS):  # the primary's root usually goes out in the same worker pass
        if primary.slack_ts and primary.slack_channel:
            return True
        await anyio.sleep(PRIMARY_LOOK_SECONDS)
        primary.slack_channel, primary.slack_ts = await anyio.to_thread.run_sync(
            sink.state.root_place, primary.id
        )
    if primary.slack_ts and primary.slack_channel:
        return True
    raise PrimaryWait(PRIMARY_WAIT_SECONDS)


async def post_related(
    sink: SlackSink, view: View, primary: Incident, progress: dict[str, Any], message: OutboxItem
) -> bool:
    """A related incident's post (its own root, in effect) as a reply in the primary's thread; it carries
    the story's single SEV1 mention when ingestion said so (``page``)."""
    incident = view.incident
    assert primary.slack_channel and primary.slack_ts
    found = None
    earlier = progress.get(POSTING, {}).get(Part.ROOT)
    if earlier:
        found = await sink.reconciler.reply(
            channel_id=primary.slack_channel,
            root_ts=primary.slack_ts,
            incident_id=incident.id,
            outbox_id=message.id,
            since=float(earlier["at"]),
            part=Part.ROOT,
        )
    if found is not None:
        ts = found.ts
    else:
        page = message.kind == OutboxKind.INCIDENT_OPENED and bool(message.payload.get("page"))
        mention = page_mention(sink, incident) if page else None
        card = sink.render.root(view, posting=True, page=mention)
        response = await sink._post(
            message,
            progress,
            Part.ROOT,
            pace_key=view.pace_key,
            channel=primary.slack_channel,
            thread_ts=primary.slack_ts,
            text=card.text,
            blocks=card.blocks,
            unfurl_links=False,
        )
        ts = str(response["ts"])
    progress.get(POSTING, {}).pop(Part.ROOT, None)
    progress.update(channel=primary.slack_channel, root_ts=ts, in_thread_of=primary.id)
    channel_key = view.channel_key or sink.router.channel_for(sink.state.facts(primary))
    place = (incident.id, channel_key, primary.slack_channel, ts)
    await anyio.to_thread.run_sync(sink.state.record, message, progress, place)
    incident.slack_channel, incident.slack_ts = primary.slack_channel, ts
    view.channel_key = channel_key
    return found is None


def page_mention(sink: SlackSink, incident: Incident) -> str | None:
    """Whom the story's single SEV1 page in the thread mentions: the owner, else the SEV1 mention (as on a
    SEV1 root)."""
    owner = sink.router.owner_mention(sink.state.facts(incident), sink.config.services)
    return owner or sink.options.sev1_mention


async def flapping(
    sink: SlackSink, message: OutboxItem, view: View, progress: dict[str, Any], absorbed: list[PendingRow]
) -> dict[str, Any]:
    """A flapping incident's changes: its one reply posted once, then edited (``chat.update``), and the
    root brought up to date; no new reply per change."""
    assert view.story is not None
    posted_root = await sink._ensure_root(view, progress, message)
    incident = view.incident
    progress["coalesced"] = [row.id for row in absorbed]
    text, reply_blocks = story.flapping_reply(incident, view.story.firings, incident.alertname)
    ts = view.story.flap_reply_ts or progress.get("flap_reply_ts")
    if ts is None:
        await sink._ensure_reply(view, progress, message, blocks.SlackMessage(text, reply_blocks))
        progress["flap_reply_ts"] = progress["reply_ts"]
        await anyio.to_thread.run_sync(
            sink.state.set_flap_reply, message, progress, incident.id, progress["reply_ts"]
        )
    elif "flap_reply_updated" not in progress:
        assert incident.slack_channel
        if sink.pacer is not None:
            await sink.pacer.wait_turn(view.pace_key)
        await sink._call("chat_update", channel=incident.slack_channel, ts=ts, text=text, blocks=reply_blocks)
        progress["flap_reply_updated"] = ts
    if not posted_root and "root_updated" not in progress:
        progress["root_updated"] = await sink._update_root(view)
    await anyio.to_thread.run_sync(sink.state.finish_update, message, progress, incident.id, absorbed, False)
    return progress
