"""The model registry in SQL: every trained severity model as a version, and which one is active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from analytics.records import ModelStatus
from storage.models import ModelVersion


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A registered model without its artifact (cheap to list)."""

    version: str
    status: str  # ModelStatus
    metrics: dict[str, Any]
    training_summary: dict[str, Any]
    sklearn_version: str
    created_at: datetime
    promoted_at: datetime | None


_INFO_COLUMNS = (
    ModelVersion.version,
    ModelVersion.status,
    ModelVersion.metrics,
    ModelVersion.training_summary,
    ModelVersion.sklearn_version,
    ModelVersion.created_at,
    ModelVersion.promoted_at,
)


class ModelRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        *,
        version: str,
        artifact: bytes,
        metrics: dict[str, Any],
        features: list[Any],
        training_summary: dict[str, Any],
        sklearn_version: str,
        now: datetime,
    ) -> None:
        self.conn.execute(
            insert(ModelVersion).values(
                version=version,
                status=ModelStatus.CANDIDATE,
                artifact=artifact,
                metrics=metrics,
                features=features,
                training_summary=training_summary,
                sklearn_version=sklearn_version,
                created_at=now,
            )
        )

    def all(self) -> list[ModelInfo]:
        rows = self.conn.execute(select(*_INFO_COLUMNS).order_by(ModelVersion.id.desc()))
        return [ModelInfo(**row._mapping) for row in rows]

    def get(self, version: str) -> ModelInfo | None:
        row = self.conn.execute(select(*_INFO_COLUMNS).where(ModelVersion.version == version)).first()
        return ModelInfo(**row._mapping) if row else None

    def active(self) -> ModelInfo | None:
        row = self.conn.execute(
            select(*_INFO_COLUMNS).where(ModelVersion.status == ModelStatus.ACTIVE)
        ).first()
        return ModelInfo(**row._mapping) if row else None

    def artifact(self, version: str) -> bytes | None:
        found = self.conn.execute(
            select(ModelVersion.artifact).where(ModelVersion.version == version)
        ).first()
        return bytes(found[0]) if found else None

    def promote(self, version: str, *, now: datetime) -> None:
        """Make ``version`` the active model; the one active before is retired (and can be rolled back to)."""
        if self.get(version) is None:
            raise KeyError(version)
        self.conn.execute(
            update(ModelVersion)
            .where(ModelVersion.status == ModelStatus.ACTIVE, ModelVersion.version != version)
            .values(status=ModelStatus.RETIRED)
        )
        self.conn.execute(
            update(ModelVersion)
            .where(ModelVersion.version == version)
            .values(status=ModelStatus.ACTIVE, promoted_at=now)
        )

    def rollback(self, *, now: datetime) -> str | None:
        """Re-activate the model that was active before the current one; returns its version, or None."""
        current = self.active()
        previous = self.conn.execute(
            select(ModelVersion.version)
            .where(ModelVersion.promoted_at.is_not(None), ModelVersion.status == ModelStatus.RETIRED)
            .order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if previous is None:
            return None
        if current is not None:
            # The rolled-back model is marked so that a later rollback does not bounce back to it.
            self.conn.execute(
                update(ModelVersion)
                .where(ModelVersion.version == current.version)
                .values(status=ModelStatus.ROLLED_BACK)
            )
        self.conn.execute(
            update(ModelVersion)
            .where(ModelVersion.version == previous)
            .values(status=ModelStatus.ACTIVE, promoted_at=now)
        )
        return str(previous)
