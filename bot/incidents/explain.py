"""\"Why was this flagged?\": an incident's severity, its exact reasons, and how people rated similar ones.

Shared by ``GET /api/incidents/{id}``, ``sevbot incidents why ID`` and Slack (``/incident why``, the Why?
button, mentions). The reasons are the serving model's own contributions, stored when the alert was scored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from analytics.explain import signed
from analytics.similar import incident_text, most_similar
from storage.incidents import IncidentRepository
from storage.models import Feedback, Incident, TimelineEvent

# How many past incidents of the same alert name, and of the same service, are compared (newest first).
CANDIDATES = 200


def explain_incident(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """The explanation of one incident as JSON-ready data, or None when there is no such incident."""
    inc = IncidentRepository(conn).get(incident_id)
    if inc is None:
        return None
    return {
        "incident_id": inc.id,
        "severity": inc.severity,
        "severity_source": inc.severity_source,
        "confidence": inc.confidence,
        "model_version": inc.model_version,
        "reasons": [{"text": r["text"], "weight": r["weight"]} for r in inc.reasons],
        "similar": similar_incidents(conn, inc),
    }


def similar_incidents(conn: Connection, incident: Incident, *, k: int = 3) -> list[dict[str, Any]]:
    """The ``k`` past incidents most like this one, among those sharing its alert name or its service."""
    columns = (Incident.id, Incident.title, Incident.alertname, Incident.service, Incident.labels)
    earlier = select(*columns, Incident.severity, Incident.status).where(
        Incident.id != incident.id, Incident.opened_at <= incident.opened_at
    )
    # Candidates come from two index range scans, so the cost does not grow with the history.
    same_name = earlier.where(Incident.alertname == incident.alertname)
    rows = list(conn.execute(same_name.order_by(Incident.id.desc()).limit(CANDIDATES)))
    if incident.service:
        seen = {r.id for r in rows}
        same_service = earlier.where(Incident.service == incident.service)
        rows += [
            r
            for r in conn.execute(same_service.order_by(Incident.id.desc()).limit(CANDIDATES))
            if r.id not in seen
        ]
    target = incident_text(
        alertname=incident.alertname, title=incident.title, service=incident.service, labels=incident.labels
    )
    texts = [
        (r.id, incident_text(alertname=r.alertname, title=r.title, service=r.service, labels=r.labels))
        for r in rows
    ]
    best = most_similar(target, texts, k=k)
    if not best:
        return []
    by_id = {r.id: r for r in rows}
    ids = [incident_id for incident_id, _ in best]
    ratings = _ratings(conn, ids)
    notes = _resolution_notes(conn, ids)
    return [
        {
            "id": incident_id,
            "title": by_id[incident_id].title,
            "severity": by_id[incident_id].severity,
            "status": by_id[incident_id].status,
            "rated": ratings.get(incident_id),
            "resolution_note": notes.get(incident_id),
            "similarity": round(score, 3),
        }
        for incident_id, score in best
    ]


def _ratings(conn: Connection, ids: list[int]) -> dict[int, str]:
    """The latest word people gave on each incident: a severity, or "noise"."""
    rows = conn.execute(
        select(Feedback.incident_id, Feedback.kind, Feedback.new_severity)
        .where(Feedback.incident_id.in_(ids))
        .order_by(Feedback.created_at, Feedback.id)
    )
    latest: dict[int, str] = {}
    for incident_id, kind, severity in rows:
        latest[incident_id] = "noise" if kind == "noise" else str(severity)
    return latest


def _resolution_notes(conn: Connection, ids: list[int]) -> dict[int, str]:
    rows = conn.execute(
        select(TimelineEvent.incident_id, TimelineEvent.data)
        .where(TimelineEvent.incident_id.in_(ids), TimelineEvent.kind == "incident.resolved")
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    notes: dict[int, str] = {}
    for incident_id, data in rows:
        if isinstance(data, dict) and data.get("note"):
            notes[incident_id] = str(data["note"])
    return notes


def render_explanation(explanation: dict[str, Any]) -> str:
    """Plain-text lines, as ``sevbot incidents why`` prints them and Slack shows them."""
    source = explanation["severity_source"]
    version = explanation["model_version"] or "-"
    lines = [
        f"Incident #{explanation['incident_id']} is {explanation['severity']} "
        f"(confidence {explanation['confidence']:.0%}, set by {source}, model {version})",
    ]
    if explanation["reasons"]:
        lines.append("Why (contributions to the score, largest first; they add up to it):")
        lines.extend(f"  {r['text']} {signed(r['weight'])}" for r in explanation["reasons"])
    else:
        lines.append("No recorded reasons.")
    if explanation["similar"]:
        lines.append("Similar past incidents:")
        for s in explanation["similar"]:
            rated = f"people rated it {s['rated']}" if s["rated"] else "not rated by people"
            note = f" · resolved: {s['resolution_note']}" if s["resolution_note"] else ""
            lines.append(f"  #{s['id']} {s['severity']} [{s['status']}] {s['title']} ({rated}){note}")
    else:
        lines.append("No similar past incidents.")
    return "\n".join(lines)
