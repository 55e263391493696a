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
    INCIDENT_RENOTIFIED = "incident.renotified"  # nobody acknowledged in time: the owner was reminded
    PAGER_SENT = "pager.sent"  # an event for the pager was queued (trigger, acknowledge, resolve)
    SILENCE_ADDED = "silence.added"  # data: silence (sevbot's id), target, remote_id, ends_at, matchers
    SILENCE_REMOVED = "silence.removed"  # data: silence, target, remote_id
    NOTE_ADDED = "note.added"  # a Slack message captured from the thread (shortcut or 📌): NoteData


class SilenceTarget(enum.StrEnum):
    """Where a silence lives (``silences.target``): sevbot's own (mutes its Slack posts only), or at the
    source: Alertmanager, or Grafana's Alertmanager-compatible API (stops every receiver's notifications)."""

    SEVBOT = "sevbot"
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"


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
    PAGERDUTY = "pagerduty"  # PagerDuty's Events API v2
    WEBHOOK = "webhook"  # a generic outgoing webhook (JSON)


class OutboxKind(enum.StrEnum):
    INCIDENT_OPENED = "incident.opened"  # slack: post the root message
    INCIDENT_UPDATED = "incident.updated"  # slack: a thread reply about changes, and the root updated
    INCIDENT_DRAFT = "incident.draft"  # slack: a finished draft into the thread
    DRAFT_REQUESTED = "draft.requested"  # llm: write a draft
    INCIDENT_RENOTIFY = "incident.renotify"  # slack: a new thread reply mentioning the owner (no ack yet)
    PAGER_EVENT = "pager.event"  # pagerduty / webhook: trigger, acknowledge or resolve


class OutboxStatus(enum.StrEnum):
    """An outbox row's state: pending (queued or claimed), done, failed for good, or parked.

    A parked row hit an error only a person can fix (a revoked token, the bot not in the channel): it is
    kept, holds back its incident's later rows, and goes again after ``sevbot outbox retry --parked``.
    """

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    PARKED = "parked"


class PagerAction(enum.StrEnum):
    """What a pager is told about an incident (PagerDuty's ``event_action``)."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class PagerState(enum.StrEnum):
    """The last pager event queued for an incident (``incidents.pager_state``; NULL: never paged)."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class FeedbackKind(enum.StrEnum):
    """A person's rating of an incident: a severity, or "not actionable"."""

    SEVERITY = "severity"
    NOISE = "noise"


class DraftKind(enum.StrEnum):
    SUMMARY = "summary"
    RUNBOOK = "runbook"
    RESOLUTION = "resolution"
    POSTMORTEM = "postmortem"  # Markdown, posted to the thread as a file and served by the API


class DraftReason(enum.StrEnum):
    """Why a draft was asked for (automatic ones are paced; a person's request is not)."""

    OPENED = "opened"
    SEVERITY = "severity"
    ALERTS = "alerts"
    RESOLVED = "resolved"
    COMMAND = "command"


class NoteVia(enum.StrEnum):
    """How a thread message was captured onto the timeline."""

    SHORTCUT = "shortcut"  # the "Add to incident timeline" message shortcut
    REACTION = "reaction"  # a 📌 (:pushpin:) reaction


class NoteData(TypedDict):
    """``note.added`` timeline data: the captured message (its text plain, capped) and who captured it.

    The event's ``actor`` is the message's author when a person wrote it; ``author`` says who wrote it
    as shown (a user id, or a bot's name), ``captured_by`` the person who pinned it.
    """

    note: str
    author: str
    channel: str
    ts: str
    via: NoteVia
    captured_by: str


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
        # What tells this alert from its siblings (pod, instance, mountpoint …): "joined: X on pod a, b".
        "labels": NotRequired[dict[str, str]],
        "firing": NotRequired[int],  # a person's resolve: how many alerts were still firing
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


class RenotifyPayload(TypedDict):
    """``incident.renotify``: the n-th reminder of this open period, and how long nobody has acknowledged."""

    count: int
    unacked_seconds: int


class PagerPayload(TypedDict):
    """``pager.event``: what the pagerduty and webhook sinks send, fixed when the event was queued."""

    action: PagerAction
    dedup_key: str
    summary: str
    severity: str  # sevbot's level (SEV1 …); the PagerDuty sink maps it to critical/error/warning/info
    status: str  # the incident's status when the event was queued
    service: str | None
    source: str
    at: str  # ISO 8601, when the event was queued
    reason: str  # "opened", "unacknowledged", "acknowledged", "resolved"


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
