"""What ``/incident`` commands, buttons and mentions do: SQL reads and writes, answers as mrkdwn text.

Permissions are checked before a command gets here (:mod:`bot.slack.permissions`); what the request may
see arrives as a :class:`~bot.slack.visibility.Scope`: an incident it may not see is answered as one that
does not exist, and left out of lists and of "similar past incidents". Everything user- or alert-derived
in an answer is escaped (:func:`bot.slack.blocks.esc`).

Synchronous (the Bolt listeners run these in a worker thread after acknowledging Slack). Writes go
through :class:`bot.incidents.actions.IncidentActions` (the same code ``sevbot replay`` uses), so the
incident, its timeline, the feedback row and the outbox message for the thread are one transaction.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analytics.records import DraftKind, DraftReason, IncidentStatus, OutboxTopic
from bot.errors import IncidentNotFound
from bot.incidents.actions import IncidentActions
from bot.incidents.explain import explain_incident, render_explanation
from bot.llm import request_draft
from bot.slack import blocks
from bot.slack.commands import Command, help_text
from bot.slack.routing import matcher_text
from bot.slack.visibility import EVERYWHERE, Placement, Scope
from storage.db import Database
from storage.incident_reads import IncidentFilter, IncidentReads
from storage.models import Incident
from storage.slack import SilenceRepository, SlackStateRepository
from storage.stories import StoryRepository

_DRAFT_OF_VERB = {
    "summarize": DraftKind.SUMMARY,
    "runbook": DraftKind.RUNBOOK,
    "postmortem": DraftKind.POSTMORTEM,
}
_DRAFT_WORDS = {
    DraftKind.SUMMARY: "a summary",
    DraftKind.RUNBOOK: "runbook suggestions",
    DraftKind.POSTMORTEM: "a postmortem (a Markdown file)",
}
LIST_LIMIT = 15
EVENT_MEMORY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to a person: mrkdwn text (and blocks when it is long); ``wake`` when the outbox got work."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    wake: bool = False
    files: tuple[Path, ...] = ()  # to share in the channel (stats charts); the caller removes them
    refused: bool = False  # a permission refusal: shown to the person who asked only
    # A change the incident's thread is told about (by the Slack sink): asked in that thread, the thread's
    # own reply is the one public confirmation.
    told_in_thread: int | None = None
    private: bool = False  # names owners as mentions: shown to the person who asked only (no pings)


def long_reply(text: str, *, wake: bool = False, link: str | None = None) -> Reply:
    if len(text) <= blocks.SECTION_TEXT:
        return Reply(text=text, wake=wake)
    message = blocks.reply_message(blocks.split_text(text, blocks.SECTION_TEXT - 100), link=link)
    return Reply(text=message.text, blocks=message.blocks, wake=wake)


class SlackHandlers:
    def __init__(
        self,
        *,
        db: Database,
        clock: Callable[[], datetime],
        command_name: str = "/incident",
        report: Callable[[Database, timedelta, datetime, Path | None], tuple[str, list[Path]]] | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.command_name = command_name
        self.report = report
        self.placement = placement  # None: every incident is visible (no channel is private)

    # --- lookups -------------------------------------------------------------------------------

    def incident_for_thread(self, channel: str | None, thread_ts: str | None) -> int | None:
        """The incident whose root message starts this thread, if any."""
        if not channel or not thread_ts:
            return None
        with self.db.read() as conn:
            return IncidentReads(conn).by_thread(channel, thread_ts)

    def remember_event(self, event_id: str) -> bool:
        """``False`` when this Events API delivery was already handled (by any process)."""
        now = self.clock()
        with self.db.write() as conn:
            state = SlackStateRepository(conn)
            state.forget_events_before(now - EVENT_MEMORY)  # Slack retries within minutes
            return state.remember_event(event_id, now=now)

    def incident_channels(self) -> set[str]:
        """Every channel incidents live in: where they were posted, and where routing sends them."""
        if self.placement is None:
            return set()
        with self.db.read() as conn:
            posted = set(IncidentReads(conn).channels())
        return posted | self.placement.route_channels()

    def _hidden(self, incident: Incident, scope: Scope) -> bool:
        if self.placement is None or not scope.hidden:
            return False
        return scope.hides(
            self.placement.channel_of(
                posted_to=incident.slack_channel,
                labels=incident.labels,
                service=incident.service,
                alertname=incident.alertname,
                severity=incident.severity,
            )
        )

    @staticmethod
    def _require_incident(reads: IncidentReads, incident_id: int) -> Incident:
        incident = reads.get(incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident

    def visible_incident(self, incident_id: int, scope: Scope) -> Incident:
        """The incident, if the request may see it (else ``IncidentNotFound``, as for one that is not)."""
        with self.db.read() as conn:
            return self._require_visible(IncidentReads(conn), incident_id, scope)

    def _require_visible(self, reads: IncidentReads, incident_id: int, scope: Scope) -> Incident:
        incident = reads.get(incident_id)
        if incident is None or self._hidden(incident, scope):
            raise IncidentNotFound(incident_id)
        return incident

    # --- commands ------------------------------------------------------------------------------

    def run(self, command: Command, *, user: str, scope: Scope = EVERYWHERE) -> Reply:
        verb = command.verb
        if verb == "help":
            return Reply(help_text(self.command_name))
        if verb == "list":
            return self.list(command, scope)
        if verb == "silence":  # answered by bot.slack.silencing (it asks Alertmanager, asynchronously)
            raise ValueError("silence commands go to SilenceDesk")
        if verb == "stats":
            return self.stats(command)
        assert command.incident_id is not None
        incident_id = command.incident_id
        try:
            if verb == "show":
                return self.show(incident_id, scope)
            if verb == "why":
                return self.why(incident_id, scope)
            if scope.hidden:
                with self.db.read() as conn:
                    self._require_visible(IncidentReads(conn), incident_id, scope)
            if verb == "noise" and command.duration is not None:
                return self.noise_silence(incident_id, command.duration, user=user, reason=command.text)
            if verb == "ack_related":
                return self.ack_related(incident_id, user=user)
            if verb in _DRAFT_OF_VERB:
                return self.draft(incident_id, _DRAFT_OF_VERB[verb], user=user)
            return self.act(verb, incident_id, user=user, severity=command.severity, text=command.text)
        except IncidentNotFound:
            return Reply(f"There is no incident #{incident_id}.")

    def act(self, verb: str, incident_id: int, *, user: str, severity: str | None, text: str | None) -> Reply:
        """ack | resolve | sev | noise, by ``user``; the root message and thread follow via the outbox."""
        now = self.clock()
        with self.db.write() as conn:
            actions = IncidentActions(conn)
            if verb == "ack":
                result = actions.acknowledge(incident_id, user=user, at=now, now=now)
            elif verb == "resolve":
                result = actions.resolve(incident_id, user=user, at=now, now=now, note=text)
                if result.changed:  # a short resolution summary, as when its alerts resolve
                    request_draft(
                        conn,
                        incident_id,
                        DraftKind.RESOLUTION,
                        reason=DraftReason.RESOLVED,
                        requested_by=user,
                        now=now,
                    )
            elif verb == "sev":
                assert severity is not None
                result = actions.set_severity(
                    incident_id, severity=severity, user=user, at=now, now=now, reason=text
                )
            elif verb == "noise":
                result = actions.mark_noise(incident_id, user=user, at=now, now=now, reason=text)
            else:
                raise ValueError(f"unknown action {verb!r}")
            # Batched "alerts joined" replies waiting for their interval go now, with this action.
            SlackStateRepository(conn).wake_incident(incident_id, topic=OutboxTopic.SLACK, now=now)
        still = (
            f"; {result.firing} alert{'s' if result.firing != 1 else ''} still firing:"
            " the next notification of any reopens it"
            if result.firing
            else ""
        )
        done = {
            "ack": f"Incident #{incident_id} acknowledged.",
            "resolve": f"Incident #{incident_id} resolved{still}.",
            "sev": f"Incident #{incident_id} is now {severity}; thanks, the model learns from this.",
            "noise": f"Incident #{incident_id} marked not actionable; thanks, the model learns from this.",
        }
        unchanged = {
            "ack": f"Incident #{incident_id} is already {result.status}.",
            "resolve": f"Incident #{incident_id} is already resolved.",
            "sev": f"Incident #{incident_id} already is {result.severity}; noted as a confirmation.",
        }
        return Reply(
            done[verb] if result.changed else unchanged.get(verb, done[verb]),
            wake=result.changed,
            told_in_thread=incident_id if result.changed else None,
        )

    def noise_silence(self, incident_id: int, duration: timedelta, *, user: str, reason: str | None) -> Reply:
        """``noise ID 2h``: rated not actionable, and its alert silenced for that long (its alert name and
        service: the incident and any new one of the same alert get no Slack posts until then)."""
        now = self.clock()
        with self.db.write() as conn:
            incident = self._require_incident(IncidentReads(conn), incident_id)
            IncidentActions(conn).mark_noise(incident_id, user=user, at=now, now=now, reason=reason)
            matchers = [{"name": "alertname", "op": "=", "value": incident.alertname}]
            if incident.service:
                matchers.append({"name": "service", "op": "=", "value": incident.service})
            why = f"noise on incident #{incident_id}" + (f": {reason}" if reason else "")
            silence_id = SilenceRepository(conn).add(
                matchers=matchers, reason=why, created_by=user, now=now, expires_at=now + duration
            )
            SlackStateRepository(conn).wake_incident(incident_id, topic=OutboxTopic.SLACK, now=now)
        shown = blocks.esc(" ".join(matcher_text(m) for m in matchers))
        return Reply(
            f"Incident #{incident_id} marked not actionable; thanks, the model learns from this. Silence"
            f" {silence_id} (`{shown}`) mutes it until {blocks.slack_date(now + duration)}.",
            wake=True,
        )

    def ack_related(self, incident_id: int, *, user: str) -> Reply:
        """The primary's "Acknowledge all related": it and every incident of its story, by ``user``."""
        now = self.clock()
        with self.db.write() as conn:
            actions = IncidentActions(conn)
            story = [incident_id] + [r.id for r in StoryRepository(conn).related_of(incident_id)]
            done = [i for i in story if actions.acknowledge(i, user=user, at=now, now=now).changed]
            for changed in done:
                SlackStateRepository(conn).wake_incident(changed, topic=OutboxTopic.SLACK, now=now)
        if not done:
            return Reply(f"Incident #{incident_id} and its related incidents are already acknowledged.")
        named = ", ".join(f"#{i}" for i in done)
        return Reply(f"Acknowledged {named} ({len(done)} of {len(story)} in this story).", wake=True)

    def draft(self, incident_id: int, kind: DraftKind, *, user: str) -> Reply:
        now = self.clock()
        with self.db.write() as conn:
            if not IncidentReads(conn).exists(incident_id):
                raise IncidentNotFound(incident_id)
            request_draft(conn, incident_id, kind, reason=DraftReason.COMMAND, requested_by=user, now=now)
        what = _DRAFT_WORDS[kind]
        return Reply(
            f"Drafting {what} for incident #{incident_id}; it will appear in the incident's thread.",
            wake=True,
        )

    def list(self, command: Command, scope: Scope = EVERYWHERE) -> Reply:
        filters = IncidentFilter(status=command.status, severity=command.severity, service=command.service)
        with self.db.read() as conn:
            reads = IncidentReads(conn)
            hidden_unposted: list[int] = []
            if scope.hidden and self.placement is not None:
                placement = self.placement
                hidden_unposted = [
                    row.id
                    for row in reads.unposted(filters)
                    if scope.hides(
                        placement.channel_of(
                            posted_to=None,
                            labels=row.labels,
                            service=row.service,
                            alertname=row.alertname,
                            severity=row.severity,
                        )
                    )
                ]
            incidents, total = reads.search(
                filters,
                limit=LIST_LIMIT,
                offset=0,
                exclude_channels=scope.hidden,
                exclude_ids=hidden_unposted,
                by_severity=True,
            )
        if not incidents:
            return Reply("No incidents match.")
        lines = [
            f"*{total} incident{'s' if total != 1 else ''}*"
            + (f" (the first {LIST_LIMIT})" if total > LIST_LIMIT else "")
            + ": unresolved first, most severe first, then newest"
        ]
        lines += [
            f"• *#{i.id}* {i.severity} [{i.status}] {blocks.esc(i.title)} · {blocks.esc(i.service or '-')}"
            f" · owner {self._owner(i) or '-'} · {i.alert_count} alert(s) · {blocks.slack_date(i.opened_at)}"
            for i in incidents
        ]
        listed = long_reply("\n".join(lines))
        return Reply(text=listed.text, blocks=listed.blocks, private=True)

    def _owner(self, incident: Incident) -> str | None:
        if self.placement is None:
            return None
        return self.placement.owner_of(
            labels=incident.labels,
            service=incident.service,
            alertname=incident.alertname,
            severity=incident.severity,
        )

    def show(self, incident_id: int, scope: Scope = EVERYWHERE) -> Reply:
        with self.db.read() as conn:
            repo = IncidentReads(conn)
            incident = self._require_visible(repo, incident_id, scope)
            timeline = repo.timeline_of(incident_id)[-8:]
        lines = [
            f"*#{incident.id} {incident.severity} [{incident.status}] {blocks.esc(incident.title)}*",
            f"Service {blocks.esc(incident.service or '-')} · {incident.alert_count} alert(s),"
            f" {incident.firing_count} firing · opened {blocks.slack_date(incident.opened_at)}"
            f" · confidence {incident.confidence:.0%} ({blocks.esc(incident.severity_source)})",
        ]
        if incident.acknowledged_at:
            lines.append(
                f"Acknowledged by {blocks.user_ref(incident.acknowledged_by)}"
                f" {blocks.slack_date(incident.acknowledged_at)}"
            )
        if incident.resolved_at and incident.status == IncidentStatus.RESOLVED:
            lines.append(
                f"Resolved by {blocks.user_ref(incident.resolved_by or 'its alerts')}"
                f" {blocks.slack_date(incident.resolved_at)}"
            )
        if timeline:
            lines.append("*Latest events*")
            lines += [
                f"• {blocks.slack_date(e.at, '{time}')} {blocks.esc(e.kind)}"
                + (f" by {blocks.user_ref(e.actor)}" if e.actor else "")
                + (f": {blocks.esc(blocks.cut(str(e.data['note']), 120))}" if e.data.get("note") else "")
                for e in timeline
            ]
        return long_reply("\n".join(lines))

    def why(self, incident_id: int, scope: Scope = EVERYWHERE) -> Reply:
        """The explanation of the severity (exact contributions, similar past incidents it may see)."""
        with self.db.read() as conn:
            reads = IncidentReads(conn)
            self._require_visible(reads, incident_id, scope)
            explanation = explain_incident(conn, incident_id)
            if explanation is None:
                raise IncidentNotFound(incident_id)
            if scope.hidden:
                explanation["similar"] = [
                    similar
                    for similar in explanation["similar"]
                    if not self._hidden(self._require_incident(reads, similar["id"]), scope)
                ]
        message = blocks.explanation_blocks(incident_id, render_explanation(explanation).splitlines())
        return Reply(text=message.text, blocks=message.blocks)

    def stats(self, command: Command) -> Reply:
        """The report's text; with ``charts``, its PNG charts too (in a fresh temporary directory)."""
        if self.report is None:
            return Reply("Reports are not available in this installation.")
        since = command.since or timedelta(days=7)
        charts_dir = Path(tempfile.mkdtemp(prefix="sevbot-stats-")) if command.charts else None
        text, charts = self.report(self.db, since, self.clock(), charts_dir)
        text = blocks.esc(text)  # alert names and services from the alerts
        reply = long_reply(f"```{text}```" if len(text) < blocks.SECTION_TEXT - 6 else text)
        return Reply(text=reply.text, blocks=reply.blocks, files=tuple(charts))
