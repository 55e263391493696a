"""Which incidents a Slack request may see: an incident of a private channel is shown in that channel only.

An incident's channel is where its root message was posted, or, before it is posted (silenced, waiting,
failed), where routing sends it. Per request, :meth:`Visibility.scope` asks Slack (through the
directory's cache) which of the channels incidents live in are private, and hides those other than the
one the request comes from. A channel Slack cannot tell about counts as private: unknown means hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import SlackLookupFailed
from bot.settings import ServiceConfig
from bot.slack.directory import SlackDirectory
from bot.slack.routing import ChannelRouter, incident_facts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scope:
    """The channels (ids and the names routes use) whose incidents this request may not see."""

    hidden: frozenset[str] = frozenset()

    def hides(self, channel: str | None) -> bool:
        return channel is not None and channel in self.hidden


EVERYWHERE = Scope()  # the CLI and tests of the handlers alone: nothing hidden


@dataclass(frozen=True, slots=True)
class Placement:
    """Where incidents go: the router, and the service catalog it reads teams from."""

    router: ChannelRouter
    catalog: Mapping[str, ServiceConfig]

    def owner_of(
        self, *, labels: Mapping[str, Any] | None, service: str | None, alertname: str, severity: str
    ) -> str | None:
        """The incident's owner as shown (a mention, or the catalog's team): ``ChannelRouter.owner_text``."""
        facts = incident_facts(
            labels=labels or {}, service=service, alertname=alertname, severity=severity, catalog=self.catalog
        )
        return self.router.owner_text(facts, self.catalog)

    def channel_of(
        self,
        *,
        posted_to: str | None,
        labels: Mapping[str, Any] | None,
        service: str | None,
        alertname: str,
        severity: str,
    ) -> str:
        """The channel an incident's root message went to, else the one routing sends it to."""
        if posted_to:
            return posted_to
        facts = incident_facts(
            labels=labels or {}, service=service, alertname=alertname, severity=severity, catalog=self.catalog
        )
        return self.router.channel_for(facts)

    def route_channels(self) -> set[str]:
        """Every channel routing can send to (as the config names them)."""
        return {route.channel for route in self.router.config.routes} | {
            self.router.config.default_channel or self.router.default_channel
        }


class Visibility:
    def __init__(self, directory: SlackDirectory) -> None:
        self.directory = directory

    async def scope(self, here: str | None, channels: Iterable[str]) -> Scope:
        """Hide every private (or unknown) channel among ``channels`` but ``here``, the request's channel."""
        hidden: set[str] = set()
        for key in sorted(set(channels)):
            if key == here:
                continue
            try:
                channel = await self.directory.channel(key)
            except SlackLookupFailed as exc:
                log.warning(
                    "slack channel look-up failed; its incidents are hidden",
                    extra={"method": exc.method, "error": exc.error},
                )
                channel = None
            if channel is None:
                hidden.add(key)
            elif channel.private and channel.id != here:
                hidden |= {key, channel.id}
        return Scope(frozenset(hidden))
