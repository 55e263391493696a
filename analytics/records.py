"""sevbot's shared vocabulary: the alert record, the words that cross module boundaries, outbox payloads.

Standard library only: this is the one module of ours that ``storage`` may import too, so the values stored
in status and kind columns are spelled here once. Every enum is a ``StrEnum`` whose values are exactly the
column (or JSON) values, so a member compares equal to what the database returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict


class Severity(enum.StrEnum):
    """Four levels, most urgent first: SEV1 pages now, SEV4 is information."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 for SEV1 … 4 for SEV4: lower is more urgent."""
        return int(self.value[-1])


SEVERITIES: tuple[Severity, ...] = tuple(Severity)
# How each level reads in words (keyed by the column value, so a stored severity looks it up directly).
SEVERITY_WORDS: dict[str, str] = {
    Severity.SEV1: "page now",
    Severity.SEV2: "high",
    Severity.SEV3: "warning",
    Severity.SEV4: "info",
}


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class SeveritySource(enum.StrEnum):
    """Who set an incident's severity: the rule scorer, the model, or a person (whose word sticks)."""

    RULES = "rules"
    MODEL = "model"
    HUMAN = "human"


class TimelineKind(enum.StrEnum):
    """What happened to an incident (``timeline_events.kind``)."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_REOPENED = "incident.reopened"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_FLAPPING = "incident.flapping"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_NOISE = "incident.noise"
    ALERT_FIRING = "alert.firing"
    ALERT_REFIRED = "alert.refired"
    ALERT_RESOLVED = "alert.resolved"
    SEVERITY_CHANGED = "severity.changed"
    SEVERITY_CONFIRMED = "severity.confirmed"


class ChangeKind(enum.StrEnum):
    """What a thread update reports (``Change.kind``): timeline kinds people see, plus joined alerts."""

    ALERT_JOINED = "alert.joined"
    ALERT_REFIRED = "alert.refired"  # an alert already seen fired again (flapping shows as one alert)
    ALERT_RESOLVED = "alert.resolved"
    INCIDENT_RELATED = "incident.related"  # a related incident joined this one's story (its primary)
    INCIDENT_REOPENED = "incident.reopened"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_FLAPPING = "incident.flapping"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_NOISE = "incident.noise"
    SEVERITY_CHANGED = "severity.changed"


class OutboxTopic(enum.StrEnum):
    """Which sink delivers an outbox row."""

    SLACK = "slack"
    LLM = "llm"


class OutboxKind(enum.StrEnum):
    INCIDENT_OPENED = "incident.opened"  # slack: post the root message
    INCIDENT_UPDATED = "incident.updated"  # slack: a thread reply about changes, and the root updated
    INCIDENT_DRAFT = "incident.draft"  # slack: a finished draft into the thread
    DRAFT_REQUESTED = "draft.requested"  # llm: write a draft


class OutboxStatus(enum.StrEnum):
    """An outbox row's state: pending (queued or claimed), done, failed for good, or parked.

    A parked row hit an error only a person can fix (a revoked token, the bot not in the channel): it is
    kept, holds back its incident's later rows, and goes again after ``sevbot outbox retry --parked``.
    """

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    PARKED = "parked"


class FeedbackKind(enum.StrEnum):
    """A person's rating of an incident: a severity, or "not actionable"."""

    SEVERITY = "severity"
    NOISE = "noise"


class DraftKind(enum.StrEnum):
    SUMMARY = "summary"
    RUNBOOK = "runbook"
    RESOLUTION = "resolution"


class DraftReason(enum.StrEnum):
    """Why a draft was asked for (automatic ones are paced; a person's request is not)."""

    OPENED = "opened"
    SEVERITY = "severity"
    ALERTS = "alerts"
    RESOLVED = "resolved"
    COMMAND = "command"


class DraftSource(enum.StrEnum):
    LLM = "llm"
    TEMPLATE = "template"


class LlmOutcome(enum.StrEnum):
    """How one draft request ended (``llm_calls.outcome``)."""

    OK = "ok"
    CACHED = "cached"
    TIMEOUT = "timeout"
    ERROR = "error"
    BUDGET = "budget"
    DISABLED = "disabled"


class ScorerOrigin(enum.StrEnum):
    """Where the serving scorer came from (``/readyz``, ``sevbot_model_info``)."""

    REGISTRY = "registry"  # the registry's active model
    BUNDLED = "bundled"  # the model shipped with sevbot
    RULES = "rules"  # the source's words only (the model is off or could not load)
    GIVEN = "given"  # passed in by the caller (tests, benchmarks)


class ModelStatus(enum.StrEnum):
    """A registered model's place: trained, serving, replaced, or taken back by a rollback."""

    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    ROLLED_BACK = "rolled-back"


class StoredReason(TypedDict):
    """One reason for a severity as stored with the alert and the incident (JSON): words and contribution."""

    text: str
    weight: float


# --- outbox payloads (JSON in ``outbox.payload``) ---------------------------------------------------


# One thing a thread update tells people; which optional keys it has depends on the kind
# ("from"/"to" for severity.changed, hence the functional form: they are not identifiers).
Change = TypedDict(
    "Change",
    {
        "kind": ChangeKind,
        "alertname": NotRequired[str],
        "title": NotRequired[str],
        "by": NotRequired[str],  # the person who acted (absent when the alerts did it)
        "note": NotRequired[str],
        "reason": NotRequired[str],
        "from": NotRequired[str],
        "to": NotRequired[str],
        "related_id": NotRequired[int],  # incident.related: the incident that joined the story
        "until": NotRequired[str],  # incident.noise: the silence it set, until then (ISO time)
    },
)


class OpenedPayload(TypedDict, total=False):
    """``incident.opened``: empty for a primary; a related incident names its primary and whether its
    post carries the story's single SEV1 mention (``bot.incidents.correlation``)."""

    related_to: int
    page: bool


class UpdatePayload(TypedDict):
    """``incident.updated``: the changes (the first 50) and how many there were."""

    changes: list[Change]
    count: int


class DraftRequestPayload(TypedDict):
    """``draft.requested``: which draft, why, and who asked (None: sevbot itself). ``resolved_at``: a
    flapping incident's resolution draft, written only if it is still resolved since then (ISO time)."""

    kind: DraftKind
    reason: DraftReason
    requested_by: str | None
    resolved_at: NotRequired[str]


class DraftPayload(TypedDict):
    """``incident.draft``: a stored draft to post in the incident's thread (its text too, for the console)."""

    draft_id: int
    kind: DraftKind
    source: DraftSource
    model: str | None
    label: str  # "AI draft (model)" or "Template draft": a draft is always labelled as one
    text: str
    requested_by: str | None


def severity_change(before: str, after: str, *, by: str | None = None, reason: str | None = None) -> Change:
    """A ``severity.changed`` change, with who changed it and why when a person did."""
    change: Change = {"kind": ChangeKind.SEVERITY_CHANGED, "from": before, "to": after}
    if by:
        change["by"] = by
    if reason:
        change["reason"] = reason
    return change


# --- the alert record ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert as sevbot sees it, whichever tool sent it.

    ``starts_at`` is ``None`` only for generic alerts that gave no start time: ingestion then
    matches them to the alert already firing under the same fingerprint, or starts them now.
    """

    source: str
    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    group_key: str
    generator_url: str | None = None
    expression: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname") or self.annotations.get("title") or "unnamed alert"

    @property
    def service(self) -> str | None:
        for key in ("service", "job", "app", "container"):
            value = self.labels.get(key)
            if value:
                return value
        return None

    @property
    def title(self) -> str:
        """A one-line human title: the summary annotation when there is one, else the alert name."""
        for key in ("summary", "title", "message"):
            value = self.annotations.get(key)
            if value:
                return value.splitlines()[0][:200]
        return self.alertname
