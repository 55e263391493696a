"""The one wall clock: timezone-aware UTC now (everything else takes a ``clock`` to be testable)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
