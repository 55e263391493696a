"""Report charts as matplotlib Figures and PNG files (Agg; pure drawing from a report dict, no SQL).

Each chart function takes the dict made by ``analytics.reports.summarize`` and returns a Figure that
is not attached to pyplot (so nothing global, thread-safe); :func:`write_charts` saves them at a fixed
size, ``WIDTH_PX`` × ``HEIGHT_PX``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analytics.report_types import DailyRow, ReportData
from analytics.reports import LEVELS, opened_at_level

DPI = 100
WIDTH_PX = 1000
HEIGHT_PX = 500
# Okabe & Ito's palette, which readers with any common colour-vision deficiency can tell apart (red/green
# pairs are not): vermillion, orange, blue and sky blue, most urgent first. Every series also differs by
# position, marker or line style, so nothing rests on colour alone.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
SEVERITY_COLORS = {
    "SEV1": OKABE_ITO["vermillion"],
    "SEV2": OKABE_ITO["orange"],
    "SEV3": OKABE_ITO["blue"],
    "SEV4": OKABE_ITO["sky_blue"],
}


def _figure() -> Figure:
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def incidents_per_day(report: ReportData) -> Figure:
    """Stacked bars: incidents opened per UTC day, one series per severity."""
    fig = _figure()
    ax = fig.add_subplot()
    rows = shown_days(report)
    days = _day_labels(rows)
    positions = list(range(len(days)))
    bottom = [0] * len(days)
    for level in LEVELS:
        counts = [opened_at_level(row, level) for row in rows]
        ax.bar(positions, counts, bottom=bottom, label=level, color=SEVERITY_COLORS[level])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_title(f"Incidents per day by severity\n{period(report)}")
    ax.set_xlabel("Day (UTC)")
    ax.set_ylabel("Incidents opened")
    ax.legend(title="Severity")
    _day_ticks(ax, days)
    fig.tight_layout()
    return fig


def response_trend(report: ReportData) -> Figure:
    """Lines: each day's median time to acknowledge and to resolve, in minutes (gaps where none)."""
    fig = _figure()
    ax = fig.add_subplot()
    rows = shown_days(report)
    days = _day_labels(rows)
    series = (
        (
            [row["mtta_s"] for row in rows],
            [row["acknowledged"] for row in rows],
            "MTTA (median)",
            OKABE_ITO["orange"],
            "o",
            "-",
        ),
        (
            [row["mttr_s"] for row in rows],
            [row["resolved"] for row in rows],
            "MTTR (median)",
            OKABE_ITO["blue"],
            "s",
            "--",
        ),
    )
    for medians, counts, label, color, marker, style in series:
        minutes = [float("nan") if m is None else m / 60 for m in medians]
        ax.plot(list(range(len(days))), minutes, marker=marker, linestyle=style, color=color, label=label)
        for x, (value, n) in enumerate(zip(minutes, counts, strict=True)):
            if value == value:  # not NaN: say how many incidents the median is of
                ax.annotate(
                    f"n={n}",
                    (x, value),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    color=color,
                )
    ax.set_title(f"Time to acknowledge and to resolve per day (median, n incidents)\n{period(report)}")
    ax.set_xlabel("Day (UTC)")
    ax.set_ylabel("Minutes")
    ax.set_ylim(bottom=0)
    ax.legend()
    _day_ticks(ax, days)
    fig.tight_layout()
    return fig


def noisiest_rules(report: ReportData) -> Figure:
    """Horizontal bars, noisiest rule on top: times fired, split by whether people acknowledged."""
    fig = _figure()
    ax = fig.add_subplot()
    rules = list(reversed(report["noisiest_rules"]))
    names = [r["alertname"] for r in rules]
    unacked = [r["fired"] * (1 - (r["share_acknowledged"] or 0)) for r in rules]
    acked = [r["fired"] - u for r, u in zip(rules, unacked, strict=True)]
    ax.barh(names, unacked, label="fired, not acknowledged", color=OKABE_ITO["vermillion"])
    ax.barh(names, acked, left=unacked, label="fired, acknowledged", color=OKABE_ITO["blue"], hatch="//")
    for y, rule in enumerate(rules):
        if rule["share_noise"]:
            ax.annotate(
                f"{rule['share_noise'] * 100:.0f}% marked noise",
                (rule["fired"], y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.set_title(f"Noisiest rules\n{period(report)}")
    ax.set_xlabel("Times fired")
    ax.set_ylabel("Rule (alertname)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


CHARTS: dict[str, Callable[[ReportData], Figure]] = {
    "incidents_per_day.png": incidents_per_day,
    "mtta_mttr_trend.png": response_trend,
    "noisiest_rules.png": noisiest_rules,
}


def write_charts(report: ReportData, out_dir: Path) -> list[Path]:
    """Every chart of ``CHARTS`` saved as a PNG in ``out_dir``; returns the paths in that order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in CHARTS.items():
        path = out_dir / name
        draw(report).savefig(path, format="png", dpi=DPI)
        paths.append(path)
    return paths


def period(report: ReportData) -> str:
    """The report's period as a title shows it: ``2026-11-13 14:00 → 2026-11-20 14:00 UTC``."""
    start, end = report["period"]["start"], report["period"]["end"]
    return f"{start[:10]} {start[11:16]} → {end[:10]} {end[11:16]} UTC"


def shown_days(report: ReportData) -> list[DailyRow]:
    """The days a chart shows: a first day the period only partly covers is left out when nothing
    happened in that part (it would read as a quiet day; it is only a short one)."""
    rows = list(report["daily"])
    if (
        len(rows) > 1
        and rows[0].get("hours", 24) < 24
        and not any(opened_at_level(rows[0], level) for level in LEVELS)
    ):
        rows = rows[1:]
    return rows


def _day_labels(rows: list[DailyRow]) -> list[str]:
    return [row["day"][5:] for row in rows]  # "11-20" for 2026-11-20


def _day_ticks(ax: Any, days: list[str]) -> None:
    """Days at integer positions, at most about 15 labels, rotated, so a month stays readable."""
    step = max(1, -(-len(days) // 15))
    ax.set_xticks(range(0, len(days), step), days[::step])
    ax.tick_params(axis="x", labelrotation=45)
