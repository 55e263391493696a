"""One normalizer per alert source: a webhook body in, validated ``AlertRecord``s out (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analytics.records import AlertRecord
from bot.normalize import alertmanager, generic, grafana


@dataclass(frozen=True, slots=True)
class Batch:
    """What one webhook delivered: its alerts, and how many the sender says it left out."""

    alerts: list[AlertRecord]
    truncated: int = 0


Normalizer = Callable[[bytes, Sequence[str]], tuple[list[AlertRecord], int]]

NORMALIZERS: dict[str, Normalizer] = {
    alertmanager.SOURCE: alertmanager.normalize,
    grafana.SOURCE: grafana.normalize,
    generic.SOURCE: generic.normalize,
}


def normalize(source: str, body: bytes, group_by: Sequence[str]) -> Batch:
    """Parse and validate ``body`` as sent by ``source``; raises a ``PayloadError`` naming the problem."""
    alerts, truncated = NORMALIZERS[source](body, group_by)
    return Batch(alerts=alerts, truncated=truncated)
