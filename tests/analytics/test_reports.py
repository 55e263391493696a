"""Report figures from frames: the columns summarize needs are named when missing."""

from __future__ import annotations

import pytest

from analytics.reports import ReportFrames, empty_frames, summarize
from tests.support.report_data import NOW, WEEK


def test_summarize_names_a_missing_column() -> None:
    frames = empty_frames()
    broken = ReportFrames(
        incidents=frames.incidents.drop(columns=["resolved_s"]),
        duplicates=frames.duplicates,
        feedback=frames.feedback,
        llm=frames.llm,
    )
    with pytest.raises(ValueError, match="report frame 'incidents' lacks column\\(s\\): resolved_s"):
        summarize(broken, start=NOW - WEEK, end=NOW)
