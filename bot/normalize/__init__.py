"""One normalizer per alert source: a webhook body in, validated ``AlertRecord``s out (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from analytics.records import AlertRecord
from bot.normalize import alertmanager, generic, grafana


@dataclass(frozen=True, slots=True)
class Batch:
    """What one webhook delivered: its alerts, and how many the sender says it left out."""

    alerts: list[AlertRecord]
    truncated: int = 0


# (body, group_by, now): ``now`` is sevbot's clock, for times a sender's clock cannot have reached yet.
Normalizer = Callable[[bytes, Sequence[str], datetime | None], tuple[list[AlertRecord], int]]

NORMALIZERS: dict[str, Normalizer] = {
    alertmanager.SOURCE: alertmanager.normalize,
    grafana.SOURCE: grafana.normalize,
    generic.SOURCE: generic.normalize,
}


def normalize(source: str, body: bytes, group_by: Sequence[str], *, now: datetime | None = None) -> Batch:
    """Parse and validate ``body`` as sent by ``source``; raises a ``PayloadError`` naming the problem.

    With ``now``, a start or resolution more than an hour after it is refused too (``common.alert_times``)."""
    alerts, truncated = NORMALIZERS[source](body, group_by, now)
    return Batch(alerts=alerts, truncated=truncated)
