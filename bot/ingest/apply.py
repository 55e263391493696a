"""Applying one transaction's alerts: dedupe, score, place each in an incident, collect the rows (no commit).

:class:`Apply` decides in memory with the state loaded once per transaction, then writes everything in bulk
(alerts, incident states, timeline events, outbox rows) through the repositories; the caller commits.
The same alert again (same group, fingerprint, status and start time) is a duplicate: it is counted on
the stored alert and changes nothing else, which makes Alertmanager's resends harmless. One exception: a
firing alert of an incident a person resolved. Alertmanager repeats a still-firing alert with the same
``startsAt``; that repeat reopens the incident (a manual resolve cannot hide an alert that still fires),
with a timeline event saying why, and is counted ``reopened``, not ``duplicate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from analytics.records import (
    AlertRecord,
    AlertStatus,
    Change,
    ChangeKind,
    IncidentStatus,
    Severity,
    SeveritySource,
    TimelineKind,
    severity_change,
)
from analytics.scoring import Score, Scorer
from bot.incidents.affected import identifying_labels
from bot.incidents.rules import (
    STATE_CHANGE_KINDS,
    IncidentRules,
    Placement,
    change_key,
    is_flapping,
    place_firing_alert,
)
from bot.ingest.context import BatchContext
from bot.ingest.related import opening_messages, relate_opened
from bot.ingest.rows import alert_row, change_messages, severity_source, stored_reasons
from storage.incident_rows import IncidentState, NewAlert, NewEvent, NewIncident
from storage.incidents import IncidentRepository
from storage.outbox import OutboxRepository
from storage.stories import StoryRepository


@dataclass(slots=True)
class _Known:
    """A stored (or, within this batch, about-to-be-stored) firing of an alert."""

    incident_id: int
    fingerprint: str
    starts_at: datetime
    status: str
    alert_id: int | None = None
    row: NewAlert | None = None  # the pending insert, for alerts new in this batch


@dataclass(slots=True)
class Outcome:
    counts: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "resolved": 0, "duplicate": 0, "reopened": 0}
    )
    touched: set[int] = field(default_factory=set)
    opened: list[int] = field(default_factory=list)


class Apply:
    """The work of one transaction; collects rows in memory and writes them in bulk at the end."""

    def __init__(
        self,
        *,
        incidents: IncidentRepository,
        outbox: OutboxRepository,
        scorer: Scorer,
        context: BatchContext,
        rules: IncidentRules,
        now: datetime,
    ) -> None:
        self.repo = incidents
        self.outbox = outbox
        self.scorer = scorer
        self.context = context
        self.rules = rules
        self.now = now
        self.by_group: dict[tuple[str, str], IncidentState] = {}  # (source, group key) → its incident
        self.by_id: dict[int, IncidentState] = {}
        self.known: dict[tuple[str, str, str], list[_Known]] = {}
        self.alert_rows: list[NewAlert] = []
        self.events: list[NewEvent] = []
        self.changes: dict[int, list[Change]] = {}
        self.duplicates: dict[int, int] = {}
        self.resolutions: dict[int, datetime] = {}
        self.opened: list[int] = []
        # Per incident: when its stored state changes start (loaded once) and every change seen so far.
        self.change_log: dict[int, tuple[datetime, list[tuple[datetime, str]]]] = {}
        self.outcome = Outcome()
        self.queued = False

    def run(self, batches: list[list[AlertRecord]]) -> list[Outcome]:
        records = [record for batch in batches for record in batch]
        group_keys = {r.group_key for r in records}
        self.by_group = self.repo.latest_for_groups({(r.source, r.group_key) for r in records})
        self.by_id = {state.id: state for state in self.by_group.values()}
        for known in self.repo.known_alerts(group_keys, {r.fingerprint for r in records}):
            self.known.setdefault((known.source, known.group_key, known.fingerprint), []).append(
                _Known(known.incident_id, known.fingerprint, known.starts_at, known.status, alert_id=known.id)
            )
        outcomes = []
        for batch in batches:
            self.outcome = Outcome()
            for record in batch:
                self._apply(record)
            outcomes.append(self.outcome)
        self._write()
        return outcomes

    # --- deciding --------------------------------------------------------------------------

    def _apply(self, record: AlertRecord) -> None:
        firings = self.known.setdefault((record.source, record.group_key, record.fingerprint), [])
        starts_at = record.starts_at or self._start_of_undated(record, firings)
        existing = next((k for k in firings if k.starts_at == starts_at), None)
        if existing is not None:
            if record.status is AlertStatus.RESOLVED and existing.status == AlertStatus.FIRING:
                self._resolve(existing, record, record.ends_at or self.now)
                self.outcome.counts["resolved"] += 1
            elif record.status is AlertStatus.FIRING and self._hidden_by_a_resolve(existing):
                self._reopen_still_firing(existing, record)
                self.outcome.counts["reopened"] += 1
            else:
                self._duplicate(existing)
                self.outcome.counts["duplicate"] += 1
            return
        self.outcome.counts["new" if record.status is AlertStatus.FIRING else "resolved"] += 1
        if record.status is AlertStatus.FIRING:
            firings.append(self._fire(record, starts_at, refires=len(firings)))
        else:
            firings.append(self._resolved_unseen(record, starts_at))

    def _start_of_undated(self, record: AlertRecord, firings: list[_Known]) -> datetime:
        """A generic alert without a start time continues the firing one, else starts now."""
        latest = max(firings, key=lambda k: k.starts_at, default=None)
        if latest is not None and (
            latest.status == AlertStatus.FIRING or record.status is AlertStatus.RESOLVED
        ):
            return latest.starts_at
        return self.now

    def _fire(self, record: AlertRecord, starts_at: datetime, *, refires: int) -> _Known:
        state = self.by_group.get((record.source, record.group_key))
        placement = place_firing_alert(
            status=state.status if state else None,
            resolved_at=state.resolved_at if state else None,
            fired_at=starts_at,
            rules=self.rules,
        )
        context = self.context.context(
            record,
            flapping=bool(state and state.flapping and placement is not Placement.NEW),
            recurrences=refires,
        )
        score = self.scorer.score(record, context)
        if state is None or placement is Placement.NEW:
            state = self._open(record, score, starts_at)
        elif placement is Placement.REOPEN:
            state.status = IncidentStatus.OPEN
            state.resolved_at = None
            self._event(state, starts_at, TimelineKind.INCIDENT_REOPENED, {"fingerprint": record.fingerprint})
            self._change(state, {"kind": ChangeKind.INCIDENT_REOPENED})
        state.alert_count += 1
        state.firing_count += 1
        state.last_alert_at = max(state.last_alert_at, starts_at)
        state.dirty = True
        self._raise_severity(state, score, starts_at)
        kind = TimelineKind.ALERT_REFIRED if refires else TimelineKind.ALERT_FIRING
        self._event(
            state, starts_at, kind, {"fingerprint": record.fingerprint, "alertname": record.alertname}
        )
        joined = ChangeKind.ALERT_REFIRED if refires else ChangeKind.ALERT_JOINED
        self._change(
            state,
            {
                "kind": joined,
                "alertname": record.alertname,
                "title": record.title,
                "labels": identifying_labels(record.labels),
            },
        )
        row = self._alert_row(record, state.id, starts_at, score)
        if refires or placement is Placement.REOPEN:
            self._check_flapping(state, starts_at)
        return _Known(state.id, record.fingerprint, starts_at, AlertStatus.FIRING, row=row)

    def _hidden_by_a_resolve(self, known: _Known) -> bool:
        """A still-firing alert of an incident that is resolved: only a person's resolve does that."""
        return known.status == AlertStatus.FIRING and self._state(known.incident_id).status == (
            IncidentStatus.RESOLVED
        )

    def _reopen_still_firing(self, known: _Known, record: AlertRecord) -> None:
        """The next notification of an alert that kept firing after a person resolved its incident."""
        state = self._state(known.incident_id)
        state.status = IncidentStatus.OPEN
        state.resolved_at = None
        state.dirty = True
        why = {
            "fingerprint": known.fingerprint,
            "alertname": record.alertname,
            "reason": "still_firing",
            "note": f"{record.alertname} was still firing after a person resolved the incident",
        }
        self._event(state, self.now, TimelineKind.INCIDENT_REOPENED, why)
        change: Change = {
            "kind": ChangeKind.INCIDENT_REOPENED,
            "alertname": record.alertname,
            "labels": identifying_labels(record.labels),
            "reason": "still_firing",
            "firing": state.firing_count,
        }
        self._change(state, change)
        self._check_flapping(state, self.now)

    def _resolve(self, known: _Known, record: AlertRecord, ends_at: datetime) -> None:
        known.status = AlertStatus.RESOLVED
        if known.row is not None:
            known.row.status, known.row.ends_at = AlertStatus.RESOLVED, ends_at
        else:
            assert known.alert_id is not None
            self.resolutions[known.alert_id] = ends_at
        state = self._state(known.incident_id)
        state.firing_count = max(0, state.firing_count - 1)
        state.dirty = True
        self._event(state, ends_at, TimelineKind.ALERT_RESOLVED, {"fingerprint": known.fingerprint})
        if state.firing_count == 0 and state.status != IncidentStatus.RESOLVED:
            state.status = IncidentStatus.RESOLVED
            state.resolved_at = ends_at
            self._event(state, ends_at, TimelineKind.INCIDENT_RESOLVED, {"by": "alerts"})
            self._change(state, {"kind": ChangeKind.INCIDENT_RESOLVED})
        else:
            resolved: Change = {
                "kind": ChangeKind.ALERT_RESOLVED,
                "alertname": record.alertname,
                "labels": identifying_labels(record.labels),
            }
            self._change(state, resolved)
        self._check_flapping(state, ends_at)

    def _resolved_unseen(self, record: AlertRecord, starts_at: datetime) -> _Known:
        """A resolution for an alert never seen firing: kept for the record, posted nowhere new."""
        ends_at = record.ends_at or self.now
        state = self.by_group.get((record.source, record.group_key))
        score = self.scorer.score(record, self.context.context(record, flapping=False, recurrences=0))
        if state is None:
            state = self._open(record, score, starts_at, announce=False)
            state.status = IncidentStatus.RESOLVED
            state.resolved_at = ends_at
            self._event(state, ends_at, TimelineKind.INCIDENT_RESOLVED, {"by": "alerts"})
        state.alert_count += 1
        state.dirty = True
        unseen = {"fingerprint": record.fingerprint, "unseen": True}
        self._event(state, ends_at, TimelineKind.ALERT_RESOLVED, unseen)
        row = self._alert_row(record, state.id, starts_at, score)
        row.status, row.ends_at = AlertStatus.RESOLVED, ends_at
        return _Known(state.id, record.fingerprint, starts_at, AlertStatus.RESOLVED, row=row)

    def _duplicate(self, known: _Known) -> None:
        if known.row is not None:
            known.row.duplicates += 1
        else:
            assert known.alert_id is not None
            self.duplicates[known.alert_id] = self.duplicates.get(known.alert_id, 0) + 1

    def _open(
        self, record: AlertRecord, score: Score, starts_at: datetime, *, announce: bool = True
    ) -> IncidentState:
        new = NewIncident(
            group_key=record.group_key,
            title=record.title,
            alertname=record.alertname,
            service=record.service,
            source=record.source,
            severity=score.level,
            severity_source=severity_source(score),
            confidence=score.confidence,
            model_version=score.model_version,
            reasons=stored_reasons(score),
            labels=dict(record.labels),
            opened_at=starts_at,
            updated_at=self.now,
        )
        incident_id = self.repo.insert_incident(new)
        state = IncidentState(
            id=incident_id,
            group_key=record.group_key,
            status=IncidentStatus.OPEN,
            severity=score.level.value,
            severity_source=new.severity_source,
            confidence=score.confidence,
            model_version=score.model_version,
            reasons=new.reasons,
            firing_count=0,
            alert_count=0,
            flapping=False,
            opened_at=starts_at,
            resolved_at=None,
            last_alert_at=starts_at,
        )
        self.by_group[(record.source, record.group_key)] = state
        self.by_id[incident_id] = state
        self._event(state, starts_at, TimelineKind.INCIDENT_OPENED, {"severity": score.level.value})
        self.outcome.touched.add(incident_id)
        if announce:
            self.outcome.opened.append(incident_id)
            self.opened.append(incident_id)
        return state

    def _raise_severity(self, state: IncidentState, score: Score, at: datetime) -> None:
        """An incident is as severe as its most severe alert, unless a person has set it."""
        if state.severity_source == SeveritySource.HUMAN or score.level.rank >= Severity(state.severity).rank:
            return
        self._event(
            state, at, TimelineKind.SEVERITY_CHANGED, {"from": state.severity, "to": score.level.value}
        )
        self._change(state, severity_change(state.severity, score.level.value))
        state.severity = score.level.value
        state.severity_source = severity_source(score)
        state.confidence = score.confidence
        state.model_version = score.model_version
        state.reasons = stored_reasons(score)

    def _check_flapping(self, state: IncidentState, at: datetime) -> None:
        if state.flapping:
            return
        if is_flapping(
            self._changes_of(state.id, since=at - self.rules.flap_window), now=at, rules=self.rules
        ):
            state.flapping = True
            state.dirty = True
            window = {"window_s": self.rules.flap_window.total_seconds()}
            self._event(state, at, TimelineKind.INCIDENT_FLAPPING, window)
            self._change(state, {"kind": ChangeKind.INCIDENT_FLAPPING})

    # --- helpers ---------------------------------------------------------------------------

    def _state(self, incident_id: int) -> IncidentState:
        state = self.by_id.get(incident_id)
        if state is None:
            state = self.repo.states([incident_id])[incident_id]
            self.by_id[incident_id] = state
        return state

    def _changes_of(self, incident_id: int, *, since: datetime) -> list[tuple[datetime, str]]:
        """The incident's state changes from ``since`` on: stored ones (one query per incident and
        transaction) and those of this transaction."""
        loaded = self.change_log.get(incident_id)
        if loaded is None or loaded[0] > since:
            stored = self.repo.events_since(incident_id, STATE_CHANGE_KINDS, since)
            pending = [
                (e.at, change_key(e.kind, e.data))
                for e in self.events
                if e.incident_id == incident_id and e.kind in STATE_CHANGE_KINDS
            ]
            loaded = (since, [(at, change_key(kind, data)) for at, kind, data in stored] + pending)
            self.change_log[incident_id] = loaded
        return loaded[1]

    def _event(
        self, state: IncidentState, at: datetime, kind: TimelineKind, data: Mapping[str, object]
    ) -> None:
        if kind in STATE_CHANGE_KINDS and state.id in self.change_log:
            self.change_log[state.id][1].append((at, change_key(kind, data)))
        self.events.append(NewEvent(incident_id=state.id, at=at, kind=kind, data=data, created_at=self.now))
        self.outcome.touched.add(state.id)

    def _change(self, state: IncidentState, change: Change) -> None:
        self.changes.setdefault(state.id, []).append(change)

    def _alert_row(
        self, record: AlertRecord, incident_id: int, starts_at: datetime, score: Score
    ) -> NewAlert:
        row = alert_row(record, incident_id=incident_id, starts_at=starts_at, score=score, now=self.now)
        self.alert_rows.append(row)
        return row

    def _write(self) -> None:
        self.repo.insert_alerts(self.alert_rows)
        self.repo.resolve_alerts(self.resolutions, self.now)
        self.repo.count_duplicates(self.duplicates)
        self.repo.save_states([state for state in self.by_id.values() if state.dirty], self.now)
        self.repo.add_events(self.events)
        story = relate_opened(StoryRepository(self.repo.conn), self.opened, self.rules.relation)
        messages = opening_messages(story)  # roots in severity order; related ones in their primary's thread
        messages += change_messages(
            self.changes, self.by_id, opened=self.opened, rules=self.rules, now=self.now
        )
        self.outbox.enqueue(messages, self.now)
        self.queued = bool(messages)
