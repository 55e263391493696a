"""What the Slack sink posts for one delivery's view: the root message, its links, whom it mentions (pure),
and the thread's address.

Slack notifies people for mentions in a new message only, never for those an edit adds. So a posted root
mentions whom it means to notify (a SEV1 root: the owner, else ``SEVBOT_SLACK_SEV1_MENTION``), and its
Owner field names the owner by mention from SEV2 up only: below, the catalog's team (a SEV4 does not ping
a team). Edits notify nobody, so an edited root always shows the owner's mention.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.errors import RetryAfter, SlackPermanentFailure
from bot.settings import FileConfig, Settings
from bot.slack import blocks, story
from bot.slack.root_blocks import root_message
from bot.slack.routing import ChannelRouter, incident_facts
from bot.slack.sink_state import View
from storage.models import Incident


@dataclass(frozen=True, slots=True)
class SlackOptions:
    default_channel: str
    reply_interval: timedelta = timedelta(seconds=30)
    sev1_mention: str | None = None  # the fallback on SEV1 root posts when the owner is unknown
    public_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackOptions:
        return cls(
            default_channel=settings.slack_channel,
            reply_interval=settings.slack_reply_interval,
            sev1_mention=settings.slack_sev1_mention,
            public_url=settings.public_url,
        )


@dataclass(frozen=True, slots=True)
class Render:
    router: ChannelRouter
    config: FileConfig
    options: SlackOptions

    def links(self, view: View) -> dict[str, str]:
        return blocks.incident_links(view.incident, view.first_alert, self.options.public_url)

    def owner(self, view: View) -> str | None:
        """Whom an escalation of this incident mentions (``ChannelRouter.owner_mention``)."""
        facts = _facts(view, self.config)
        return self.router.owner_mention(facts, self.config.services)

    def root(self, view: View, *, posting: bool = False, page: str | None = None) -> blocks.SlackMessage:
        """The root message, or a related incident's post in its primary's thread, whose only mention is
        the story's single SEV1 page (``page``)."""
        incident, found = view.incident, view.story
        parts = None
        if found is not None and found.primary is not None:
            parts = story.related_parts(incident, found.primary, found.firings)
            mention = page
        else:
            parts = story.primary_parts(incident, found.related, found.firings) if found else None
            mention = self.owner(view) or self.options.sev1_mention
        owner = self.router.owner_text(_facts(view, self.config), self.config.services)
        if posting and incident.severity not in blocks.URGENT:
            entry = self.config.services.get(incident.service or "")
            team = entry.team if entry is not None else None
            owner = f"team {blocks.esc(team)}" if team else ("set in the catalog" if owner else None)
        return root_message(
            incident,
            links=self.links(view),
            mention=mention,
            noise=view.noise,
            owner=owner,
            affected=view.affected,
            story=parts,
        )


def _facts(view: View, config: FileConfig) -> dict[str, str]:
    """What routing matches on for the view's incident."""
    incident = view.incident
    return incident_facts(
        labels=incident.labels or {},
        service=incident.service,
        alertname=incident.alertname,
        severity=incident.severity,
        catalog=config.services,
    )


async def thread_link(call: Callable[..., Awaitable[Any]], incident: Incident) -> str:
    """The incident's thread address: Slack's permalink, else one built from the channel and the root's ts."""
    channel, ts = incident.slack_channel or "", incident.slack_ts or ""
    try:
        response = await call("chat_getPermalink", channel=channel, message_ts=ts)
        link = response.get("permalink")
        if isinstance(link, str) and link.startswith("https://"):
            return link
    except (SlackPermanentFailure, RetryAfter):
        pass
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
