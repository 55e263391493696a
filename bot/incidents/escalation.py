"""Escalation, one ticker step: remind the owner while an open incident waits unacknowledged, and keep the
pagers (PagerDuty, a generic webhook) in step with the incident (rules + one write transaction).

Each pass runs in one write transaction: it reads the open incidents of the levels that escalate, and for
each one due claims its reminder with a compare-and-set on ``renotify_count`` (:mod:`storage.escalation`);
only a pass whose claim matched queues the ``incident.renotify`` row, the timeline event and any pager
events. So however many processes tick, a reminder goes out once per interval.

When a reminder is due: ``ack_timeout`` after the incident became open (opened, or last reopened), then
every ``repeat`` after the previous reminder of that open period. Both are read from the configuration on
every pass, so a changed severity or a changed file applies at once; a pass that comes late (the process
was down) sends one reminder, not one per missed interval.

Pagers hear of an incident per severity (``escalation.page``): with its first reminder, at open, or never.
Then they follow it: acknowledged → ``acknowledge``, resolved → ``resolve`` (each once, by a compare-and-set
on ``pager_state``); a reopened incident is triggered again, under the same dedup key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from analytics.records import (
    IncidentStatus,
    OutboxTopic,
    PagerAction,
    PagerPayload,
    PagerState,
    TimelineKind,
)
from bot.metrics import Metrics
from bot.outbox.messages import incident_renotify, pager_event
from bot.settings.escalation import EscalationConfig
from storage.db import Database
from storage.escalation import EscalationRepository, Waiting
from storage.incident_rows import NewEvent
from storage.incidents import IncidentRepository
from storage.outbox import NewMessage, OutboxRepository

log = logging.getLogger(__name__)

_STATE_OF = {
    PagerAction.TRIGGER: PagerState.TRIGGERED,
    PagerAction.ACKNOWLEDGE: PagerState.ACKNOWLEDGED,
    PagerAction.RESOLVE: PagerState.RESOLVED,
}


@dataclass(frozen=True, slots=True)
class EscalationPass:
    """What one pass queued: the incidents reminded, and the pager events by incident."""

    reminded: list[int] = field(default_factory=list)
    paged: list[tuple[int, PagerAction]] = field(default_factory=list)

    @property
    def queued(self) -> bool:
        return bool(self.reminded or self.paged)


def reminder_due(
    seen: Waiting, *, open_since: datetime, timeout: timedelta | None, repeat: timedelta | None
) -> datetime | None:
    """When ``seen``'s next reminder is due (None: its level does not escalate).

    A reminder before ``open_since`` belongs to an earlier open period (before a reopening) and counts
    for nothing: the new period waits the full timeout again.
    """
    if timeout is None or repeat is None:
        return None
    last = seen.renotified_at
    if last is not None and last >= open_since:
        return last + repeat
    return open_since + timeout


class Escalator:
    """One escalation pass per :meth:`run` (call it from a worker thread; it blocks on the database)."""

    def __init__(
        self,
        *,
        db: Database,
        config: EscalationConfig,
        pagers: Sequence[OutboxTopic],
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.pagers = list(pagers)  # the pager topics with a sink ("pagerduty", "webhook")
        self.clock = clock
        self.metrics = metrics

    def run(self) -> EscalationPass:
        now = self.clock()
        result = EscalationPass()
        with self.db.write() as conn:
            repo = EscalationRepository(conn)
            messages: list[NewMessage] = []
            events: list[NewEvent] = []
            waiting = repo.open_incidents(self.config.watched() if self.pagers else self._reminding())
            reopened = repo.reopened_at(seen.id for seen in waiting)
            for seen in waiting:
                open_since = max(seen.opened_at, reopened.get(seen.id, seen.opened_at))
                seen, reminded = self._remind(repo, seen, open_since, now, messages, events)
                if reminded:
                    result.reminded.append(seen.id)
                if self._should_trigger(seen, reminded):
                    self._page(repo, seen, PagerAction.TRIGGER, now, messages, events, result)
            if self.pagers:
                for seen in repo.pager_behind():
                    action = (
                        PagerAction.RESOLVE
                        if seen.status == IncidentStatus.RESOLVED
                        else PagerAction.ACKNOWLEDGE
                    )
                    self._page(repo, seen, action, now, messages, events, result)
            IncidentRepository(conn).add_events(events)
            OutboxRepository(conn).enqueue(messages, now)
        self._count(result)
        return result

    def _reminding(self) -> list[str]:
        return [level.value for level in self.config.escalating]

    def _remind(
        self,
        repo: EscalationRepository,
        seen: Waiting,
        open_since: datetime,
        now: datetime,
        messages: list[NewMessage],
        events: list[NewEvent],
    ) -> tuple[Waiting, bool]:
        due = reminder_due(
            seen,
            open_since=open_since,
            timeout=self.config.timeout_for(seen.severity),
            repeat=self.config.repeat_for(seen.severity),
        )
        if due is None or due > now or not repo.claim_reminder(seen, now=now):
            return seen, False
        count = seen.renotify_count + 1  # this incident's n-th reminder (every open period's count)
        waited = int((now - open_since).total_seconds())
        messages.append(incident_renotify(seen.id, count=count, unacked_seconds=waited))
        events.append(
            NewEvent(
                incident_id=seen.id,
                at=now,
                kind=TimelineKind.INCIDENT_RENOTIFIED,
                data={"count": count, "unacked_seconds": waited},
                created_at=now,
            )
        )
        log.info("incident waits unacknowledged; owner reminded", extra={"incident_id": seen.id})
        return replace(seen, renotify_count=seen.renotify_count + 1, renotified_at=now), True

    def _should_trigger(self, seen: Waiting, reminded: bool) -> bool:
        if not self.pagers or seen.pager_state not in (None, PagerState.RESOLVED):
            return False
        when = self.config.pages_at(seen.severity)
        return when == "open" or (when == "escalation" and reminded)

    def _page(
        self,
        repo: EscalationRepository,
        seen: Waiting,
        action: PagerAction,
        now: datetime,
        messages: list[NewMessage],
        events: list[NewEvent],
        result: EscalationPass,
    ) -> None:
        if not repo.claim_pager(seen, _STATE_OF[action]):
            return
        payload = self.payload(seen, action, now)
        messages.extend(pager_event(topic, seen.id, payload) for topic in self.pagers)
        events.append(
            NewEvent(
                incident_id=seen.id,
                at=now,
                kind=TimelineKind.PAGER_SENT,
                data={"action": action.value, "to": [str(t) for t in self.pagers]},
                created_at=now,
            )
        )
        result.paged.append((seen.id, action))

    def payload(self, seen: Waiting, action: PagerAction, now: datetime) -> PagerPayload:
        reason = {
            PagerAction.ACKNOWLEDGE: "acknowledged",
            PagerAction.RESOLVE: "resolved",
        }.get(action, "opened" if self.config.pages_at(seen.severity) == "open" else "unacknowledged")
        return {
            "action": action,
            "dedup_key": self.config.dedup_key(seen.id),
            "summary": f"[{seen.severity}] #{seen.id} {seen.title}"[:1024],
            "severity": seen.severity,
            "status": seen.status,
            "service": seen.service,
            "source": seen.source,
            "at": now.isoformat(),
            "reason": reason,
        }

    def _count(self, result: EscalationPass) -> None:
        if self.metrics is None:
            return
        if result.reminded:
            self.metrics.escalation_events.labels("reminder").inc(len(result.reminded))
        for _, action in result.paged:
            self.metrics.escalation_events.labels(action.value).inc()
