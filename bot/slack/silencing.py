"""``/incident silence …``, ``/incident silences`` and the Silence button: answers as mrkdwn text.

Permissions are checked before a command gets here (``manage`` to add or remove, ``read`` to list). The
work is :class:`bot.incidents.silences.IncidentSilences`; this module turns its results, and its
failures, into what the person reads. Alertmanager (or Grafana) being down is an answer that says so and
that nothing was silenced, never an exception. Everything alert- or user-derived is escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from analytics.records import SilenceTarget
from bot.errors import IncidentNotFound, SilenceApiFailed, SlackLookupFailed, UsageError
from bot.incidents.silence_api import NAMES, configured_apis
from bot.incidents.silences import Created, IncidentSilences
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.commands import Command
from bot.slack.directory import SlackDirectory
from bot.slack.handlers import Reply, SlackHandlers, long_reply
from bot.slack.permissions import Requester
from bot.slack.routing import matcher_text
from bot.slack.visibility import Scope
from storage.db import Database
from storage.slack import SilenceRepository, SilenceRow

log = logging.getLogger(__name__)

SOURCE_WORDS = {"alertmanager": "Alertmanager", "grafana": "Grafana"}
SETTING_OF = {"alertmanager": "SEVBOT_ALERTMANAGER_URL", "grafana": "SEVBOT_GRAFANA_URL"}


def shown_matchers(matchers: tuple[dict[str, str], ...] | list[dict[str, str]]) -> str:
    return blocks.esc(" ".join(matcher_text(m) for m in matchers))


def silence_desk(
    settings: Settings,
    *,
    db: Database,
    handlers: SlackHandlers,
    directory: SlackDirectory,
    clock: Callable[[], datetime],
) -> SilenceDesk:
    """The desk with the silence APIs the settings name (none: sevbot-local silences only)."""
    return SilenceDesk(
        handlers=handlers,
        silences=IncidentSilences(db=db, apis=configured_apis(settings)),
        directory=directory,
        default_duration=settings.silence_duration,
        clock=clock,
    )


@dataclass(frozen=True, slots=True)
class SilenceDesk:
    handlers: SlackHandlers
    silences: IncidentSilences
    directory: SlackDirectory | None
    default_duration: timedelta
    clock: Callable[[], datetime]

    async def run(self, command: Command, who: Requester, scope: Scope) -> Reply:
        try:
            return await self._run(command, who, scope)
        except Exception:
            log.exception("slack silence command failed", extra={"action": command.silence_action})
            return Reply("Sorry, that failed on sevbot's side; it has been logged. Nothing was silenced.")

    async def _run(self, command: Command, who: Requester, scope: Scope) -> Reply:
        action = command.silence_action
        try:
            if action == "incident":
                assert command.incident_id is not None
                return await self.silence_incident(command, who, scope)
            if action == "list":
                return await self.list()
            if action == "remove":
                return await self.remove(command, who)
            return await anyio.to_thread.run_sync(self.add_matchers, command, who.user_id)
        except IncidentNotFound:
            return Reply(f"There is no incident #{command.incident_id}.")
        except UsageError as exc:
            return Reply(str(exc))

    # --- an incident ---------------------------------------------------------------------------

    async def silence_incident(self, command: Command, who: Requester, scope: Scope) -> Reply:
        incident_id = command.incident_id
        assert incident_id is not None
        incident = await anyio.to_thread.run_sync(self.handlers.visible_incident, incident_id, scope)
        duration = command.duration or self.default_duration
        creator = await self._creator(who.user_id)
        target = self.silences.target_for(incident.source)
        try:
            created = await self.silences.silence_incident(
                incident_id,
                duration=duration,
                user=who.user_id,
                creator=creator,
                comment=command.text,
                now=self.clock(),
            )
        except SilenceApiFailed as exc:
            return Reply(
                f"Could not silence incident #{incident_id} in {exc.target}: {blocks.esc(exc.problem)}."
                f" Nothing was silenced; try again, or silence it in {exc.target} itself."
            )
        return Reply(self._created_text(created, incident.source, target))

    def _created_text(self, created: Created, source: str, target: SilenceTarget) -> str:
        until = blocks.slack_date(created.ends_at)
        matchers = shown_matchers(created.matchers)
        if target is not SilenceTarget.SEVBOT:
            where = NAMES[target]
            return (
                f"Incident #{created.incident_id} silenced in {where} until {until}: no receiver is notified"
                f" of alerts matching `{matchers}` (silence {created.silence_id},"
                f" {where}'s id `{blocks.esc(created.remote_id)}`)."
                f" Remove it with `{self.handlers.command_name} silence remove {created.silence_id}`."
            )
        text = (
            f"Silence {created.silence_id} created: no Slack posts for incident #{created.incident_id}'s"
            f" alerts (`{matchers}`) until {until}."
        )
        if source in SETTING_OF:
            text += (
                f" {SOURCE_WORDS[source]} still notifies its other receivers: set {SETTING_OF[source]} for"
                " sevbot to silence it there."
            )
        return text

    async def _creator(self, user_id: str) -> str:
        """Who the source shows as the silence's creator: the Slack person's name and id."""
        name = None
        if self.directory is not None:
            try:
                name = (await self.directory.person(user_id)).name
            except SlackLookupFailed:
                name = None
        return f"{name} (Slack {user_id})" if name else f"Slack user {user_id}"

    # --- matchers (sevbot's own silences) ------------------------------------------------------

    def add_matchers(self, command: Command, user: str) -> Reply:
        assert command.duration is not None
        now = self.clock()
        expires = now + command.duration
        with self.handlers.db.write() as conn:
            silence_id = SilenceRepository(conn).add(
                matchers=command.matchers, reason=None, created_by=user, now=now, expires_at=expires
            )
        return Reply(
            f"Silence {silence_id} created: no Slack posts for incidents matching"
            f" `{shown_matchers(command.matchers)}` until {blocks.slack_date(expires)}."
        )

    # --- remove --------------------------------------------------------------------------------

    async def remove(self, command: Command, who: Requester) -> Reply:
        ref: int | str | None = command.silence_id if command.silence_id is not None else command.silence_ref
        assert ref is not None
        try:
            removed = await self.silences.remove(ref, user=who.user_id, now=self.clock())
        except SilenceApiFailed as exc:
            return Reply(
                f"Could not expire silence {blocks.esc(ref)} in {exc.target}: {blocks.esc(exc.problem)}."
                " It is still in place; try again."
            )
        if removed is None:
            if isinstance(ref, int):
                return Reply(f"There is no silence {ref}.")
            return Reply(f"sevbot made no silence `{blocks.esc(ref)}`; expire it where it was made.")
        if removed.target is SilenceTarget.SEVBOT:
            return Reply(f"Silence {removed.silence_id} removed.")
        where = NAMES[removed.target]
        remote = blocks.esc(removed.remote_id)
        if not removed.known_at_source:
            return Reply(f"Silence {removed.silence_id} removed ({where} no longer had `{remote}`).")
        return Reply(
            f"Silence {removed.silence_id} removed: {where} expired `{remote}`; its alerts notify again."
        )

    # --- list ----------------------------------------------------------------------------------

    async def list(self) -> Reply:
        listed = await self.silences.active(now=self.clock())
        if not listed.rows and not listed.problems:
            return Reply("No active silences.")
        lines = ["*Active silences*"] if listed.rows else ["No active silences that sevbot knows of."]
        lines += [
            self._line(row, listed.ends_at.get(row.id), listed.unknown.get(row.id)) for row in listed.rows
        ]
        lines += [
            f"_Could not ask {blocks.esc(problem)}; its silences are shown as sevbot recorded them._"
            for problem in listed.problems
        ]
        return long_reply("\n".join(lines))

    def _line(self, row: SilenceRow, ends_at: datetime | None, unknown: str | None) -> str:
        target = SilenceTarget(row.target)
        where = "sevbot (Slack posts only)" if target is SilenceTarget.SEVBOT else NAMES[target]
        parts = [
            f"• *{row.id}* {where} `{shown_matchers(row.matchers)}`"
            f" until {blocks.slack_date(ends_at or row.expires_at)} by {blocks.user_ref(row.created_by)}"
        ]
        if row.incident_id is not None:
            parts.append(f"incident #{row.incident_id}")
        if row.remote_id:
            parts.append(f"`{blocks.esc(row.remote_id)}`" + (" (state unknown)" if unknown else ""))
        return " · ".join(parts)
