"""The model registry (storage/registry.py), on SQLite and PostgreSQL: versions with their artifacts, one
active model, promotion retiring the one before, and rollback returning to it without bouncing back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from analytics.records import ModelStatus
from storage.db import Database
from storage.registry import ModelInfo, ModelRepository
from tests.support.payloads import T0

HOUR = timedelta(hours=1)


def register(db: Database, *versions: str, artifact: bytes = b"\x00model\xff") -> None:
    with db.write() as conn:
        for n, version in enumerate(versions):
            ModelRepository(conn).add(
                version=version,
                artifact=artifact,
                metrics={"macro_f1": 0.5 + n / 100},
                features=["severity_label"],
                training_summary={"n_examples": 100 + n},
                sklearn_version="1.7.0",
                now=T0 + n * HOUR,
            )


def statuses(db: Database) -> dict[str, str]:
    with db.read() as conn:
        return {info.version: info.status for info in ModelRepository(conn).all()}


def test_a_registered_model_is_a_candidate_listed_newest_first_with_its_artifact(db: Database) -> None:
    register(db, "m1", "m2")

    with db.read() as conn:
        repo = ModelRepository(conn)
        listed = repo.all()
        artifact = repo.artifact("m1")
        assert repo.get("nope") is None and repo.artifact("nope") is None
        assert repo.active() is None

    assert [info.version for info in listed] == ["m2", "m1"]
    assert listed[1] == ModelInfo(
        version="m1",
        status=ModelStatus.CANDIDATE,
        metrics={"macro_f1": 0.5},
        training_summary={"n_examples": 100},
        sklearn_version="1.7.0",
        created_at=T0,
        promoted_at=None,
    )
    assert artifact == b"\x00model\xff"  # bytes round trip, zero bytes included


def test_a_version_is_registered_once(db: Database) -> None:
    register(db, "m1")

    with pytest.raises(IntegrityError):
        register(db, "m1")


def test_promoting_a_model_retires_the_one_active_before(db: Database) -> None:
    register(db, "m1", "m2", "m3")

    with db.write() as conn:
        ModelRepository(conn).promote("m1", now=T0)
    with db.write() as conn:
        ModelRepository(conn).promote("m2", now=T0 + HOUR)

    assert statuses(db) == {"m1": "retired", "m2": "active", "m3": "candidate"}
    with db.read() as conn:
        active = ModelRepository(conn).active()
    assert active is not None and (active.version, active.promoted_at) == ("m2", T0 + HOUR)


def test_promoting_an_unknown_version_is_refused_and_changes_nothing(db: Database) -> None:
    register(db, "m1")
    with db.write() as conn:
        ModelRepository(conn).promote("m1", now=T0)

    with pytest.raises(KeyError, match="nope"), db.write() as conn:
        ModelRepository(conn).promote("nope", now=T0)

    assert statuses(db) == {"m1": "active"}


def test_rollback_returns_to_the_model_active_before_and_marks_the_current_one(db: Database) -> None:
    register(db, "m1", "m2", "m3")
    for n, version in enumerate(("m1", "m2", "m3")):
        with db.write() as conn:
            ModelRepository(conn).promote(version, now=T0 + n * HOUR)

    with db.write() as conn:
        first = ModelRepository(conn).rollback(now=T0 + 5 * HOUR)
    assert first == "m2"
    assert statuses(db) == {"m1": "retired", "m2": "active", "m3": "rolled-back"}

    with db.write() as conn:
        second = ModelRepository(conn).rollback(now=T0 + 6 * HOUR)
    assert second == "m1"  # further back, not bouncing to m3
    assert statuses(db) == {"m1": "active", "m2": "rolled-back", "m3": "rolled-back"}


def test_rollback_with_nothing_before_leaves_the_active_model(db: Database) -> None:
    register(db, "m1", "m2")
    with db.write() as conn:
        assert ModelRepository(conn).rollback(now=T0) is None  # nothing was ever promoted
        ModelRepository(conn).promote("m1", now=T0)
    with db.write() as conn:
        assert ModelRepository(conn).rollback(now=T0 + HOUR) is None  # nothing active before m1

    assert statuses(db) == {"m1": "active", "m2": "candidate"}
