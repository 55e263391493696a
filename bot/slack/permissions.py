"""Who may ask sevbot what in Slack: the request's workspace, the person, and their permission level.

Every command, button press and mention passes :meth:`Gatekeeper.refusal` before it runs, in this order:

1. the request comes from the bot's own workspace (or, for an org-wide install, its own Enterprise Grid
   organization), compared with ``auth.test``; anything else is refused, whatever the config says;
2. the person is a member: guests (``is_restricted`` / ``is_ultra_restricted``) and people of another
   organization (Slack Connect: another team than the bot's, or ``is_stranger``) are refused unless
   ``slack.permissions.allow_guests`` / ``allow_external`` say otherwise; bots and deactivated accounts
   always are;
3. the level the command needs (:data:`VERB_LEVEL`) is given to them: by user id, user group
   (``usergroups.users.list``), the channel they ask in, workspace admins, or everyone. A level includes
   those below it (manage ⊃ respond ⊃ read).

When Slack cannot be asked (a look-up fails) the answer is a refusal that says so: nothing runs unchecked.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import SlackLookupFailed
from bot.settings import SlackAudience, SlackPermissions
from bot.slack.commands import Command
from bot.slack.directory import Person, SlackDirectory, Workspace

log = logging.getLogger(__name__)


class Level(enum.IntEnum):
    READ = 1
    RESPOND = 2
    MANAGE = 3

    @property
    def word(self) -> str:
        return self.name.lower()


VERB_LEVEL: Mapping[str, Level] = {
    "help": Level.READ,
    "list": Level.READ,
    "show": Level.READ,
    "why": Level.READ,
    "stats": Level.READ,
    "ack": Level.RESPOND,
    "ack_related": Level.RESPOND,  # the primary's "Acknowledge all related": acknowledging, for a story
    "resolve": Level.RESPOND,
    "summarize": Level.RESPOND,  # asks the LLM for a draft that is posted in the incident's thread
    "runbook": Level.RESPOND,
    "postmortem": Level.RESPOND,  # a postmortem draft, as a file in the thread
    "note": Level.RESPOND,  # a thread message onto the timeline (shortcut or 📌: bot.slack.capture)
    "sev": Level.MANAGE,  # re-ranks this incident and, as a rating, future ones
    "noise": Level.MANAGE,
    "silence": Level.MANAGE,  # "silence list" only reads: see level_for
}
_WHAT = {
    "sev": "change severities",
    "noise": "mark incidents as noise",
    "silence": "add or remove silences",
    "ack": "acknowledge incidents",
    "ack_related": "acknowledge incidents",
    "resolve": "resolve incidents",
    "summarize": "ask for drafts",
    "runbook": "ask for drafts",
    "postmortem": "ask for drafts",
    "note": "add messages to incident timelines",
}


def level_for(command: Command) -> Level:
    if command.verb == "silence" and command.silence_action == "list":
        return Level.READ
    return VERB_LEVEL.get(command.verb, Level.MANAGE)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who sent a Slack request and from where, as the (signed) request says."""

    user_id: str
    team_id: str | None
    enterprise_id: str | None
    user_team_id: str | None  # the person's own team, where Slack says so (Slack Connect)
    channel_id: str | None


def requester_of(body: Mapping[str, Any]) -> Requester:
    """The requester of a slash command, a ``block_actions`` payload or an ``event_callback`` (pure)."""
    if body.get("type") == "event_callback":
        event = _object(body.get("event"))
        return Requester(
            user_id=str(event.get("user") or ""),
            team_id=_text(body.get("team_id")),
            enterprise_id=_text(body.get("enterprise_id")),
            user_team_id=_text(event.get("user_team")),
            channel_id=_text(event.get("channel")),
        )
    if isinstance(body.get("user"), Mapping):  # interactivity
        user, team = body["user"], _object(body.get("team"))
        channel = _object(body.get("channel")).get("id") or _object(body.get("container")).get("channel_id")
        return Requester(
            user_id=str(user.get("id") or ""),
            team_id=_text(team.get("id")) or _text(user.get("team_id")),
            enterprise_id=_text(_object(body.get("enterprise")).get("id")),
            user_team_id=_text(user.get("team_id")),
            channel_id=_text(channel),
        )
    return Requester(  # a slash command's form fields
        user_id=str(body.get("user_id") or ""),
        team_id=_text(body.get("team_id")),
        enterprise_id=_text(body.get("enterprise_id")),
        user_team_id=_text(body.get("user_team_id")),
        channel_id=_text(body.get("channel_id")),
    )


def _object(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one (a field Slack sends as an object, or not at all)."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return str(value) if value else None


OTHER_WORKSPACE = "sevbot takes requests from its own Slack workspace only."
NOT_A_MEMBER = "sevbot does not take requests from bots or deactivated accounts."
GUEST = "Guest accounts may not use sevbot here (an admin can allow it: `slack.permissions.allow_guests`)."
EXTERNAL = (
    "People of another organization may not use sevbot here"
    " (an admin can allow it: `slack.permissions.allow_external`)."
)
UNCHECKED = "sevbot could not check your permissions with Slack just now; try again in a minute."


class Gatekeeper:
    """Applies ``slack.permissions`` to a request, with Slack's facts from the directory."""

    def __init__(self, policy: SlackPermissions, directory: SlackDirectory) -> None:
        self.policy = policy
        self.directory = directory

    async def refusal(self, who: Requester, command: Command) -> str | None:
        """Why ``who`` may not run ``command`` (shown to them alone), or None when they may."""
        level = level_for(command)
        try:
            workspace = await self.directory.workspace()
            if not same_organization(who, workspace):
                log.warning("slack request from another workspace refused", extra={"team": who.team_id})
                return OTHER_WORKSPACE
            person = await self.directory.person(who.user_id)
            problem = self._membership(who, person, workspace)
            if problem is not None:
                return problem
            if await self._granted(who, person, level):
                return None
        except SlackLookupFailed as exc:
            log.warning("slack permission look-up failed", extra={"method": exc.method, "error": exc.error})
            return UNCHECKED
        what = _WHAT.get(command.verb, "do that")
        return (
            f"You may not {what} here: that needs the *{level.word}* permission"
            f" (`slack.permissions.{level.word}` in sevbot's config). Ask whoever runs sevbot."
        )

    def _membership(self, who: Requester, person: Person, workspace: Workspace) -> str | None:
        if not who.user_id or person.bot or person.deleted:
            return NOT_A_MEMBER
        if is_external(who, person, workspace) and not self.policy.allow_external:
            return EXTERNAL
        if person.guest and not self.policy.allow_guests:
            return GUEST
        return None

    async def _granted(self, who: Requester, person: Person, needed: Level) -> bool:
        audiences = [self._audience(level) for level in Level if level >= needed]
        if any(_admits(a, who, person) for a in audiences):
            return True
        groups = {group for a in audiences for group in a.usergroups}
        for group in sorted(groups):
            if who.user_id in await self.directory.members(group):
                return True
        return False

    def _audience(self, level: Level) -> SlackAudience:
        audience: SlackAudience = getattr(self.policy, level.word)
        return audience


def _admits(audience: SlackAudience, who: Requester, person: Person) -> bool:
    return (
        audience.everyone
        or (audience.admins and person.admin)
        or who.user_id in audience.users
        or (who.channel_id is not None and who.channel_id in audience.channels)
    )


def same_organization(who: Requester, workspace: Workspace) -> bool:
    """The request was made in the bot's workspace (an org-wide install: anywhere in its organization)."""
    if workspace.enterprise_install and workspace.enterprise_id:
        return who.enterprise_id == workspace.enterprise_id
    if who.team_id != workspace.team_id:
        return False
    return who.enterprise_id is None or who.enterprise_id == workspace.enterprise_id


def is_external(who: Requester, person: Person, workspace: Workspace) -> bool:
    """Someone of another organization, in a channel shared with it (Slack Connect)."""
    if person.stranger:
        return True
    if workspace.enterprise_id and person.enterprise_id == workspace.enterprise_id:
        return False
    teams = {t for t in (person.team_id, who.user_team_id) if t}
    return any(team != workspace.team_id for team in teams)
