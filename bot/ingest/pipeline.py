"""The ingest pipeline: dedupe, score and group a batch of alerts, and commit it in one transaction.

Everything one webhook changes (alerts, incidents, timeline events, outbox rows) is written in a single
transaction, so a 2xx answer means all of it is durable and an error means none of it was written.
The same alert again (same group, fingerprint, status and start time) is a duplicate: it is counted on
the stored alert and changes nothing else, which makes Alertmanager's resends harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import Score, Scorer, source_severity
from bot.clock import utcnow
from bot.incidents.rules import (
    STATE_CHANGE_KINDS,
    IncidentRules,
    IncidentStatus,
    Placement,
    change_key,
    is_flapping,
    place_firing_alert,
)
from bot.ingest.context import BatchContext, ContextProvider
from bot.llm import alert_growth_is_material, draft_request
from bot.metrics import Metrics
from bot.normalize import Batch
from storage.db import Database
from storage.incidents import IncidentRepository, IncidentState
from storage.outbox import NewMessage, OutboxRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    incidents: list[int]
    opened: list[int]
    truncated: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "incidents": self.incidents,
            "opened": self.opened,
            "truncated": self.truncated,
        }


class Ingestor:
    """Turns normalized batches into committed incidents; one instance per app, safe across threads."""

    def __init__(
        self,
        *,
        db: Database,
        scorer: Callable[[], Scorer],
        rules: IncidentRules,
        context: ContextProvider | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.context = context or ContextProvider(catalog={})
        self.scorer = scorer
        self.rules = rules
        self.metrics = metrics
        self.clock = clock
        self.on_commit = on_commit

    def ingest(self, batch: Batch) -> IngestResult:
        """Commit one batch; raises whatever stopped it, in which case nothing was written."""
        result = self.ingest_many([batch])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def ingest_many(self, batches: Sequence[Batch]) -> list[IngestResult | Exception]:
        """Commit several batches in one transaction (group commit), each with its own result.

        If the shared transaction fails, each batch is tried again alone, so one bad batch fails
        by itself and the others still commit.
        """
        for batch in batches:
            if self.metrics and batch.truncated:
                source = batch.alerts[0].source if batch.alerts else "unknown"
                self.metrics.alerts_truncated.labels(source).inc(batch.truncated)
                log.warning("sender truncated alerts", extra={"truncated": batch.truncated})
        try:
            return list(self._commit(batches))
        except Exception as exc:
            if len(batches) == 1:
                return [exc]
        results: list[IngestResult | Exception] = []
        for batch in batches:
            try:
                results.extend(self._commit([batch]))
            except Exception as exc:
                results.append(exc)
        return results

    def _commit(self, batches: Sequence[Batch]) -> list[IngestResult]:
        work = [batch for batch in batches if batch.alerts]
        outcomes: list[_Outcome] = []
        if work:
            records = [alert for batch in work for alert in batch.alerts]
            now = self.clock()
            with self.db.write() as conn:
                self.db.lock_groups(conn, [alert.group_key for alert in records])
                apply = _Apply(
                    incidents=IncidentRepository(conn),
                    outbox=OutboxRepository(conn),
                    scorer=self.scorer(),
                    context=self.context.for_batch(conn, records, now),
                    rules=self.rules,
                    now=now,
                )
                outcomes = apply.run([batch.alerts for batch in work])
                queued = apply.queued
            self._count(work, outcomes)
            if self.on_commit and queued:
                self.on_commit()
        by_batch = iter(outcomes)
        return [self._result(batch, next(by_batch) if batch.alerts else _Outcome()) for batch in batches]

    def _count(self, batches: list[Batch], outcomes: list[_Outcome]) -> None:
        if not self.metrics:
            return
        for batch, outcome in zip(batches, outcomes, strict=True):
            for name, count in outcome.counts.items():
                if count:
                    self.metrics.alerts_received.labels(batch.alerts[0].source, name).inc(count)
            if outcome.opened:
                self.metrics.incidents_opened.inc(len(outcome.opened))

    @staticmethod
    def _result(batch: Batch, outcome: _Outcome) -> IngestResult:
        return IngestResult(
            accepted=len(batch.alerts) - outcome.counts["duplicate"],
            duplicates=outcome.counts["duplicate"],
            incidents=sorted(outcome.touched),
            opened=outcome.opened,
            truncated=batch.truncated,
        )


@dataclass(slots=True)
class _Known:
    """A stored (or, within this batch, about-to-be-stored) firing of an alert."""

    incident_id: int
    fingerprint: str
    starts_at: datetime
    status: str
    alert_id: int | None = None
    row: dict[str, Any] | None = None  # the pending insert, for alerts new in this batch


@dataclass(slots=True)
class _Outcome:
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "resolved": 0, "duplicate": 0})
    touched: set[int] = field(default_factory=set)
    opened: list[int] = field(default_factory=list)


class _Apply:
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
        self.by_group: dict[str, IncidentState] = {}
        self.by_id: dict[int, IncidentState] = {}
        self.known: dict[tuple[str, str, str], list[_Known]] = {}
        self.alert_rows: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.changes: dict[int, list[dict[str, Any]]] = {}
        self.duplicates: dict[int, int] = {}
        self.resolutions: dict[int, datetime] = {}
        self.opened: list[int] = []
        # Per incident: when its stored state changes start (loaded once) and every change seen so far.
        self.change_log: dict[int, tuple[datetime, list[tuple[datetime, str]]]] = {}
        self.outcome = _Outcome()
        self.queued = False

    def run(self, batches: list[list[AlertRecord]]) -> list[_Outcome]:
        records = [record for batch in batches for record in batch]
        group_keys = {r.group_key for r in records}
        self.by_group = self.repo.latest_for_groups(group_keys)
        self.by_id = {state.id: state for state in self.by_group.values()}
        for known in self.repo.known_alerts(group_keys, {r.fingerprint for r in records}):
            self.known.setdefault((known.source, known.group_key, known.fingerprint), []).append(
                _Known(known.incident_id, known.fingerprint, known.starts_at, known.status, alert_id=known.id)
            )
        outcomes = []
        for batch in batches:
            self.outcome = _Outcome()
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
                self._resolve(existing, record.ends_at or self.now)
                self.outcome.counts["resolved"] += 1
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
        state = self.by_group.get(record.group_key)
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
            self._event(state, starts_at, "incident.reopened", {"fingerprint": record.fingerprint})
            self._change(state, {"kind": "incident.reopened"})
        state.alert_count += 1
        state.firing_count += 1
        state.last_alert_at = max(state.last_alert_at, starts_at)
        state.dirty = True
        self._raise_severity(state, score, starts_at)
        kind = "alert.refired" if refires else "alert.firing"
        self._event(
            state, starts_at, kind, {"fingerprint": record.fingerprint, "alertname": record.alertname}
        )
        self._change(state, {"kind": "alert.joined", "alertname": record.alertname, "title": record.title})
        row = self._alert_row(record, state.id, starts_at, score)
        if refires or placement is Placement.REOPEN:
            self._check_flapping(state, starts_at)
        return _Known(state.id, record.fingerprint, starts_at, AlertStatus.FIRING, row=row)

    def _resolve(self, known: _Known, ends_at: datetime) -> None:
        known.status = AlertStatus.RESOLVED
        if known.row is not None:
            known.row.update(status="resolved", ends_at=ends_at)
        else:
            assert known.alert_id is not None
            self.resolutions[known.alert_id] = ends_at
        state = self._state(known.incident_id)
        state.firing_count = max(0, state.firing_count - 1)
        state.dirty = True
        self._event(state, ends_at, "alert.resolved", {"fingerprint": known.fingerprint})
        if state.firing_count == 0 and state.status != IncidentStatus.RESOLVED:
            state.status = IncidentStatus.RESOLVED
            state.resolved_at = ends_at
            self._event(state, ends_at, "incident.resolved", {"by": "alerts"})
            self._change(state, {"kind": "incident.resolved"})
        else:
            self._change(state, {"kind": "alert.resolved"})
        self._check_flapping(state, ends_at)

    def _resolved_unseen(self, record: AlertRecord, starts_at: datetime) -> _Known:
        """A resolution for an alert never seen firing: kept for the record, posted nowhere new."""
        ends_at = record.ends_at or self.now
        state = self.by_group.get(record.group_key)
        score = self.scorer.score(record, self.context.context(record, flapping=False, recurrences=0))
        if state is None:
            state = self._open(record, score, starts_at, announce=False)
            state.status = IncidentStatus.RESOLVED
            state.resolved_at = ends_at
            self._event(state, ends_at, "incident.resolved", {"by": "alerts"})
        state.alert_count += 1
        state.dirty = True
        self._event(state, ends_at, "alert.resolved", {"fingerprint": record.fingerprint, "unseen": True})
        row = self._alert_row(record, state.id, starts_at, score)
        row.update(status="resolved", ends_at=ends_at)
        return _Known(state.id, record.fingerprint, starts_at, AlertStatus.RESOLVED, row=row)

    def _duplicate(self, known: _Known) -> None:
        if known.row is not None:
            known.row["duplicates"] += 1
        else:
            assert known.alert_id is not None
            self.duplicates[known.alert_id] = self.duplicates.get(known.alert_id, 0) + 1

    def _open(
        self, record: AlertRecord, score: Score, starts_at: datetime, *, announce: bool = True
    ) -> IncidentState:
        values: dict[str, Any] = {
            "group_key": record.group_key,
            "title": record.title[:512],
            "alertname": record.alertname[:255],
            "service": (record.service or "")[:255] or None,
            "source": record.source,
            "status": IncidentStatus.OPEN.value,
            "severity": score.level.value,
            "severity_source": _severity_source(score),
            "confidence": score.confidence,
            "model_version": score.model_version,
            "reasons": _reasons(score),
            "labels": dict(record.labels),
            "alert_count": 0,
            "firing_count": 0,
            "flapping": False,
            "opened_at": starts_at,
            "last_alert_at": starts_at,
            "updated_at": self.now,
        }
        incident_id = self.repo.insert_incident(values)
        state = IncidentState(
            id=incident_id,
            group_key=record.group_key,
            status=IncidentStatus.OPEN,
            severity=score.level.value,
            severity_source=values["severity_source"],
            confidence=score.confidence,
            model_version=score.model_version,
            reasons=values["reasons"],
            firing_count=0,
            alert_count=0,
            flapping=False,
            opened_at=starts_at,
            resolved_at=None,
            last_alert_at=starts_at,
        )
        self.by_group[record.group_key] = state
        self.by_id[incident_id] = state
        self._event(state, starts_at, "incident.opened", {"severity": score.level.value})
        self.outcome.touched.add(incident_id)
        if announce:
            self.outcome.opened.append(incident_id)
            self.opened.append(incident_id)
        return state

    def _raise_severity(self, state: IncidentState, score: Score, at: datetime) -> None:
        """An incident is as severe as its most severe alert, unless a person has set it."""
        if state.severity_source == "human" or score.level.rank >= Severity(state.severity).rank:
            return
        self._event(state, at, "severity.changed", {"from": state.severity, "to": score.level.value})
        self._change(state, {"kind": "severity.changed", "from": state.severity, "to": score.level.value})
        state.severity = score.level.value
        state.severity_source = _severity_source(score)
        state.confidence = score.confidence
        state.model_version = score.model_version
        state.reasons = _reasons(score)

    def _check_flapping(self, state: IncidentState, at: datetime) -> None:
        if state.flapping:
            return
        if is_flapping(
            self._changes_of(state.id, since=at - self.rules.flap_window), now=at, rules=self.rules
        ):
            state.flapping = True
            state.dirty = True
            self._event(state, at, "incident.flapping", {"window_s": self.rules.flap_window.total_seconds()})
            self._change(state, {"kind": "incident.flapping"})

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
                (e["at"], change_key(e["kind"], e["data"]))
                for e in self.events
                if e["incident_id"] == incident_id and e["kind"] in STATE_CHANGE_KINDS
            ]
            loaded = (since, [(at, change_key(kind, data)) for at, kind, data in stored] + pending)
            self.change_log[incident_id] = loaded
        return loaded[1]

    def _event(self, state: IncidentState, at: datetime, kind: str, data: dict[str, Any]) -> None:
        if kind in STATE_CHANGE_KINDS and state.id in self.change_log:
            self.change_log[state.id][1].append((at, change_key(kind, data)))
        self.events.append(
            {
                "incident_id": state.id,
                "at": at,
                "kind": kind,
                "actor": None,
                "data": data,
                "created_at": self.now,
            }
        )
        self.outcome.touched.add(state.id)

    def _change(self, state: IncidentState, change: dict[str, Any]) -> None:
        self.changes.setdefault(state.id, []).append(change)

    def _alert_row(
        self, record: AlertRecord, incident_id: int, starts_at: datetime, score: Score
    ) -> dict[str, Any]:
        row = {
            "incident_id": incident_id,
            "source": record.source,
            "group_key": record.group_key,
            "fingerprint": record.fingerprint,
            "status": AlertStatus.FIRING.value,
            "alertname": record.alertname[:255],
            "title": record.title[:512],
            "service": (record.service or "")[:255] or None,
            "labels": record.labels,
            "annotations": record.annotations,
            "links": record.links,
            "values": record.values,
            "generator_url": record.generator_url,
            "expression": record.expression,
            "starts_at": starts_at,
            "ends_at": None,
            "severity": score.level.value,
            "source_severity": (source_severity(record.labels) or "")[:64] or None,
            "probabilities": {level.value: p for level, p in score.probabilities.items()},
            "reasons": _reasons(score),
            "model_version": score.model_version,
            "duplicates": 0,
            "received_at": self.now,
            "updated_at": self.now,
        }
        self.alert_rows.append(row)
        return row

    def _write(self) -> None:
        self.repo.insert_alerts(self.alert_rows)
        self.repo.resolve_alerts(self.resolutions, self.now)
        self.repo.count_duplicates(self.duplicates)
        self.repo.save_states([state for state in self.by_id.values() if state.dirty], self.now)
        self.repo.add_events(self.events)
        messages = [
            NewMessage("slack", "incident.opened", incident_id, {}) for incident_id in self.outcome.opened
        ]
        messages += [
            NewMessage(
                "slack", "incident.updated", incident_id, {"changes": changes[:50], "count": len(changes)}
            )
            for incident_id, changes in self.changes.items()
            if incident_id not in self.opened
        ]
        messages += self._draft_requests()
        self.outbox.enqueue(messages, self.now)
        self.queued = bool(messages)

    def _draft_requests(self) -> list[NewMessage]:
        """LLM drafts for material changes only: opened, severity changed, many more alerts, resolved."""
        requests = [draft_request(incident_id, "summary", reason="opened") for incident_id in self.opened]
        for incident_id, changes in self.changes.items():
            if incident_id in self.opened:
                continue
            kinds = [change["kind"] for change in changes]
            state = self.by_id[incident_id]
            joined = kinds.count("alert.joined")
            if "incident.resolved" in kinds and state.status == IncidentStatus.RESOLVED:
                requests.append(draft_request(incident_id, "resolution", reason="resolved"))
            elif "incident.reopened" in kinds:
                requests.append(draft_request(incident_id, "summary", reason="opened"))
            elif "severity.changed" in kinds:
                requests.append(draft_request(incident_id, "summary", reason="severity"))
            elif joined and alert_growth_is_material(state.alert_count - joined, state.alert_count):
                requests.append(draft_request(incident_id, "summary", reason="alerts"))
        return requests


def _severity_source(score: Score) -> str:
    return "rules" if score.model_version.startswith("rules") else "model"


def _reasons(score: Score) -> list[dict[str, Any]]:
    return [{"text": r.text, "weight": r.weight} for r in score.reasons]
