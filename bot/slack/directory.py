"""What Slack says about the bot's workspace, people, user groups and channels, remembered for a while.

The facts behind permission and visibility decisions (:mod:`bot.slack.permissions`,
:mod:`bot.slack.visibility`): ``auth.test`` (the bot's own team and enterprise, asked once),
``users.info``, ``usergroups.users.list`` and ``conversations.info`` / ``conversations.list`` (kept for
``ttl``, so a busy channel costs Slack a call every few minutes, not one per click). A failed look-up
raises :class:`SlackLookupFailed` and is not remembered, so the next request asks again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SlackLookupFailed

T = TypeVar("T")
MAX_REMEMBERED = 10_000  # entries per kind; past it the oldest half is forgotten
CHANNEL_PAGES = 50  # conversations.list pages of 200 read to find channels by name


@dataclass(frozen=True, slots=True)
class Workspace:
    """The bot's own installation, from ``auth.test``."""

    team_id: str
    enterprise_id: str | None
    enterprise_install: bool


@dataclass(frozen=True, slots=True)
class Person:
    """One Slack account, from ``users.info``."""

    id: str
    team_id: str | None
    enterprise_id: str | None  # Enterprise Grid: the organization the account belongs to
    guest: bool  # multi- or single-channel guest (is_restricted / is_ultra_restricted)
    admin: bool  # workspace admin or owner
    stranger: bool  # Slack shows only part of the profile: someone of another organization
    bot: bool
    deleted: bool
    name: str | None = None  # the real name, else the display or user name (shown as a silence's creator)


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str | None
    private: bool  # private channels, DMs and group DMs


class SlackDirectory:
    def __init__(self, client: AsyncWebClient, *, ttl: timedelta, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._workspace: Workspace | None = None
        self._remembered: dict[str, dict[str, tuple[datetime, Any]]] = {}

    async def workspace(self) -> Workspace:
        """The bot's team and enterprise (``auth.test``), asked once per process."""
        if self._workspace is None:
            answer = await self._ask("auth.test", self.client.auth_test())
            self._workspace = Workspace(
                team_id=str(answer.get("team_id") or ""),
                enterprise_id=answer.get("enterprise_id") or None,
                enterprise_install=bool(answer.get("is_enterprise_install")),
            )
        return self._workspace

    async def person(self, user_id: str) -> Person:
        async def fetch() -> Person:
            user = (await self._ask("users.info", self.client.users_info(user=user_id))).get("user") or {}
            enterprise = user.get("enterprise_user") or {}
            return Person(
                id=user_id,
                team_id=user.get("team_id") or None,
                enterprise_id=enterprise.get("enterprise_id") or None,
                guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
                admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
                stranger=bool(user.get("is_stranger")),
                bot=bool(user.get("is_bot") or user.get("is_app_user")),
                deleted=bool(user.get("deleted")),
                name=_name_of(user),
            )

        return await self._remember("person", user_id, fetch)

    async def members(self, usergroup: str) -> frozenset[str]:
        """The user ids in a user group (``usergroups.users.list``)."""

        async def fetch() -> frozenset[str]:
            answer = await self._ask(
                "usergroups.users.list", self.client.usergroups_users_list(usergroup=usergroup)
            )
            return frozenset(str(u) for u in answer.get("users") or ())

        return await self._remember("usergroup", usergroup, fetch)

    async def channel(self, key: str) -> Channel | None:
        """A channel by id (``conversations.info``) or ``#name``; None when Slack does not know it."""
        if _is_channel_id(key):

            async def by_id() -> Channel | None:
                answer = await self._ask(
                    "conversations.info",
                    self.client.conversations_info(channel=key),
                    missing="channel_not_found",
                )
                return _channel(answer["channel"]) if answer and answer.get("channel") else None

            return await self._remember("channel", key, by_id)
        names = await self._remember("channel_names", "", self._channel_names)
        return names.get(key.lstrip("#").lower())

    async def _channel_names(self) -> dict[str, Channel]:
        """Every channel the bot can see, by name (public ones, and the private ones it is in)."""
        found: dict[str, Channel] = {}
        cursor: str | None = None
        for _ in range(CHANNEL_PAGES):
            answer = await self._ask(
                "conversations.list",
                self.client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                ),
            )
            for raw in answer.get("channels") or ():
                channel = _channel(raw)
                if channel.name:
                    found[channel.name.lower()] = channel
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found

    async def _remember(self, kind: str, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        now = self.clock()
        store = self._remembered.setdefault(kind, {})
        held = store.get(key)
        if held is not None and now - held[0] < self.ttl:
            value: T = held[1]
            return value
        value = await fetch()
        if len(store) >= MAX_REMEMBERED:
            for old in sorted(store, key=lambda k: store[k][0])[: MAX_REMEMBERED // 2]:
                del store[old]
        store[key] = (now, value)
        return value

    async def _ask(self, method: str, call: Awaitable[Any], *, missing: str | None = None) -> Any:
        """Slack's answer; None for the ``missing`` error; any other failure as SlackLookupFailed."""
        try:
            return await call
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"http_{exc.response.status_code}")
            if missing is not None and error == missing:
                return None
            raise SlackLookupFailed(method=method, error=error) from exc
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise SlackLookupFailed(method=method, error=type(exc).__name__) from exc


def _is_channel_id(key: str) -> bool:
    return key[:1] in ("C", "G", "D") and key[1:].isalnum() and key.isupper()


def _channel(raw: dict[str, Any]) -> Channel:
    private = bool(raw.get("is_private") or raw.get("is_im") or raw.get("is_mpim") or raw.get("is_group"))
    return Channel(id=str(raw.get("id") or ""), name=raw.get("name") or None, private=private)


def _name_of(user: dict[str, Any]) -> str | None:
    profile = user.get("profile") or {}
    for value in (
        user.get("real_name"),
        profile.get("real_name"),
        profile.get("display_name"),
        user.get("name"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()[:80]
    return None
