"""Report figures over one period: MTTA/MTTR, compression, noisy rules, model agreement (pure; no I/O).

Data flow: ``bot.reporting`` reads SQL into the DataFrames described by :class:`ReportFrames` (times as
float seconds since the epoch, ``NaN`` when absent) ─► :func:`summarize` ─► one JSON-ready ``dict``
(rendered as text, Markdown or JSON by ``bot.reporting``; drawn by ``analytics.charts``).

Definitions (every figure is about the incidents *opened* in the period and their alerts):

* MTTA: ``acknowledged_at - opened_at`` over the incidents a person acknowledged; MTTR:
  ``resolved_at - opened_at`` over the resolved incidents. Median and p90 use linear interpolation
  between the closest ranks (numpy's default), in seconds, rounded to milliseconds.
* compression: alert firings per incident (``alerts / incidents``, ``alerts`` being the firings that
  went into those incidents); duplicates (resends of a firing that *started* in the period) are counted
  apart and not in ``alerts``.
* a rule is an ``alertname``. ``incidents``: the incidents it opened; ``fired``: the alert firings of
  those incidents (with the default grouping, which keys on ``alertname``, these are all its own);
  ``share_acknowledged`` / ``share_noise``: of those incidents, the share a person acknowledged / marked
  as noise; ``flapping``: how many of them were flagged flapping; ``median_duration_s``: median time to
  resolve its resolved incidents. Rules are ranked by ``noise_score = fired × (1 − share_acknowledged)
  × (1 + share_noise + share_flapping)``: firings nobody acted on, weighed up when people called them
  noise or they flapped.
* model agreement, from feedback: per rated incident, what sevbot said is the ``old_severity`` of its
  first feedback row and what people said is its last row (``new_severity``, or ``"noise"`` for a
  noise mark). Per level, precision = agreed / sevbot said it, recall = agreed / people said it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from analytics.records import IncidentStatus, Severity
from analytics.report_types import (
    AgreementRow,
    BreakdownRow,
    DailyRow,
    LlmUse,
    ModelAgreement,
    ReportData,
    RuleRow,
    Spread,
)

LEVELS = tuple(level.value for level in Severity)
NO_SERVICE = "(none)"
# LLM outcomes where a template draft was used instead of the model's answer.
FALLBACK_OUTCOMES = frozenset({"timeout", "error", "budget", "disabled"})

INCIDENT_COLUMNS = (
    "id",
    "alertname",
    "service",
    "severity",
    "status",
    "flapping",
    "alert_count",
    "opened_s",
    "acknowledged_s",
    "resolved_s",
)
DUPLICATE_COLUMNS = ("alertname", "duplicates")
FEEDBACK_COLUMNS = ("id", "incident_id", "kind", "old_severity", "new_severity", "incident_severity")
LLM_COLUMNS = ("outcome", "calls", "tokens_in", "tokens_out")


# The report's shape (ReportData and its rows) is in analytics.report_types.


@dataclass(frozen=True, slots=True)
class ReportFrames:
    """The inputs of a report; each frame has (at least) the columns named in ``*_COLUMNS``.

    ``incidents``: one row per incident opened in the period, with its count of alert firings.
    ``duplicates``: the resends of alerts that started in the period, summed per alertname (rules
    without any may be absent). ``feedback``: every feedback row on those incidents, oldest first,
    with the incident's current severity. ``llm``: LLM calls in the period counted per outcome, with
    their token sums.
    """

    incidents: pd.DataFrame
    duplicates: pd.DataFrame
    feedback: pd.DataFrame
    llm: pd.DataFrame


def empty_frames() -> ReportFrames:
    return ReportFrames(
        incidents=pd.DataFrame(columns=list(INCIDENT_COLUMNS)),
        duplicates=pd.DataFrame(columns=list(DUPLICATE_COLUMNS)),
        feedback=pd.DataFrame(columns=list(FEEDBACK_COLUMNS)),
        llm=pd.DataFrame(columns=list(LLM_COLUMNS)),
    )


def summarize(frames: ReportFrames, *, start: datetime, end: datetime, top: int = 10) -> ReportData:
    """Every figure of the report for the period ``[start, end]``, as one JSON-ready dict."""
    _require(frames)
    inc = _incidents(frames.incidents)
    duplicates = _duplicates(frames.duplicates)
    tta = inc["acknowledged_s"] - inc["opened_s"]
    ttr = inc["resolved_s"] - inc["opened_s"]
    alerts = int(inc["alert_count"].sum())
    incidents = len(inc)
    return {
        "period": {
            "start": _iso(start),
            "end": _iso(end),
            "days": round((end - start).total_seconds() / 86400, 3),
        },
        "incidents": incidents,
        "alerts": alerts,
        "duplicates": int(duplicates.sum()),
        "compression": _ratio(alerts, incidents),
        "status": {status: int((inc["status"] == status).sum()) for status in IncidentStatus},
        "mtta_s": spread(tta),
        "mttr_s": spread(ttr),
        "noisiest_rules": noisiest_rules(inc, duplicates, frames.feedback, top=top),
        "model_agreement": model_agreement(frames.feedback),
        "llm": llm_use(frames.llm),
        "by_service": _breakdown(inc, "service", order=None),
        "by_severity": _breakdown(inc, "severity", order=LEVELS),
        "daily": daily(inc, start=start, end=end),
    }


def spread(seconds: pd.Series) -> Spread:
    """Median and p90 of durations in seconds (``None`` without any), and how many there were."""
    values = seconds.dropna().to_numpy(dtype=float)
    if values.size == 0:
        return {"median": None, "p90": None, "count": 0}
    median, p90 = np.percentile(values, [50, 90])
    return {"median": _round(median), "p90": _round(p90), "count": int(values.size)}


def noisiest_rules(
    incidents: pd.DataFrame, duplicates: pd.Series, feedback: pd.DataFrame, *, top: int = 10
) -> list[RuleRow]:
    """The rules ranked noisiest first (see the module docstring for the score); ``duplicates`` is
    indexed by alertname."""
    noise_ids = set(feedback.loc[feedback["kind"] == "noise", "incident_id"].astype(int))
    inc = incidents.assign(
        acked=incidents["acknowledged_s"].notna(),
        noise=incidents["id"].isin(noise_ids),
        duration=incidents["resolved_s"] - incidents["opened_s"],
    )
    per_rule = inc.groupby("alertname").agg(
        fired=("alert_count", "sum"),
        incidents=("id", "size"),
        acked=("acked", "sum"),
        noise=("noise", "sum"),
        flapping=("flapping", "sum"),
        median_duration=("duration", "median"),
    )
    rules = per_rule.join(duplicates.rename("duplicates"), how="left")
    rules[["fired", "duplicates", "incidents", "acked", "noise", "flapping"]] = (
        rules[["fired", "duplicates", "incidents", "acked", "noise", "flapping"]].fillna(0).astype(int)
    )
    has = rules["incidents"] > 0
    denominator = rules["incidents"].where(has, 1)
    rules["share_acknowledged"] = (rules["acked"] / denominator).where(has, 0.0)
    rules["share_noise"] = (rules["noise"] / denominator).where(has, 0.0)
    share_flapping = (rules["flapping"] / denominator).where(has, 0.0)
    rules["noise_score"] = (
        rules["fired"] * (1 - rules["share_acknowledged"]) * (1 + rules["share_noise"] + share_flapping)
    )
    rules = rules.reset_index().sort_values(
        ["noise_score", "fired", "alertname"], ascending=[False, False, True], kind="stable"
    )
    return [
        {
            "alertname": str(row.alertname),
            "fired": int(row.fired),
            "duplicates": int(row.duplicates),
            "incidents": int(row.incidents),
            "share_acknowledged": _round(row.share_acknowledged),
            "share_noise": _round(row.share_noise),
            "flapping": int(row.flapping),
            "median_duration_s": _round(row.median_duration),
            "noise_score": _round(row.noise_score),
        }
        for row in rules.head(top).itertuples(index=False)
    ]


def model_agreement(feedback: pd.DataFrame) -> ModelAgreement:
    """How often sevbot's severity matched what people said (see the module docstring)."""
    if feedback.empty:
        levels = {level: _agreement_row(0, 0, 0) for level in LEVELS}
        return {"rated": 0, "agreed": 0, "agreement": None, "noise": 0, "levels": levels}
    rows = feedback.sort_values("id", kind="stable")
    said = rows["old_severity"].where(rows["old_severity"].notna(), rows["incident_severity"])
    people = rows["new_severity"].where(rows["kind"] == "severity", "noise")
    per_incident = pd.DataFrame(
        {"incident_id": rows["incident_id"].to_numpy(), "said": said.to_numpy(), "people": people.to_numpy()}
    ).groupby("incident_id")
    verdict = pd.DataFrame({"said": per_incident["said"].first(), "people": per_incident["people"].last()})
    agreed = verdict["said"] == verdict["people"]
    levels = {
        level: _agreement_row(
            int(((verdict["said"] == level) & agreed).sum()),
            int((verdict["said"] == level).sum()),
            int((verdict["people"] == level).sum()),
        )
        for level in LEVELS
    }
    return {
        "rated": len(verdict),
        "agreed": int(agreed.sum()),
        "agreement": _ratio(int(agreed.sum()), len(verdict)),
        "noise": int((verdict["people"] == "noise").sum()),
        "levels": levels,
    }


def llm_use(llm: pd.DataFrame) -> LlmUse:
    """LLM calls, tokens and fallbacks to templates, from calls counted per outcome."""
    by_outcome = {str(o): int(c) for o, c in zip(llm["outcome"], llm["calls"], strict=True)}
    tokens_in = int(pd.to_numeric(llm["tokens_in"]).sum())
    tokens_out = int(pd.to_numeric(llm["tokens_out"]).sum())
    return {
        "calls": sum(by_outcome.values()),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "tokens": tokens_in + tokens_out,
        "fallbacks": sum(n for outcome, n in by_outcome.items() if outcome in FALLBACK_OUTCOMES),
        "by_outcome": dict(sorted(by_outcome.items())),
    }


def daily(incidents: pd.DataFrame, *, start: datetime, end: datetime) -> list[DailyRow]:
    """Per UTC day of the period: incidents opened per severity, and that day's median MTTA and MTTR."""
    days = pd.date_range(
        pd.Timestamp(start).tz_convert(UTC).floor("D"), pd.Timestamp(end).tz_convert(UTC).floor("D"), freq="D"
    )
    day = pd.to_datetime(incidents["opened_s"], unit="s", utc=True).dt.floor("D")
    frame = incidents.assign(
        day=day,
        tta=incidents["acknowledged_s"] - incidents["opened_s"],
        ttr=incidents["resolved_s"] - incidents["opened_s"],
    )
    counts = frame.groupby(["day", "severity"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=days, columns=list(LEVELS), fill_value=0)
    medians = frame.groupby("day")[["tta", "ttr"]].median().reindex(days)
    measured = frame.groupby("day")[["tta", "ttr"]].count().reindex(days, fill_value=0)
    begin, finish = pd.Timestamp(start).tz_convert(UTC), pd.Timestamp(end).tz_convert(UTC)

    def hours(ts: pd.Timestamp) -> float:
        """Hours of this UTC day inside the period (24 but for the first and the last day)."""
        covered = min(finish, ts + pd.Timedelta(days=1)) - max(begin, ts)
        return round(max(0.0, float(covered.total_seconds())) / 3600, 2)

    return [
        {
            "day": ts.strftime("%Y-%m-%d"),
            "hours": hours(ts),
            "SEV1": int(counts.at[ts, "SEV1"]),
            "SEV2": int(counts.at[ts, "SEV2"]),
            "SEV3": int(counts.at[ts, "SEV3"]),
            "SEV4": int(counts.at[ts, "SEV4"]),
            "mtta_s": _round(medians.at[ts, "tta"]),
            "mttr_s": _round(medians.at[ts, "ttr"]),
            "acknowledged": int(measured.at[ts, "tta"]),
            "resolved": int(measured.at[ts, "ttr"]),
        }
        for ts in days
    ]


# --- helpers ------------------------------------------------------------------------------------------


def _require(frames: ReportFrames) -> None:
    for name, frame, columns in (
        ("incidents", frames.incidents, INCIDENT_COLUMNS),
        ("duplicates", frames.duplicates, DUPLICATE_COLUMNS),
        ("feedback", frames.feedback, FEEDBACK_COLUMNS),
        ("llm", frames.llm, LLM_COLUMNS),
    ):
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise ValueError(f"report frame {name!r} lacks column(s): {', '.join(absent)}")


def _incidents(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in ("opened_s", "acknowledged_s", "resolved_s"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    out["service"] = out["service"].where(out["service"].notna(), NO_SERVICE).astype(object)
    out["flapping"] = out["flapping"].fillna(False).astype(bool)
    out["alert_count"] = pd.to_numeric(out["alert_count"]).fillna(0).astype(int)
    return out


def _duplicates(frame: pd.DataFrame) -> pd.Series:
    counts = pd.to_numeric(frame["duplicates"]).fillna(0).astype(int)
    return counts.groupby(frame["alertname"].astype(object)).sum()


def _breakdown(inc: pd.DataFrame, key: str, *, order: Iterable[str] | None) -> list[BreakdownRow]:
    fired = inc.groupby(key)["alert_count"].sum()
    keys = list(order) if order is not None else sorted(set(inc[key]))
    tta = dict(list((inc["acknowledged_s"] - inc["opened_s"]).groupby(inc[key])))
    ttr = dict(list((inc["resolved_s"] - inc["opened_s"]).groupby(inc[key])))
    counts = inc.groupby(key).size()
    empty = pd.Series(dtype=float)
    rows = [
        cast(
            BreakdownRow,
            {
                key: k,
                "incidents": int(counts.get(k, 0)),
                "alerts": int(fired.get(k, 0)),
                "mtta_s": spread(tta.get(k, empty)),
                "mttr_s": spread(ttr.get(k, empty)),
            },
        )
        for k in keys
    ]
    if order is None:
        rows.sort(key=lambda r: (-r["incidents"], -r["alerts"], group_of(r)))
    return rows


def opened_at_level(row: DailyRow, level: str) -> int:
    """Incidents of one level opened that day (``level``: "SEV1" … "SEV4")."""
    counts: Mapping[str, object] = row  # a TypedDict is a Mapping: read it by a computed key
    value = counts[level]
    return value if isinstance(value, int) else 0


def group_of(row: BreakdownRow) -> str:
    """The service or the severity a breakdown row is about."""
    return row.get("service") or row.get("severity") or ""


def _agreement_row(agreed: int, said: int, people: int) -> AgreementRow:
    return {
        "precision": _ratio(agreed, said),
        "recall": _ratio(agreed, people),
        "sevbot_said": said,
        "people_said": people,
        "agreed": agreed,
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return _round(numerator / denominator) if denominator else None


def _round(value: Any) -> float | None:
    """A float rounded to milliseconds/thousandths, or ``None`` for a missing value (NaN, None)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 3)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
