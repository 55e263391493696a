"""The read side over HTTP: incidents with their alerts, timeline and severity explanation (JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Path, Query

from analytics.records import IncidentStatus, Severity
from bot.bootstrap import Services
from bot.errors import FieldError, InvalidPayload
from bot.http.deps import ApiAccess, ServicesDep
from bot.incidents.explain import Explanation, explain_incident
from bot.settings import parse_duration
from storage.drafts import DraftRepository
from storage.incident_reads import IncidentFilter, IncidentReads
from storage.models import Alert, Incident, TimelineEvent

# Guarded as a whole: every route under /api needs the API token (or a loopback client).
router = APIRouter(prefix="/api", dependencies=[ApiAccess])

# Ids and offsets are signed 64-bit integers in every database; anything larger names no row.
MAX_INTEGER = 2**63 - 1
MAX_SINCE = timedelta(days=36_500)  # a hundred years back is "everything"; more is a typo
Offset = Annotated[int, Query(ge=0, le=MAX_INTEGER)]
PageLimit = Annotated[int, Query(ge=1, le=1000)]


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """``since`` as an ISO timestamp (``2026-11-20T00:00:00Z``) or a duration back from now (``7d``).

    A duration is at most 36500d and a time must be one in UTC (years 1 to 9999): anything else is a 422
    naming ``since``, never an overflow.
    """
    if not value:
        return None
    try:
        duration = parse_duration(value)
    except ValueError:
        pass
    else:
        if duration > MAX_SINCE:
            raise _bad_since(f"{value!r} is further back than {MAX_SINCE.days}d")
        return now - duration
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_since(f"{value!r} is neither a duration (7d) nor an ISO time") from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise _bad_since(f"{value!r} is outside the years 1 to 9999 in UTC") from None


def _bad_since(message: str) -> InvalidPayload:
    return InvalidPayload([FieldError("since", message)])


@dataclass(frozen=True, slots=True)
class _Detail:
    incident: Incident | None
    alerts: list[Alert]
    alert_total: int
    timeline: list[TimelineEvent]
    event_total: int
    why: Explanation | None


@router.get("/incidents")
async def list_incidents(
    services: ServicesDep,
    status: IncidentStatus | None = None,
    severity: Severity | None = None,
    service: Annotated[str | None, Query(max_length=255, pattern="^[^\x00]*$")] = None,  # PostgreSQL: no NUL
    since: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    filters = IncidentFilter(
        status=status, severity=severity, service=service, since=parse_since(since, services.ingestor.clock())
    )

    def read() -> tuple[list[Incident], int]:
        with services.db.read() as conn:
            return IncidentReads(conn).search(filters, limit=limit, offset=offset)

    items, total = await anyio.to_thread.run_sync(read)
    return {"items": [incident_json(i) for i in items], "total": total, "limit": limit, "offset": offset}


@router.get("/incidents/{incident_id}")
async def get_incident(
    incident_id: Annotated[int, Path(ge=1, le=MAX_INTEGER)],
    services: ServicesDep,
    alerts_limit: PageLimit = 100,
    alerts_offset: Offset = 0,
    timeline_limit: PageLimit = 200,
    timeline_offset: Offset = 0,
) -> dict[str, Any]:
    """One incident with a page of its alerts (oldest first) and of its timeline (in time order);
    ``alerts_page`` and ``timeline_page`` give each total, so a client can read the rest."""

    def read() -> _Detail:
        with services.db.read() as conn:
            repo = IncidentReads(conn)
            incident = repo.get(incident_id)
            if incident is None:
                return _Detail(None, [], 0, [], 0, None)
            return _Detail(
                incident,
                repo.alerts_of(incident_id, limit=alerts_limit, offset=alerts_offset),
                repo.count_alerts(incident_id),
                repo.timeline_of(incident_id, limit=timeline_limit, offset=timeline_offset),
                repo.count_events(incident_id),
                explain_incident(conn, incident_id),
            )

    detail = await anyio.to_thread.run_sync(read)
    if detail.incident is None:
        raise HTTPException(404, detail=f"no incident {incident_id}")
    drafts = await anyio.to_thread.run_sync(_drafts_of, services, incident_id)
    return {
        "incident": incident_json(detail.incident),
        "alerts": [alert_json(a) for a in detail.alerts],
        "alerts_page": {"total": detail.alert_total, "limit": alerts_limit, "offset": alerts_offset},
        "timeline": [event_json(e) for e in detail.timeline],
        "timeline_page": {"total": detail.event_total, "limit": timeline_limit, "offset": timeline_offset},
        "why": detail.why,
        "drafts": drafts,
    }


def _drafts_of(services: Services, incident_id: int) -> list[dict[str, Any]]:
    """The incident's LLM and template drafts, oldest first."""
    with services.db.read() as conn:
        return [
            {
                "kind": d.kind,
                "text": d.text,
                "source": d.source,
                "model": d.model,
                "created_at": _time(d.created_at),
            }
            for d in DraftRepository(conn).of_incident(incident_id)
        ]


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "service": incident.service,
        "source": incident.source,
        "group_key": incident.group_key,
        "severity": {
            "level": incident.severity,
            "source": incident.severity_source,
            "confidence": incident.confidence,
            "model_version": incident.model_version,
            "explanation": incident.reasons,
        },
        "alert_count": incident.alert_count,
        "firing_count": incident.firing_count,
        "flapping": incident.flapping,
        "labels": incident.labels,
        "opened_at": _time(incident.opened_at),
        "acknowledged_at": _time(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": _time(incident.resolved_at),
        "resolved_by": incident.resolved_by,
        "last_alert_at": _time(incident.last_alert_at),
        "updated_at": _time(incident.updated_at),
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "alertname": alert.alertname,
        "title": alert.title,
        "service": alert.service,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "links": alert.links,
        "values": alert.values,
        "generator_url": alert.generator_url,
        "expression": alert.expression,
        "starts_at": _time(alert.starts_at),
        "ends_at": _time(alert.ends_at),
        "severity": {
            "level": alert.severity,
            "source_label": alert.source_severity,
            "probabilities": alert.probabilities,
            "model_version": alert.model_version,
            "explanation": alert.reasons,
        },
        "duplicates": alert.duplicates,
        "received_at": _time(alert.received_at),
    }


def event_json(event: TimelineEvent) -> dict[str, Any]:
    return {"at": _time(event.at), "kind": event.kind, "actor": event.actor, "data": event.data}
