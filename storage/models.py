"""The SQL schema as typed SQLAlchemy 2 models: incidents, alerts, timeline, outbox, feedback, drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from analytics.records import OutboxStatus, SilenceTarget
from storage.types import JSONType, UTCDateTime

# Constraint names are fixed so Alembic migrations name the same things on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Column widths, defined once: repositories cut text to them (``storage.incidents.clip``).
GROUP_KEY_LENGTH = 1024
TITLE_LENGTH = 512
ALERTNAME_LENGTH = 255
SERVICE_LENGTH = 255
USER_LENGTH = 255
FINGERPRINT_LENGTH = 128
SOURCE_SEVERITY_LENGTH = 64
MODEL_VERSION_LENGTH = 64

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        datetime: UTCDateTime(),
    }


class Incident(Base):
    """A group of related alerts that people act on together: one Slack thread each."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(GROUP_KEY_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    alertname: Mapped[str] = mapped_column(String(ALERTNAME_LENGTH))  # of the alert that opened it
    service: Mapped[str | None] = mapped_column(String(SERVICE_LENGTH))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # IncidentStatus
    severity: Mapped[str] = mapped_column(String(8))  # Severity
    severity_source: Mapped[str] = mapped_column(String(16))  # SeveritySource
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(64))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    firing_count: Mapped[int] = mapped_column(Integer, default=0)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    last_alert_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # Escalation (bot.incidents.escalation): reminders sent while nobody acknowledged, the last one's time
    # (the compare-and-set guard that makes one reminder per interval across processes), and the last
    # pager event queued (PagerState; NULL: never paged).
    renotify_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    renotified_at: Mapped[datetime | None]
    pager_state: Mapped[str | None] = mapped_column(String(16))
    # The primary of the related incidents this one belongs to (``bot.incidents.correlation``); None: it is
    # a primary itself, or related to nothing. Its Slack posts go into the primary's thread.
    related_to: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("ix_incidents_group_key_id", "group_key", "id"),
        Index("ix_incidents_pager_state", "pager_state"),
        Index("ix_incidents_related_to", "related_to"),
        Index("ix_incidents_status_opened_at", "status", "opened_at"),
        Index("ix_incidents_opened_at", "opened_at"),
        Index("ix_incidents_alertname_id", "alertname", "id"),
        Index("ix_incidents_service_id", "service", "id"),
    )


class Alert(Base):
    """One firing of one alert (a fingerprint and a start time), with its latest status."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    group_key: Mapped[str] = mapped_column(String(GROUP_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_LENGTH))
    status: Mapped[str] = mapped_column(String(16))  # AlertStatus
    alertname: Mapped[str] = mapped_column(String(ALERTNAME_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    service: Mapped[str | None] = mapped_column(String(SERVICE_LENGTH))
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    generator_url: Mapped[str | None] = mapped_column(Text)
    expression: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    severity: Mapped[str] = mapped_column(String(8))
    source_severity: Mapped[str | None] = mapped_column(String(SOURCE_SEVERITY_LENGTH))
    probabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    model_version: Mapped[str] = mapped_column(String(64))
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("source", "group_key", "fingerprint", "starts_at", name="uq_alerts_identity"),
        Index("ix_alerts_incident_id", "incident_id"),
        Index("ix_alerts_fingerprint_status", "fingerprint", "status"),
        Index("ix_alerts_service_starts_at", "service", "starts_at"),
        Index("ix_alerts_group_key_starts_at", "group_key", "starts_at"),
    )


class TimelineEvent(Base):
    """Something that happened to an incident, at the time it happened (event time, not arrival)."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_timeline_events_incident_id_at", "incident_id", "at"),)


class OutboxMessage(Base):
    """A side effect (Slack post, LLM draft) promised in the same transaction as the data it is about."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(32))  # OutboxTopic
    kind: Mapped[str] = mapped_column(String(48))  # OutboxKind
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    # A fresh token per claim: completing, retrying or failing a row needs the token of the current claim,
    # so a worker whose lease ran out (and was taken over) changes nothing.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    parked_reason: Mapped[str | None] = mapped_column(String(64))  # Slack's error code, e.g. token_revoked
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_incident_id_id", "incident_id", "id"),
        Index("ix_outbox_status_done_at", "status", "done_at"),  # retention prunes finished rows by age
    )


class Feedback(Base):
    """A person's correction of a severity (or "not actionable"): a labelled example for the model."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # FeedbackKind
    alertname: Mapped[str] = mapped_column(String(ALERTNAME_LENGTH))
    user: Mapped[str] = mapped_column(String(USER_LENGTH))
    old_severity: Mapped[str | None] = mapped_column(String(8))
    new_severity: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_feedback_incident_id", "incident_id"),
        Index("ix_feedback_alertname", "alertname"),
    )


class ModelVersion(Base):
    """A trained severity model: its metrics, what it was trained on, and its artifact."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # ModelStatus
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    features: Mapped[list[Any]] = mapped_column(default=list)
    training_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sklearn_version: Mapped[str] = mapped_column(String(32))
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    promoted_at: Mapped[datetime | None]


class Draft(Base):
    """A draft for an incident (summary, runbook suggestions, resolution) from an LLM or a template."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # DraftKind
    source: Mapped[str] = mapped_column(String(16))  # DraftSource
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_name: Mapped[str | None] = mapped_column(String(64))
    prompt_version: Mapped[str | None] = mapped_column(String(32))
    input_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_drafts_incident_id_kind", "incident_id", "kind"),)


class LlmCall(Base):
    """One call (or refused call) to the drafting LLM: what was asked, of whom, what it cost, how it ended."""

    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    prompt_name: Mapped[str] = mapped_column(String(64))
    prompt_version: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16))  # LlmOutcome
    error: Mapped[str | None] = mapped_column(Text)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    prompt: Mapped[str | None] = mapped_column(Text)  # exactly what was (or would have been) sent: redacted
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_llm_calls_created_at", "created_at"),)


class Silence(Base):
    """A silence of incidents matching ``matchers`` ([{"name", "op", "value"}]) until ``expires_at``.

    ``target`` sevbot: no Slack posts for them. Alertmanager or Grafana: the silence lives there (its id
    ``remote_id``) and stops every receiver's notifications; the row records that sevbot made it, for
    which incident, so ``/incident silences`` and ``silence remove`` find it.
    """

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    matchers: Mapped[list[Any]]
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    target: Mapped[str] = mapped_column(
        String(16), default=SilenceTarget.SEVBOT, server_default=SilenceTarget.SEVBOT.value
    )  # SilenceTarget
    remote_id: Mapped[str | None] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("ix_silences_expires_at", "expires_at"),
        Index("ix_silences_remote_id", "remote_id"),
    )


class SlackEvent(Base):
    """An Events API delivery already handled: Slack's retries of it (``X-Slack-Retry-Num``) are dropped."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]

    __table_args__ = (Index("ix_slack_events_received_at", "received_at"),)


class SlackChannelPace(Base):
    """When each Slack channel may get its next post: one message per interval across all workers."""

    __tablename__ = "slack_channel_pace"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[datetime]


class SlackThread(Base):
    """Per-incident thread state: the channel as routed (its pacing key) and when the last "alerts joined"
    reply went out (those replies are batched)."""

    __tablename__ = "slack_threads"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    last_joined_reply_at: Mapped[datetime | None]
    channel_key: Mapped[str | None] = mapped_column(String(255))  # the channel as routed: its pacing key
    flap_reply_ts: Mapped[str | None] = mapped_column(String(32))  # the one reply a flapping incident updates


class Heartbeat(Base):
    """When an always-firing alert (Watchdog) last arrived from a source; the incident its silence opened."""

    __tablename__ = "heartbeats"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    alertname: Mapped[str] = mapped_column(String(ALERTNAME_LENGTH), primary_key=True)
    last_seen_at: Mapped[datetime]
    silent_incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class TimelineNote(Base):
    """A Slack message captured onto an incident's timeline, once: its channel and ``ts`` are the key, so
    Slack's retries and a second 📌 of the same message add nothing (the note is the ``note.added`` event)."""

    __tablename__ = "timeline_notes"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_timeline_notes_incident_id", "incident_id"),)
