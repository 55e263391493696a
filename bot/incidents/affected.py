"""What an incident affects, at a glance: the labels that tell its alerts apart, the scope they share, and
since when they fire (pure; no I/O).

An incident of twenty pods is about those twenty pods: the labels whose values vary across its alerts
(pod, instance, host, mountpoint …) say which, the labels every alert shares (env, cluster, namespace)
say where. Alerts are counted by fingerprint, so an alert that fired again is still one instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from analytics.records import AlertStatus
from analytics.scoring import SEVERITY_LABELS

# Labels that name the thing an alert is about, most telling first.
INSTANCE_KEYS: tuple[str, ...] = (
    "pod",
    "instance",
    "host",
    "hostname",
    "node",
    "mountpoint",
    "device",
    "container",
    "persistentvolumeclaim",
    "job",
)
# Labels that say where (shown when every alert shares them).
SCOPE_KEYS: tuple[str, ...] = ("env", "environment", "cluster", "namespace", "region")
_NEVER_SHOWN = frozenset({"alertname", "service", *SEVERITY_LABELS})
MAX_KEYS = 3  # distinguishing labels shown
MAX_VALUES = 5  # values of one label shown, then "and N more"
MAX_VALUE_CHARS = 100
MAX_CHANGE_LABELS = 6


class AlertFacts(Protocol):
    """One stored firing, as far as "what is affected" needs it (``storage.incident_reads.AlertBrief``)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, Any]: ...
    @property
    def starts_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class LabelValues:
    key: str
    values: tuple[str, ...]  # the first MAX_VALUES, sorted
    total: int  # how many distinct values there are

    @property
    def more(self) -> int:
        return self.total - len(self.values)


@dataclass(frozen=True, slots=True)
class Affected:
    instances: int  # distinct alerts (fingerprints)
    firing: int  # of which still firing
    distinguishing: tuple[LabelValues, ...] = ()
    scope: tuple[tuple[str, str], ...] = ()
    firing_since: datetime | None = None  # the earliest start among firing alerts
    first_values: Mapping[str, str] = field(default_factory=dict)  # the first alert's shown labels

    @property
    def empty(self) -> bool:
        return not self.instances


def _clip(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _ordered(keys: set[str]) -> list[str]:
    preferred = [k for k in INSTANCE_KEYS if k in keys]
    return preferred + sorted(k for k in keys if k not in INSTANCE_KEYS)


def identifying_labels(labels: Mapping[str, object]) -> dict[str, str]:
    """The labels of one alert that may tell it from its siblings (for "joined: X on pod a, b")."""
    found = {k: _clip(labels[k]) for k in INSTANCE_KEYS if labels.get(k) not in (None, "")}
    return dict(list(found.items())[:MAX_CHANGE_LABELS])


def summarize(alerts: Sequence[AlertFacts], *, instances: int | None = None) -> Affected:
    """What ``alerts`` (an incident's firings, newest first, perhaps only the newest few hundred) affect.

    ``instances``: the incident's count of distinct alerts when ``alerts`` is only part of them.
    """
    latest: dict[str, AlertFacts] = {}
    for alert in alerts:  # newest first: the first seen of a fingerprint is its current firing
        latest.setdefault(alert.fingerprint, alert)
    members = list(latest.values())
    if not members:
        return Affected(instances=instances or 0, firing=0)
    firing = [a for a in members if a.status == AlertStatus.FIRING]
    keys = {str(k) for a in members for k in a.labels if not str(k).startswith("__")} - _NEVER_SHOWN
    values = {k: {_clip(a.labels.get(k, "")) for a in members} for k in keys}
    varying = [k for k in _ordered(keys) if len(values[k]) > 1]
    if len(members) == 1:  # nothing varies: name the thing itself (not the job, which names the exporter)
        varying = [k for k in INSTANCE_KEYS if k in keys and k != "job"] or [k for k in ("job",) if k in keys]
    shown = tuple(
        LabelValues(key, tuple(sorted(v for v in values[key] if v)[:MAX_VALUES]), len(values[key] - {""}))
        for key in varying[:MAX_KEYS]
    )
    scope = tuple((k, next(iter(values[k]))) for k in SCOPE_KEYS if k in values and len(values[k]) == 1)
    first = members[-1]  # the oldest current firing
    return Affected(
        instances=max(instances or 0, len(members)),
        firing=len(firing),
        distinguishing=shown,
        scope=tuple((k, v) for k, v in scope if v),
        firing_since=min((a.starts_at for a in firing), default=None),
        first_values={lv.key: _clip(first.labels.get(lv.key, "")) for lv in shown},
    )


def values_text(label: LabelValues) -> str:
    """``pod a, b, c and 17 more`` (plain text; the caller escapes it)."""
    listed = ", ".join(label.values)
    return f"{label.key} {listed}" + (f" and {label.more} more" if label.more > 0 else "")


def title_with_count(title: str, alertname: str, affected: Affected) -> str:
    """The incident's title, saying how many instances it covers when more than one. A title written
    about one of them ("High latency on pod a") gives way to the alert's name."""
    if affected.instances <= 1:
        return title
    base = title.strip().rstrip(".")
    if any(value and value in base for value in affected.first_values.values()):
        base = alertname
    return f"{base} on {affected.instances} instances"
