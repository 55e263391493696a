"""Reports over a period: SQL (storage.reports) into DataFrames ─► analytics.reports ─► text, JSON, PNGs.

``build_report(db, since=timedelta(days=7), now=now)`` reads only what the figures need: one row per
incident of the period (with its alert count: alert rows are never read one by one), resent alerts summed
per rule in SQL, LLM calls counted per outcome in SQL; times come out of SQL as seconds since the epoch,
so no per-row datetime objects are built. Used by
``sevbot report`` and ``/incident stats``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection

from analytics.report_types import BreakdownRow, ReportData
from analytics.reports import LEVELS, ReportFrames, group_of, summarize
from storage.db import Database
from storage.reports import Columns, read_report_rows


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one period (``data``, JSON-ready) and how to show them."""

    data: ReportData

    def as_json(self) -> ReportData:
        return self.data

    def as_text(self) -> str:
        return "\n".join(_lines(self.data, markdown=False))

    def as_markdown(self) -> str:
        return "\n".join(_lines(self.data, markdown=True))


def build_report(db: Database, *, since: timedelta, now: datetime, top: int = 10) -> Report:
    """The report for the period ``[now - since, now]``."""
    if since <= timedelta(0):
        raise ValueError(f"since must be a positive duration, not {since}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start = now - since
    with db.read() as conn:
        if not db.is_sqlite:  # one snapshot for every query (SQLite's read transaction already is one)
            conn.execution_options(isolation_level="REPEATABLE READ")
        frames = read_frames(conn, start=start, end=now)
    return Report(summarize(frames, start=start, end=now, top=top))


def write_charts(report: Report, out_dir: Path) -> list[Path]:
    """The report's charts as PNG files in ``out_dir`` (created if needed)."""
    from analytics import charts  # matplotlib only when charts are asked for

    return charts.write_charts(report.data, out_dir)


def read_frames(conn: Connection, *, start: datetime, end: datetime) -> ReportFrames:
    """What ``analytics.reports.summarize`` needs for the period, as DataFrames."""
    rows = read_report_rows(conn, start=start, end=end)
    return ReportFrames(
        incidents=_frame(rows.incidents),
        duplicates=_frame(rows.duplicates),
        feedback=_frame(rows.feedback),
        llm=_frame(rows.llm),
    )


def _frame(columns: Columns) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(list(values), dtype=object)
            for name, values in zip(columns.names, columns.values, strict=True)
        }
    ).infer_objects()


# --- rendering ------------------------------------------------------------------------------------------


def _lines(d: ReportData, *, markdown: bool) -> list[str]:
    period = d["period"]
    h = "## " if markdown else ""
    b = "**" if markdown else ""
    bullet = "- " if markdown else "  "
    out = [
        f"{'# ' if markdown else ''}sevbot report: {period['start'][:16]}Z → {period['end'][:16]}Z "
        f"({period['days']:g} days)",
        "",
        f"{b}{d['incidents']}{b} incidents from {b}{d['alerts']}{b} alerts "
        f"(compression {_num(d['compression'], 'x')}, {d['duplicates']} duplicates); "
        f"{d['status']['open']} open, {d['status']['acknowledged']} acknowledged, "
        f"{d['status']['resolved']} resolved.",
        f"MTTA median {_dur(d['mtta_s']['median'])}, p90 {_dur(d['mtta_s']['p90'])} "
        f"({d['mtta_s']['count']} acknowledged); MTTR median {_dur(d['mttr_s']['median'])}, "
        f"p90 {_dur(d['mttr_s']['p90'])} ({d['mttr_s']['count']} resolved).",
        "",
        f"{h}Noisiest rules",
    ]
    rule_rows = [
        [
            r["alertname"],
            str(r["fired"]),
            str(r["incidents"]),
            _pct(r["share_acknowledged"]),
            _pct(r["share_noise"]),
            str(r["flapping"]),
            _dur(r["median_duration_s"]),
        ]
        for r in d["noisiest_rules"]
    ]
    out += _table(
        ["rule", "fired", "incidents", "acked", "noise", "flapping", "median duration"],
        rule_rows,
        md=markdown,
    )
    out += ["", f"{h}By severity"]
    out += _table(
        ["severity", "incidents", "alerts", "MTTA median", "MTTR median"],
        [_breakdown_row(r, "severity") for r in d["by_severity"]],
        md=markdown,
    )
    out += ["", f"{h}By service"]
    out += _table(
        ["service", "incidents", "alerts", "MTTA median", "MTTR median"],
        [_breakdown_row(r, "service") for r in d["by_service"]],
        md=markdown,
    )
    agreement = d["model_agreement"]
    out += [
        "",
        f"{h}Model agreement with people",
        f"{bullet}{agreement['rated']} rated incidents, agreed on {agreement['agreed']} "
        f"({_pct(agreement['agreement'])}); {agreement['noise']} marked noise.",
    ]
    out += _table(
        ["level", "precision", "recall", "sevbot said", "people said"],
        [
            [
                level,
                _pct(agreement["levels"][level]["precision"]),
                _pct(agreement["levels"][level]["recall"]),
                str(agreement["levels"][level]["sevbot_said"]),
                str(agreement["levels"][level]["people_said"]),
            ]
            for level in LEVELS
        ],
        md=markdown,
    )
    llm = d["llm"]
    out += [
        "",
        f"{h}LLM use",
        f"{bullet}{llm['calls']} calls, {llm['tokens']} tokens "
        f"({llm['tokens_in']} in, {llm['tokens_out']} out), "
        f"{llm['fallbacks']} fell back to templates.",
    ]
    return out


def _breakdown_row(row: BreakdownRow, key: str) -> list[str]:
    return [
        group_of(row),
        str(row["incidents"]),
        str(row["alerts"]),
        _dur(row["mtta_s"]["median"]),
        _dur(row["mttr_s"]["median"]),
    ]


def _table(header: list[str], rows: list[list[str]], *, md: bool) -> list[str]:
    if not rows:
        return ["(none)"]
    if md:
        return [
            "",  # a table must not continue a paragraph or a list item
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def _num(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{suffix}"


def report_json_text(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2)
