"""Before posting again, find what an earlier attempt may already have posted (Slack reads; no SQL).

Every message the Slack sink posts carries Slack message metadata naming the incident, the outbox row and
the part (the incident's root message, or a thread reply)::

    {"event_type": "sevbot_message", "event_payload": {"incident_id": 12, "outbox_id": 345, "part": "reply"}}

When an attempt's outcome is unknown (a timeout after Slack may have accepted, a dropped connection, a
crash, a lease that ran out mid-post) the next attempt looks for that message first: the root in the
channel's history (``conversations.history``), a reply in the incident's thread (``conversations.replies``),
both with ``include_all_metadata``, from a little before the earlier attempt. Found: its ``ts`` is adopted
and nothing is posted. The bot needs ``channels:history`` and ``groups:history`` for these reads, and
``channels:read``/``groups:read`` to turn a channel name it routes to into the id the reads take.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

EVENT_TYPE = "sevbot_message"
LOOKBACK_SECONDS = 600.0  # search from this long before the earlier attempt (clock skew, a slow attempt)
PAGE_SIZE = 200
MAX_PAGES = 20  # a busy channel: at most 4,000 messages are read before giving up (and posting)
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")

Call = Callable[..., Awaitable[Any]]  # the sink's Web API call: (method, **arguments) → response


class Part(enum.StrEnum):
    """Which of an outbox row's posts a message is."""

    ROOT = "root"  # the incident's root message
    REPLY = "reply"  # a thread reply (changes, a draft)
    NOTICE = "notice"  # a channel message about an incident raised to SEV1, linking its thread


@dataclass(frozen=True, slots=True)
class Found:
    channel: str
    ts: str


def metadata(*, incident_id: int, outbox_id: int, part: Part) -> dict[str, Any]:
    """The metadata a post carries, so a later attempt can recognise it."""
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {"incident_id": incident_id, "outbox_id": outbox_id, "part": str(part)},
    }


def find_in(messages: Iterable[Mapping[str, Any]], post: Mapping[str, Any]) -> str | None:
    """The ``ts`` of the message among ``messages`` that carries ``post``'s metadata (pure)."""
    wanted: Mapping[str, Any] = post["event_payload"]
    for message in messages:
        meta = message.get("metadata")
        if not isinstance(meta, Mapping) or meta.get("event_type") != EVENT_TYPE:
            continue
        payload = meta.get("event_payload")
        if isinstance(payload, Mapping) and all(
            str(payload.get(key)) == str(value) for key, value in wanted.items()
        ):
            ts = message.get("ts")
            return str(ts) if ts else None
    return None


class Reconciler:
    """Looks for an earlier attempt's post; counts each look in ``sevbot_slack_post_lookups``."""

    def __init__(self, call: Call, *, lookups: Counter | None = None) -> None:
        self.call = call
        self.lookups = lookups
        self._channel_ids: dict[str, str] = {}

    async def root(
        self,
        *,
        channel: str,
        known_id: str | None,
        incident_id: int,
        outbox_id: int,
        since: float,
        part: Part = Part.ROOT,
    ) -> Found | None:
        """The incident's root message (or another channel-level ``part``) posted by ``outbox_id`` into
        ``channel`` (a name or an id)."""
        channel_id = known_id or await self.channel_id(channel)
        found = None
        if channel_id is not None:
            post = metadata(incident_id=incident_id, outbox_id=outbox_id, part=part)
            ts = await self._search("conversations_history", post, channel=channel_id, oldest=_oldest(since))
            found = Found(channel_id, ts) if ts else None
        self._count(part, found)
        return found

    async def reply(
        self,
        *,
        channel_id: str,
        root_ts: str,
        incident_id: int,
        outbox_id: int,
        since: float,
        part: Part = Part.REPLY,
    ) -> Found | None:
        """The thread reply posted by ``outbox_id`` under ``root_ts`` (a related incident's own post in its
        primary's thread is ``part`` root)."""
        post = metadata(incident_id=incident_id, outbox_id=outbox_id, part=part)
        ts = await self._search(
            "conversations_replies", post, channel=channel_id, ts=root_ts, oldest=_oldest(since)
        )
        found = Found(channel_id, ts) if ts else None
        self._count(part, found)
        return found

    async def channel_id(self, channel: str) -> str | None:
        """The id of a channel given by name (``#incidents``) or id; ``None`` if the bot sees no such one."""
        if CHANNEL_ID.match(channel):
            return channel
        name = channel.lstrip("#")
        if name in self._channel_ids:
            return self._channel_ids[name]
        cursor = None
        for _ in range(MAX_PAGES):
            response = await self.call(
                "conversations_list",
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for entry in response.get("channels") or []:
                self._channel_ids[str(entry.get("name"))] = str(entry.get("id"))
            if name in self._channel_ids:
                return self._channel_ids[name]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    async def _search(self, method: str, post: Mapping[str, Any], **arguments: Any) -> str | None:
        """Page through ``method``'s messages until one carries ``post``'s metadata; its ``ts``."""
        cursor = None
        for _ in range(MAX_PAGES):
            response = await self.call(
                method, include_all_metadata=True, limit=PAGE_SIZE, cursor=cursor, **arguments
            )
            ts = find_in(response.get("messages") or [], post)
            if ts:
                return ts
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def _count(self, part: Part, found: Found | None) -> None:
        if self.lookups is not None:
            self.lookups.labels(str(part), "adopted" if found else "absent").inc()


def _oldest(since: float) -> str:
    return f"{max(0.0, since - LOOKBACK_SECONDS):.6f}"
