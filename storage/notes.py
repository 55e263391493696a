"""Captured thread messages in SQL: a note on the timeline once per Slack message, and the notes read back.

A note is a ``note.added`` timeline event; ``timeline_notes`` holds its key (channel, message ts), so
adding the same message again, from any process, adds nothing: the key is inserted first with ON CONFLICT
DO NOTHING, and only a new key writes the event, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from analytics.records import NoteData, TimelineKind
from storage.incidents import clip
from storage.models import USER_LENGTH, TimelineEvent, TimelineNote

# Similar-incident search reads at most this many notes per incident (the newest), this long each.
NOTES_PER_INCIDENT = 20
NOTE_TEXT_FOR_SEARCH = 500


@dataclass(frozen=True, slots=True)
class StoredNote:
    incident_id: int
    at: datetime
    actor: str | None
    data: dict[str, object]

    @property
    def text(self) -> str:
        return str(self.data.get("note") or "")


class NoteRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self, incident_id: int, *, at: datetime, actor: str | None, data: NoteData, now: datetime
    ) -> bool:
        """Put the message on the incident's timeline; ``False`` when it is there already (its key)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        key = {
            "channel": data["channel"][:64],
            "message_ts": data["ts"][:32],
            "incident_id": incident_id,
            "created_at": now,
        }
        stmt = dialect.insert(TimelineNote).values(**key).on_conflict_do_nothing()
        if self.conn.execute(stmt.returning(TimelineNote.channel)).first() is None:
            return False
        self.conn.execute(
            insert(TimelineEvent),
            {
                "incident_id": incident_id,
                "at": at,
                "kind": TimelineKind.NOTE_ADDED,
                "actor": clip(actor, USER_LENGTH),
                "data": dict(data),
                "created_at": now,
            },
        )
        return True

    def of_incident(self, incident_id: int) -> list[StoredNote]:
        """The incident's captured notes in time order."""
        stmt = (
            select(TimelineEvent.incident_id, TimelineEvent.at, TimelineEvent.actor, TimelineEvent.data)
            .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == TimelineKind.NOTE_ADDED)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
        return [StoredNote(r.incident_id, r.at, r.actor, dict(r.data or {})) for r in self.conn.execute(stmt)]

    def texts(self, incident_ids: Sequence[int]) -> Mapping[int, list[str]]:
        """Each incident's note texts (the newest ``NOTES_PER_INCIDENT``, cut for search), oldest first."""
        if not incident_ids:
            return {}
        stmt = (
            select(TimelineEvent.incident_id, TimelineEvent.data)
            .where(
                TimelineEvent.incident_id.in_(list(incident_ids)),
                TimelineEvent.kind == TimelineKind.NOTE_ADDED,
            )
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
        found: dict[int, list[str]] = {}
        for incident_id, data in self.conn.execute(stmt):
            text = str((data or {}).get("note") or "").strip()
            if text:
                found.setdefault(incident_id, []).append(text[:NOTE_TEXT_FOR_SEARCH])
        return {key: texts[-NOTES_PER_INCIDENT:] for key, texts in found.items()}
