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

from analytics.reports import LEVELS

DPI = 100
WIDTH_PX = 1000
HEIGHT_PX = 500
SEVERITY_COLORS = {"SEV1": "#b71c1c", "SEV2": "#ef6c00", "SEV3": "#fbc02d", "SEV4": "#90a4ae"}


def _figure() -> Figure:
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def incidents_per_day(report: dict[str, Any]) -> Figure:
    """Stacked bars: incidents opened per UTC day, one series per severity."""
    fig = _figure()
    ax = fig.add_subplot()
    days = _day_labels(report)
    positions = list(range(len(days)))
    bottom = [0] * len(days)
    for level in LEVELS:
        counts = [int(row[level]) for row in report["daily"]]
        ax.bar(positions, counts, bottom=bottom, label=level, color=SEVERITY_COLORS[level])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_title("Incidents per day by severity")
    ax.set_xlabel("Day (UTC)")
    ax.set_ylabel("Incidents opened")
    ax.legend(title="Severity")
    _day_ticks(ax, days)
    fig.tight_layout()
    return fig


def response_trend(report: dict[str, Any]) -> Figure:
    """Lines: each day's median time to acknowledge and to resolve, in minutes (gaps where none)."""
    fig = _figure()
    ax = fig.add_subplot()
    days = _day_labels(report)
    for key, label in (("mtta_s", "MTTA (median)"), ("mttr_s", "MTTR (median)")):
        minutes = [float("nan") if row[key] is None else row[key] / 60 for row in report["daily"]]
        ax.plot(list(range(len(days))), minutes, marker="o", label=label)
    ax.set_title("Time to acknowledge and to resolve per day")
    ax.set_xlabel("Day (UTC)")
    ax.set_ylabel("Minutes")
    ax.set_ylim(bottom=0)
    ax.legend()
    _day_ticks(ax, days)
    fig.tight_layout()
    return fig


def noisiest_rules(report: dict[str, Any]) -> Figure:
    """Horizontal bars, noisiest rule on top: times fired, split by whether people acknowledged."""
    fig = _figure()
    ax = fig.add_subplot()
    rules = list(reversed(report["noisiest_rules"]))
    names = [r["alertname"] for r in rules]
    unacked = [r["fired"] * (1 - (r["share_acknowledged"] or 0)) for r in rules]
    acked = [r["fired"] - u for r, u in zip(rules, unacked, strict=True)]
    ax.barh(names, unacked, label="fired, not acknowledged", color="#c62828")
    ax.barh(names, acked, left=unacked, label="fired, acknowledged", color="#2e7d32")
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
    ax.set_title("Noisiest rules")
    ax.set_xlabel("Times fired")
    ax.set_ylabel("Rule (alertname)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


CHARTS: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "incidents_per_day.png": incidents_per_day,
    "mtta_mttr_trend.png": response_trend,
    "noisiest_rules.png": noisiest_rules,
}


def write_charts(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every chart of ``CHARTS`` saved as a PNG in ``out_dir``; returns the paths in that order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in CHARTS.items():
        path = out_dir / name
        draw(report).savefig(path, format="png", dpi=DPI)
        paths.append(path)
    return paths


def _day_labels(report: dict[str, Any]) -> list[str]:
    return [row["day"][5:] for row in report["daily"]]  # "11-20" for 2026-11-20


def _day_ticks(ax: Any, days: list[str]) -> None:
    """Days at integer positions, at most about 15 labels, rotated, so a month stays readable."""
    step = max(1, -(-len(days) // 15))
    ax.set_xticks(range(0, len(days), step), days[::step])
    ax.tick_params(axis="x", labelrotation=45)
