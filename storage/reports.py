"""The SQL behind reports: one row per incident of a period, resends per rule, feedback, LLM calls.

Times come out of SQL as seconds since the epoch, so no per-row datetime objects are built; rows come back
column by column (``Columns``) for the caller to turn into DataFrames (``bot.reporting``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Float,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)

from storage.models import Alert, Feedback, Incident, LlmCall

_UNIX_EPOCH_JULIAN_DAY = 2440587.5


@dataclass(frozen=True, slots=True)
class Columns:
    """A query's result as its column names and one tuple of values per column."""

    names: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class ReportRows:
    incidents: Columns
    duplicates: Columns
    feedback: Columns
    llm: Columns


def read_report_rows(conn: Connection, *, start: datetime, end: datetime) -> ReportRows:
    """What ``analytics.reports.summarize`` needs for the period, read in four queries."""
    sqlite = conn.dialect.name == "sqlite"

    def seconds(column: Any) -> ColumnElement[float]:
        if sqlite:
            return (func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * literal(86400.0)
        return cast(func.extract("epoch", column), Float)

    opened_at: Any = Incident.opened_at
    if sqlite and _mostly_in_period(conn, start):
        # Reading most of the table through an index costs a lookup per row: SQLite is twice as fast
        # scanning it. ``+column`` is SQLite's way to keep a column from using an index.
        opened_at = type_coerce(literal_column("+incidents.opened_at"), Incident.opened_at.type)
    in_period = (opened_at >= start, opened_at <= end)
    incidents = select(
        Incident.id,
        Incident.alertname,
        Incident.service,
        Incident.severity,
        Incident.status,
        Incident.flapping,
        Incident.alert_count,
        seconds(Incident.opened_at).label("opened_s"),
        seconds(Incident.acknowledged_at).label("acknowledged_s"),
        seconds(Incident.resolved_at).label("resolved_s"),
    ).where(*in_period)
    # Only alerts that were resent reach the GROUP BY: sorting every alert of a busy week for it would
    # cost several times the scan.
    duplicates = (
        select(Alert.alertname, func.sum(Alert.duplicates).label("duplicates"))
        .where(Alert.starts_at >= start, Alert.starts_at <= end, Alert.duplicates > 0)
        .group_by(Alert.alertname)
    )
    feedback = (
        select(
            Feedback.id,
            Feedback.incident_id,
            Feedback.kind,
            Feedback.old_severity,
            Feedback.new_severity,
            Incident.severity.label("incident_severity"),
        )
        .join(Incident, Incident.id == Feedback.incident_id)
        .where(*in_period)
        .order_by(Feedback.id)
    )
    llm = (
        select(
            LlmCall.outcome,
            func.count().label("calls"),
            func.coalesce(func.sum(LlmCall.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(LlmCall.tokens_out), 0).label("tokens_out"),
        )
        .where(LlmCall.created_at >= start, LlmCall.created_at <= end)
        .group_by(LlmCall.outcome)
    )
    return ReportRows(
        incidents=_columns(conn, incidents),
        duplicates=_columns(conn, duplicates),
        feedback=_columns(conn, feedback),
        llm=_columns(conn, llm),
    )


def _mostly_in_period(conn: Connection, start: datetime) -> bool:
    """Whether more than a quarter of all incidents opened after ``start`` (two index-only counts)."""
    total = conn.execute(select(func.count()).select_from(Incident)).scalar_one()
    recent = conn.execute(select(func.count()).where(Incident.opened_at >= start)).scalar_one()
    return bool(total) and recent * 4 > total


def _columns(conn: Connection, stmt: Executable) -> Columns:
    """Rows turned into columns (building a DataFrame per column is 5x faster than from row objects)."""
    result = conn.execute(stmt)
    names = tuple(result.keys())
    rows = result.fetchall()
    values = tuple(zip(*rows, strict=True)) if rows else tuple(() for _ in names)
    return Columns(names=names, values=values)
