"""Silence an incident where its alerts come from: Alertmanager, Grafana, or sevbot itself (people's actions).

An incident's silence matches the labels **all** its alerts share (their common labels): for an
Alertmanager group that is at least ``alertname`` and the route's ``group_by`` labels, plus whatever else
they have in common (``job``, ``severity`` …). So it silences every alert firing in the incident now and
any new one that shares those labels, and nothing that merely shares the alert name. An incident whose
alerts share no label is refused rather than silenced wholesale.

Where the silence goes: an Alertmanager incident to Alertmanager when ``SEVBOT_ALERTMANAGER_URL`` is set,
a Grafana incident to Grafana's Alertmanager when ``SEVBOT_GRAFANA_URL`` is; anything else (a generic
webhook, a source with nothing configured) gets a sevbot-local silence, which mutes sevbot's Slack posts
only. The source is asked first; only when it has created the silence does sevbot record it (a
``silences`` row with its id there, and a ``silence.added`` timeline event). When the source cannot be
reached, nothing is recorded and the caller gets :class:`~bot.errors.SilenceApiFailed` to show.

Database work runs in a worker thread (sync SQLAlchemy); the source is asked with async httpx.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio
from sqlalchemy import Connection

from analytics.records import SilenceTarget, TimelineKind
from bot.errors import IncidentNotFound, SilenceApiFailed, UsageError
from bot.incidents.silence_api import NAMES, Matcher, SilenceApi
from bot.normalize.common import MAX_LABEL_VALUE
from storage.db import Database
from storage.incident_reads import IncidentReads
from storage.incident_rows import NewEvent
from storage.incidents import IncidentRepository
from storage.slack import SilenceRepository, SilenceRow

log = logging.getLogger(__name__)

MAX_COMMENT = 1000  # characters of a silence's comment at the source
# sevbot's own matching reads these from the incident, not from the labels (``incident_facts``).
_FACT_NAMES = ("alertname", "service", "severity", "team")


class NothingToMatch(UsageError):
    """The incident's alerts share no label: a silence of it would silence everything."""


@dataclass(frozen=True, slots=True)
class Created:
    silence_id: int  # sevbot's number for it (``silence remove N``)
    target: SilenceTarget
    remote_id: str | None
    matchers: tuple[dict[str, str], ...]
    ends_at: datetime
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class Removed:
    silence_id: int
    target: SilenceTarget
    remote_id: str | None
    known_at_source: bool = True  # False: the source had no such silence any more (only the record ended)


@dataclass(frozen=True, slots=True)
class Listed:
    """Active silences: sevbot's own, and those sevbot made at the source, as the source sees them now."""

    rows: list[SilenceRow] = field(default_factory=list)
    ends_at: dict[int, datetime] = field(default_factory=dict)  # as the source says (it may be extended)
    unknown: dict[int, str] = field(default_factory=dict)  # the source could not be asked: why
    problems: list[str] = field(default_factory=list)


def common_labels(label_sets: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """The labels, with their values, that every alert has (pure)."""
    if not label_sets:
        return {}
    common = {str(k): str(v) for k, v in label_sets[0].items()}
    for labels in label_sets[1:]:
        common = {k: v for k, v in common.items() if str(labels.get(k, "")) == v and k in labels}
    return common


def incident_matchers(
    labels: Mapping[str, str], *, target: SilenceTarget, alertname: str, service: str | None
) -> list[Matcher]:
    """Equality matchers on the common labels, ``alertname`` first (pure).

    A value as long as ingestion keeps (``MAX_LABEL_VALUE``) may have been cut, so it cannot be matched
    exactly and is left out. sevbot-local silences match what sevbot matches on (its facts): the
    incident's alert name and service, not the labels of those names (``severity`` is sevbot's level there).
    """
    usable = {k: v for k, v in labels.items() if v and len(v) < MAX_LABEL_VALUE}
    if target is SilenceTarget.SEVBOT:
        usable = {k: v for k, v in usable.items() if k not in _FACT_NAMES}
        usable["alertname"] = alertname
        if service:
            usable["service"] = service
    names = sorted(usable, key=lambda name: (name != "alertname", name))
    return [Matcher(name=name, value=usable[name]) for name in names]


@dataclass(frozen=True, slots=True)
class _Plan:
    incident_id: int
    target: SilenceTarget
    matchers: tuple[Matcher, ...]
    title: str


class IncidentSilences:
    """Creates, expires and lists silences; ``apis`` holds the sources that are configured."""

    def __init__(self, *, db: Database, apis: Mapping[SilenceTarget, SilenceApi]) -> None:
        self.db = db
        self.apis = dict(apis)

    def target_for(self, source: str) -> SilenceTarget:
        """Where an incident of ``source`` is silenced: its source when configured, else sevbot."""
        wanted = {"alertmanager": SilenceTarget.ALERTMANAGER, "grafana": SilenceTarget.GRAFANA}.get(source)
        return wanted if wanted is not None and wanted in self.apis else SilenceTarget.SEVBOT

    # --- create ----------------------------------------------------------------------------------

    async def silence_incident(
        self,
        incident_id: int,
        *,
        duration: timedelta,
        user: str,
        creator: str,
        comment: str | None,
        now: datetime,
    ) -> Created:
        """Silence the incident's common labels for ``duration``; ``creator`` is shown at the source."""
        plan = await anyio.to_thread.run_sync(self._plan, incident_id)
        ends_at = now + duration
        remote_id: str | None = None
        api = self.apis.get(plan.target)
        if api is not None:
            note = (comment or "silenced from Slack") + f" (sevbot incident #{incident_id}: {plan.title})"
            remote_id = await api.create(
                matchers=plan.matchers,
                starts_at=now,
                ends_at=ends_at,
                created_by=creator,
                comment=note[:MAX_COMMENT],
            )
        matchers = tuple(m.as_sevbot() for m in plan.matchers)
        try:
            silence_id = await anyio.to_thread.run_sync(
                self._record_added, plan, matchers, remote_id, user, comment, now, ends_at
            )
        except Exception:
            if api is not None and remote_id is not None:  # no silence at the source that sevbot forgot
                await _expire_quietly(api, remote_id)
            raise
        log.info(
            "incident silenced",
            extra={"incident_id": incident_id, "target": plan.target, "silence_id": silence_id},
        )
        return Created(silence_id, plan.target, remote_id, matchers, ends_at, incident_id)

    def _plan(self, incident_id: int) -> _Plan:
        with self.db.read() as conn:
            reads = IncidentReads(conn)
            incident = reads.get(incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            labels = common_labels(reads.label_sets(incident_id)) or dict(incident.labels or {})
        target = self.target_for(incident.source)
        matchers = incident_matchers(
            labels, target=target, alertname=incident.alertname, service=incident.service
        )
        if target is not SilenceTarget.SEVBOT and not matchers:
            raise NothingToMatch(f"The alerts of incident #{incident_id} share no label to silence them by.")
        return _Plan(incident_id, target, tuple(matchers), incident.title)

    def _record_added(
        self,
        plan: _Plan,
        matchers: tuple[dict[str, str], ...],
        remote_id: str | None,
        user: str,
        comment: str | None,
        now: datetime,
        ends_at: datetime,
    ) -> int:
        with self.db.write() as conn:
            silence_id = SilenceRepository(conn).add(
                matchers=matchers,
                reason=comment,
                created_by=user,
                now=now,
                expires_at=ends_at,
                target=plan.target,
                remote_id=remote_id,
                incident_id=plan.incident_id,
            )
            data = {
                "silence": silence_id,
                "target": plan.target.value,
                "remote_id": remote_id,
                "ends_at": ends_at.isoformat(),
                "matchers": [dict(m) for m in matchers],
            }
            _event(conn, plan.incident_id, TimelineKind.SILENCE_ADDED, user, data, now)
        return silence_id

    # --- remove ----------------------------------------------------------------------------------

    async def remove(self, ref: int | str, *, user: str, now: datetime) -> Removed | None:
        """Expire a silence by sevbot's number, or by the source's id of one sevbot made (None: unknown)."""
        row = await anyio.to_thread.run_sync(self._find, ref)
        if row is None:
            return None
        target = SilenceTarget(row.target)
        if target is SilenceTarget.SEVBOT:
            await anyio.to_thread.run_sync(self._record_removed, row, user, now, True)
            return Removed(row.id, target, None)
        api = self.apis.get(target)
        if api is None:
            raise SilenceApiFailed(
                target=NAMES[target], problem="it is not configured any more; expire the silence there"
            )
        assert row.remote_id is not None
        known = await api.expire(row.remote_id)
        await anyio.to_thread.run_sync(self._record_removed, row, user, now, False)
        return Removed(row.id, target, row.remote_id, known_at_source=known)

    def _find(self, ref: int | str) -> SilenceRow | None:
        with self.db.read() as conn:
            silences = SilenceRepository(conn)
            return silences.get(ref) if isinstance(ref, int) else silences.by_remote_id(ref)

    def _record_removed(self, row: SilenceRow, user: str, now: datetime, delete: bool) -> None:
        with self.db.write() as conn:
            silences = SilenceRepository(conn)
            if delete:
                silences.remove(row.id)
            else:
                silences.end(row.id, now)
            if row.incident_id is not None:
                data = {"silence": row.id, "target": row.target, "remote_id": row.remote_id}
                _event(conn, row.incident_id, TimelineKind.SILENCE_REMOVED, user, data, now)

    # --- list ------------------------------------------------------------------------------------

    async def active(self, *, now: datetime) -> Listed:
        """sevbot's active silences, and those it made at the source that the source still has active
        (a silence expired there, by hand or by time, ends its record here too)."""
        rows = await anyio.to_thread.run_sync(self._active_rows, now)
        listed = Listed()
        gone: list[int] = []
        remote_targets = {SilenceTarget(r.target) for r in rows} - {SilenceTarget.SEVBOT}
        states: dict[SilenceTarget, dict[str, tuple[str, datetime | None]]] = {}
        for target in sorted(remote_targets):
            api = self.apis.get(target)
            try:
                if api is None:
                    raise SilenceApiFailed(target=NAMES[target], problem="it is not configured any more")
                states[target] = {s.id: (s.state, s.ends_at) for s in await api.silences()}
            except SilenceApiFailed as exc:
                listed.problems.append(f"{exc.target}: {exc.problem}")
        for row in rows:
            target = SilenceTarget(row.target)
            if target is SilenceTarget.SEVBOT:
                listed.rows.append(row)
                continue
            if target not in states:
                listed.rows.append(row)
                listed.unknown[row.id] = NAMES[target]
                continue
            state, ends_at = states[target].get(row.remote_id or "", ("expired", None))  # unlisted: gone
            if state == "expired":
                gone.append(row.id)
                continue
            if state not in ("active", "pending"):  # listed, but in no state sevbot can read: ask, don't end
                listed.rows.append(row)
                listed.unknown[row.id] = NAMES[target]
                continue
            listed.rows.append(row)
            if ends_at is not None:
                listed.ends_at[row.id] = ends_at
        if gone:
            await anyio.to_thread.run_sync(self._end_all, gone, now)
        return listed

    def _active_rows(self, now: datetime) -> list[SilenceRow]:
        with self.db.read() as conn:
            return SilenceRepository(conn).active(now, target=None)

    def _end_all(self, silence_ids: list[int], now: datetime) -> None:
        with self.db.write() as conn:
            silences = SilenceRepository(conn)
            for silence_id in silence_ids:
                silences.end(silence_id, now)


def _event(
    conn: Connection,
    incident_id: int,
    kind: TimelineKind,
    user: str,
    data: Mapping[str, object],
    now: datetime,
) -> None:
    IncidentRepository(conn).add_events(
        [NewEvent(incident_id=incident_id, at=now, kind=kind, data=data, created_at=now, actor=user)]
    )


async def _expire_quietly(api: SilenceApi, remote_id: str) -> None:
    try:
        await api.expire(remote_id)
    except SilenceApiFailed:
        log.warning("silence left at the source after a failed record", extra={"remote_id": remote_id})
