"""Reports: every figure checked against values worked out by hand on a small fixed dataset, and charts.

The dataset (period: the 7 days before NOW, 2026-11-20 12:00 UTC):

| id | rule     | service | sev  | opened     | acked | resolved | alerts (dups) | notes            |
|----|----------|---------|------|------------|-------|----------|---------------|------------------|
| 1  | DiskFull | db      | SEV2 | 19th 10:00 | 120 s | 1800 s   | 7 (1)         | rated SEV1, SEV2 |
| 2  | DiskFull | db      | SEV2 | 18th 10:00 | 300 s | 3600 s   | 1             |                  |
| 3  | CpuHigh  | api     | SEV3 | 18th 11:00 | -     | 600 s    | 4 (2)         | flapping, noise  |
| 4  | CpuHigh  | api     | SEV3 | 17th 11:00 | -     | 300 s    | 1             | rated SEV4       |
| 5  | CpuHigh  | api     | SEV4 | 17th 12:00 | -     | -        | 1             | still open       |
| 6  | ApiDown  | api     | SEV1 | 20th 11:00 | 60 s  | -        | 1             | rated SEV1       |
| 7  | ApiDown  | api     | SEV1 | 10th 11:00 | 60 s  | 60 s     | 1             | before period    |

(acked / resolved: that long after opening; the 7 days are the 13th 12:00 to the 20th 12:00.)
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

from analytics import charts
from bot.bootstrap import Services, build_services
from bot.reporting import Report, build_report, write_charts
from tests.support.report_data import NOW, PERIOD, WEEK, load_dataset
from tests.support.settings import make_settings


@pytest.fixture
def loaded(tmp_path: Path, database_url: str) -> Iterator[Services]:
    built = build_services(make_settings(tmp_path, database_url))
    load_dataset(built.db)
    yield built
    built.close()


@pytest.fixture
def report(loaded: Services) -> Report:
    return build_report(loaded.db, since=WEEK, now=NOW)


# --- figures ------------------------------------------------------------------------------------------


def test_counts_and_compression(report: Report) -> None:
    data = report.as_json()
    assert data["period"] == {"start": "2026-11-13T12:00:00Z", "end": "2026-11-20T12:00:00Z", "days": 7.0}
    assert data["incidents"] == 6  # incident 7 opened before the period
    assert data["alerts"] == 7 + 1 + 4 + 1 + 1 + 1
    assert data["duplicates"] == 3
    assert data["compression"] == 2.5  # 15 alerts / 6 incidents
    assert data["status"] == {"open": 1, "acknowledged": 1, "resolved": 4}


def test_mtta_and_mttr_median_and_p90(report: Report) -> None:
    data = report.as_json()
    # acknowledged: 60, 120, 300 s. p90 at rank 0.9 × 2 = 1.8 → 120 + 0.8 × (300 − 120) = 264.
    assert data["mtta_s"] == {"median": 120.0, "p90": 264.0, "count": 3}
    # resolved: 300, 600, 1800, 3600 s. median (600 + 1800) / 2; p90 at rank 2.7 → 1800 + 0.7 × 1800.
    assert data["mttr_s"] == {"median": 1200.0, "p90": 3060.0, "count": 4}


def test_the_noisiest_rule_is_the_unacknowledged_flapping_one_marked_noise_not_the_busiest(
    report: Report,
) -> None:
    rules = report.as_json()["noisiest_rules"]

    assert [r["alertname"] for r in rules] == ["CpuHigh", "DiskFull", "ApiDown"]
    cpu, disk, api = rules
    # CpuHigh: 6 firings, none acknowledged, 1 of 3 incidents noise, 1 of 3 flapping: 6 × 1 × (1 + ⅓ + ⅓).
    assert cpu == {
        "alertname": "CpuHigh",
        "fired": 6,
        "duplicates": 2,
        "incidents": 3,
        "share_acknowledged": 0.0,
        "share_noise": 0.333,
        "flapping": 1,
        "median_duration_s": 450.0,  # resolved after 600 and 300 s
        "noise_score": 10.0,
    }
    # DiskFull fires more (8) but people acknowledged all of it; it ranks before ApiDown on firings.
    assert (disk["fired"], disk["share_acknowledged"], disk["noise_score"]) == (8, 1.0, 0.0)
    assert disk["median_duration_s"] == 2700.0
    assert (api["fired"], api["incidents"], api["median_duration_s"]) == (1, 1, None)


def test_model_agreement_per_level_from_feedback(report: Report) -> None:
    agreement = report.as_json()["model_agreement"]

    # Verdicts (sevbot said → people said): #1 SEV2 → SEV2 (corrected, then corrected back),
    # #3 SEV3 → noise, #4 SEV3 → SEV4, #6 SEV1 → SEV1. Incident 7 is outside the period.
    assert (agreement["rated"], agreement["agreed"], agreement["agreement"], agreement["noise"]) == (
        4,
        2,
        0.5,
        1,
    )
    levels = agreement["levels"]
    assert levels["SEV1"] == {
        "precision": 1.0,
        "recall": 1.0,
        "sevbot_said": 1,
        "people_said": 1,
        "agreed": 1,
    }
    assert levels["SEV2"] == {
        "precision": 1.0,
        "recall": 1.0,
        "sevbot_said": 1,
        "people_said": 1,
        "agreed": 1,
    }
    assert levels["SEV3"] == {
        "precision": 0.0,
        "recall": None,
        "sevbot_said": 2,
        "people_said": 0,
        "agreed": 0,
    }
    assert levels["SEV4"] == {
        "precision": None,
        "recall": 0.0,
        "sevbot_said": 0,
        "people_said": 1,
        "agreed": 0,
    }


def test_llm_use_counts_calls_tokens_and_fallbacks_in_the_period(report: Report) -> None:
    assert report.as_json()["llm"] == {
        "calls": 5,
        "tokens_in": 300,
        "tokens_out": 130,
        "tokens": 430,
        "fallbacks": 2,  # timeout and disabled; cached is not a fallback
        "by_outcome": {"cached": 1, "disabled": 1, "ok": 2, "timeout": 1},
    }


def test_breakdowns_per_severity_and_service(report: Report) -> None:
    data = report.as_json()
    by_severity = {r["severity"]: r for r in data["by_severity"]}
    assert list(by_severity) == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert [(r["incidents"], r["alerts"]) for r in by_severity.values()] == [(1, 1), (2, 8), (2, 5), (1, 1)]
    assert by_severity["SEV2"]["mtta_s"] == {"median": 210.0, "p90": 282.0, "count": 2}
    assert by_severity["SEV3"]["mttr_s"] == {"median": 450.0, "p90": 570.0, "count": 2}
    assert by_severity["SEV4"]["mttr_s"] == {"median": None, "p90": None, "count": 0}
    assert [(r["service"], r["incidents"], r["alerts"]) for r in data["by_service"]] == [
        ("api", 4, 7),
        ("db", 2, 8),
    ]


def test_daily_series_cover_every_day_of_the_period(report: Report) -> None:
    daily = report.as_json()["daily"]

    assert [d["day"] for d in daily] == [f"2026-11-{day}" for day in range(13, 21)]
    by_day = {d["day"]: d for d in daily}
    assert by_day["2026-11-17"] == {
        "day": "2026-11-17",
        "hours": 24.0,
        "SEV1": 0,
        "SEV2": 0,
        "SEV3": 1,
        "SEV4": 1,
        "mtta_s": None,
        "mttr_s": 300.0,
        "acknowledged": 0,
        "resolved": 1,  # the median is of one incident
    }
    # The period runs 12:00 to 12:00: its first and last days are half days.
    assert (by_day["2026-11-13"]["hours"], by_day["2026-11-20"]["hours"]) == (12.0, 12.0)
    assert (by_day["2026-11-18"]["SEV2"], by_day["2026-11-18"]["SEV3"]) == (1, 1)
    assert by_day["2026-11-18"]["mttr_s"] == 2100.0  # median of 3600 and 600
    assert by_day["2026-11-20"]["SEV1"] == 1
    assert sum(d["SEV1"] + d["SEV2"] + d["SEV3"] + d["SEV4"] for d in daily) == 6


def test_an_empty_database_gives_a_report_with_no_figures(tmp_path: Path, database_url: str) -> None:
    built = build_services(make_settings(tmp_path, database_url))
    try:
        data = build_report(built.db, since=WEEK, now=NOW).as_json()
    finally:
        built.close()

    assert (data["incidents"], data["alerts"], data["compression"]) == (0, 0, None)
    assert data["mtta_s"] == {"median": None, "p90": None, "count": 0}
    assert data["noisiest_rules"] == []
    assert data["model_agreement"]["rated"] == 0
    assert data["llm"]["calls"] == 0
    assert len(data["daily"]) == 8
    json.dumps(data, allow_nan=False)


def test_text_and_markdown_show_the_headline_figures(report: Report) -> None:
    text = report.as_text()
    markdown = report.as_markdown()

    assert "6 incidents from 15 alerts (compression 2.5x, 3 duplicates)" in text
    assert "MTTA median 2.0m, p90 4.4m" in text
    assert "MTTR median 20.0m, p90 51.0m" in text
    assert text.index("CpuHigh") < text.index("DiskFull") < text.index("ApiDown")
    assert "4 rated incidents, agreed on 2 (50%); 1 marked noise." in text
    assert "5 calls, 430 tokens (300 in, 130 out), 2 fell back to templates." in text
    assert markdown.startswith("# sevbot report")
    assert "| rule | fired | incidents | acked | noise | flapping | median duration |" in markdown
    assert "| CpuHigh | 6 | 3 | 0% | 33% | 1 | 7.5m |" in markdown


# --- charts -------------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_write_charts_writes_three_pngs_of_the_expected_size(report: Report, tmp_path: Path) -> None:
    paths = write_charts(report, tmp_path / "charts")

    assert [p.name for p in paths] == ["incidents_per_day.png", "mtta_mttr_trend.png", "noisiest_rules.png"]
    for path in paths:
        assert png_size(path) == (charts.WIDTH_PX, charts.HEIGHT_PX) == (1000, 500)
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"


def test_incidents_per_day_has_one_series_per_severity_with_the_daily_counts(report: Report) -> None:
    fig = charts.incidents_per_day(report.as_json())
    (ax,) = fig.axes

    assert ax.get_title() == f"Incidents per day by severity\n{PERIOD}"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Day (UTC)", "Incidents opened")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    # The first day is half a day with nothing in it: left out, so it does not read as a quiet day.
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"11-{day}" for day in range(14, 21)]
    series = {
        c.get_label(): [bar.get_height() for bar in c] for c in ax.containers if isinstance(c, BarContainer)
    }
    assert series["SEV3"] == [0, 0, 0, 1, 1, 0, 0]  # the 17th and the 18th
    assert series["SEV1"] == [0, 0, 0, 0, 0, 0, 1]
    assert sum(sum(v) for v in series.values()) == 6


def test_response_trend_plots_mtta_and_mttr_in_minutes(report: Report) -> None:
    fig = charts.response_trend(report.as_json())
    (ax,) = fig.axes

    assert ax.get_title() == f"Time to acknowledge and to resolve per day (median, n incidents)\n{PERIOD}"
    assert ax.get_ylabel() == "Minutes"
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert set(lines) == {"MTTA (median)", "MTTR (median)"}
    assert lines["MTTR (median)"][4] == 35.0  # the 18th: 2100 s
    assert lines["MTTA (median)"][5] == 2.0  # the 19th: 120 s
    assert "n=2" in {t.get_text() for t in ax.texts}  # the 18th's MTTR is the median of two incidents


def test_every_chart_colour_is_from_a_colour_blind_safe_palette(report: Report) -> None:
    allowed = {to_hex(colour) for colour in charts.OKABE_ITO.values()}
    for draw in charts.CHARTS.values():
        (ax,) = draw(report.as_json()).axes
        used = {to_hex(patch.get_facecolor()) for patch in ax.patches}
        used |= {to_hex(line.get_color()) for line in ax.get_lines()}
        assert used and used <= allowed, (draw.__name__, used - allowed)


def test_noisiest_rules_chart_puts_the_noisiest_on_top(report: Report) -> None:
    fig = charts.noisiest_rules(report.as_json())
    (ax,) = fig.axes

    assert ax.get_title() == f"Noisiest rules\n{PERIOD}"
    assert ax.get_xlabel() == "Times fired"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ApiDown", "DiskFull", "CpuHigh"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "fired, not acknowledged",
        "fired, acknowledged",
    ]
    assert any("33% marked noise" in t.get_text() for t in ax.texts)


# --- the command --------------------------------------------------------------------------------------
