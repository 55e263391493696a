"""\"Why was this flagged?\": an incident's severity, its exact reasons, and how people rated similar ones.

Shared by ``GET /api/incidents/{id}``, ``sevbot incidents why ID`` and Slack (``/incident why``, the Why?
button, mentions). The reasons are the serving model's own contributions, stored when the alert was scored.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TypedDict

from sqlalchemy import Connection

from analytics.explain import signed
from analytics.records import StoredReason
from analytics.similar import incident_text, most_similar
from storage.incident_reads import IncidentReads
from storage.models import Incident
from storage.notes import NoteRepository
from storage.stories import StoryRepository

SHOWN_NOTES = 3
SHOWN_NOTE = 200


class SimilarIncident(TypedDict):
    """A past incident like the one explained, with how people rated it and how it was resolved."""

    id: int
    title: str
    severity: str
    status: str
    rated: str | None  # a severity, "noise", or None when nobody rated it
    resolution_note: str | None
    notes: list[str]  # what people captured from its thread (the first few, cut short)
    similarity: float  # TF-IDF cosine, 0..1


class Explanation(TypedDict):
    """Why an incident has its severity (JSON-ready: the API, the CLI and Slack show this)."""

    incident_id: int
    severity: str
    severity_source: str
    confidence: float
    model_version: str | None
    reasons: list[StoredReason]
    similar: list[SimilarIncident]


def explain_incident(conn: Connection, incident_id: int) -> Explanation | None:
    """The explanation of one incident as JSON-ready data, or None when there is no such incident."""
    reads = IncidentReads(conn)
    inc = reads.get(incident_id)
    if inc is None:
        return None
    return {
        "incident_id": inc.id,
        "severity": inc.severity,
        "severity_source": inc.severity_source,
        "confidence": inc.confidence,
        "model_version": inc.model_version,
        "reasons": [{"text": str(r["text"]), "weight": float(r["weight"])} for r in inc.reasons],
        "similar": similar_incidents(reads, inc),
    }


def similar_incidents(reads: IncidentReads, incident: Incident, *, k: int = 3) -> list[SimilarIncident]:
    """The ``k`` past incidents most like this one, among the resolved ones sharing its alert name or its
    service and not of its own story, with how people rated each and the note left when it was resolved."""
    # Past incidents only: not one still open, nor one of its own story (opened in the same storm).
    candidates = reads.similar_candidates(
        incident, exclude=StoryRepository(reads.conn).story_ids(incident.id)
    )
    captured = NoteRepository(reads.conn).texts([incident.id, *(c.id for c in candidates)])
    target = incident_text(
        alertname=incident.alertname,
        title=incident.title,
        service=incident.service,
        labels=incident.labels,
        notes=captured.get(incident.id, ()),
    )
    texts = tuple(
        (
            c.id,
            incident_text(
                alertname=c.alertname,
                title=c.title,
                service=c.service,
                labels=c.labels,
                notes=captured.get(c.id, ()),
            ),
        )
        for c in candidates
    )
    best = _most_similar(target, texts, k)
    if not best:
        return []
    by_id = {c.id: c for c in candidates}
    ids = [incident_id for incident_id, _ in best]
    ratings = reads.latest_ratings(ids)
    notes = reads.resolution_notes(ids)
    return [
        {
            "id": incident_id,
            "title": by_id[incident_id].title,
            "severity": by_id[incident_id].severity,
            "status": by_id[incident_id].status,
            "rated": ratings.get(incident_id),
            "resolution_note": notes.get(incident_id),
            "notes": [text[:SHOWN_NOTE] for text in captured.get(incident_id, [])[:SHOWN_NOTES]],
            "similarity": round(score, 3),
        }
        for incident_id, score in best
    ]


@functools.lru_cache(maxsize=512)
def _most_similar(target: str, texts: Sequence[tuple[int, str]], k: int) -> list[tuple[int, float]]:
    """TF-IDF ranking, remembered per exact input: what it reads (names, titles, services, labels of at
    most 400 incidents) rarely changes, so reading the same incident again (Slack's Why? button, the API,
    the CLI) ranks once. Ratings and notes are read fresh each time. Texts without a single word (alerts
    named " ") have nothing to compare: no match (the fuzz run once found that a 500)."""
    return most_similar(target, texts, k=k)


def render_explanation(explanation: Explanation) -> str:
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
