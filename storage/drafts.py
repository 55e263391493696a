"""Drafts and the record of LLM calls in SQL: the cache by input hash and the sums budgets are checked on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from analytics.records import LlmOutcome, OutboxKind, OutboxStatus, OutboxTopic
from storage.models import Draft, LlmCall, OutboxMessage

# Outcomes that reached the endpoint (and so count against the calls-per-hour budget).
CALLED_OUTCOMES = (LlmOutcome.OK, LlmOutcome.TIMEOUT, LlmOutcome.ERROR)


@dataclass(frozen=True, slots=True)
class StoredDraft:
    id: int
    incident_id: int
    kind: str
    source: str
    model: str | None
    prompt_name: str | None
    prompt_version: str | None
    input_hash: str
    text: str
    created_at: datetime


_DRAFT_COLUMNS = (
    Draft.id,
    Draft.incident_id,
    Draft.kind,
    Draft.source,
    Draft.model,
    Draft.prompt_name,
    Draft.prompt_version,
    Draft.input_hash,
    Draft.text,
    Draft.created_at,
)


class DraftRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_draft(self, values: Mapping[str, Any]) -> int:
        return int(self.conn.execute(insert(Draft).returning(Draft.id), dict(values)).scalar_one())

    def add_call(self, values: Mapping[str, Any]) -> None:
        self.conn.execute(insert(LlmCall), dict(values))

    def get(self, draft_id: int) -> StoredDraft | None:
        row = self.conn.execute(select(*_DRAFT_COLUMNS).where(Draft.id == draft_id)).first()
        return StoredDraft(**row._mapping) if row else None

    def by_hash(self, incident_id: int, kind: str, input_hash: str) -> StoredDraft | None:
        """The newest draft made from exactly this input (the cache)."""
        stmt = (
            select(*_DRAFT_COLUMNS)
            .where(Draft.incident_id == incident_id, Draft.kind == kind, Draft.input_hash == input_hash)
            .order_by(Draft.id.desc())
            .limit(1)
        )
        row = self.conn.execute(stmt).first()
        return StoredDraft(**row._mapping) if row else None

    def latest(self, incident_id: int, kind: str) -> StoredDraft | None:
        stmt = (
            select(*_DRAFT_COLUMNS)
            .where(Draft.incident_id == incident_id, Draft.kind == kind)
            .order_by(Draft.id.desc())
            .limit(1)
        )
        row = self.conn.execute(stmt).first()
        return StoredDraft(**row._mapping) if row else None

    def of_incident(self, incident_id: int) -> list[StoredDraft]:
        stmt = select(*_DRAFT_COLUMNS).where(Draft.incident_id == incident_id).order_by(Draft.id)
        return [StoredDraft(**row._mapping) for row in self.conn.execute(stmt)]

    def calls_since(self, since: datetime) -> int:
        """Calls that reached the endpoint since ``since`` (cache hits and refusals do not count)."""
        stmt = (
            select(func.count())
            .select_from(LlmCall)
            .where(LlmCall.created_at >= since, LlmCall.outcome.in_(CALLED_OUTCOMES))
        )
        return int(self.conn.execute(stmt).scalar_one())

    def tokens_since(self, since: datetime) -> int:
        stmt = select(func.coalesce(func.sum(LlmCall.tokens_in + LlmCall.tokens_out), 0)).where(
            LlmCall.created_at >= since
        )
        return int(self.conn.execute(stmt).scalar_one())

    def forget_prompts(self, *, before: datetime, limit: int = 1000) -> int:
        """Clear the prompt text of up to ``limit`` calls made before ``before``; their figures (model,
        tokens, latency, outcome, input hash) stay for budgets and reports."""
        ids = (
            select(LlmCall.id)
            .where(LlmCall.created_at < before, LlmCall.prompt.is_not(None))
            .order_by(LlmCall.id)
            .limit(limit)
        )
        result = self.conn.execute(
            update(LlmCall).where(LlmCall.id.in_(ids.scalar_subquery())).values(prompt=None)
        )
        return int(result.rowcount)

    def outcomes(self) -> dict[str, int]:
        stmt = select(LlmCall.outcome, func.count()).group_by(LlmCall.outcome)
        return {outcome: int(n) for outcome, n in self.conn.execute(stmt)}

    def queued_at(self, message_id: int) -> datetime | None:
        """When an outbox row (a draft request) was queued; ``None`` once it is gone."""
        found: datetime | None = self.conn.execute(
            select(OutboxMessage.created_at).where(OutboxMessage.id == message_id)
        ).scalar_one_or_none()
        return found

    def newer_request_pending(self, message_id: int, incident_id: int, kind: str) -> bool:
        """Whether a later, still pending ``draft.requested`` row asks for the same incident and kind."""
        stmt = select(OutboxMessage.payload).where(
            OutboxMessage.incident_id == incident_id,
            OutboxMessage.topic == OutboxTopic.LLM,
            OutboxMessage.kind == OutboxKind.DRAFT_REQUESTED,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.id > message_id,
        )
        return any(payload.get("kind") == kind for payload in self.conn.execute(stmt).scalars())
