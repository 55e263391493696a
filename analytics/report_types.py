"""The shape of a report (JSON-ready TypedDicts): :mod:`analytics.reports` builds it, ``bot.reporting``
renders it, :mod:`analytics.charts` draws it. What each figure means: :mod:`analytics.reports`."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Period(TypedDict):
    start: str
    end: str
    days: float


class Spread(TypedDict):
    """Median and p90 of durations in seconds (``None`` without any), and how many there were."""

    median: float | None
    p90: float | None
    count: int


class RuleRow(TypedDict):
    alertname: str
    fired: int
    duplicates: int
    incidents: int
    share_acknowledged: float | None
    share_noise: float | None
    flapping: int
    median_duration_s: float | None
    noise_score: float | None


class AgreementRow(TypedDict):
    precision: float | None
    recall: float | None
    sevbot_said: int
    people_said: int
    agreed: int


class ModelAgreement(TypedDict):
    rated: int
    agreed: int
    agreement: float | None
    noise: int
    levels: dict[str, AgreementRow]


class LlmUse(TypedDict):
    calls: int
    tokens_in: int
    tokens_out: int
    tokens: int
    fallbacks: int
    by_outcome: dict[str, int]


# One row per service or per severity: the key ("service" or "severity") names the group.
class BreakdownRow(TypedDict):
    service: NotRequired[str]
    severity: NotRequired[str]
    incidents: int
    alerts: int
    mtta_s: Spread
    mttr_s: Spread


# One UTC day: incidents opened per level ("SEV1" … "SEV4" are not identifiers, hence the functional form).
class DailyRow(TypedDict):
    day: str
    hours: float
    SEV1: int
    SEV2: int
    SEV3: int
    SEV4: int
    mtta_s: float | None
    mttr_s: float | None
    acknowledged: int
    resolved: int


class ReportData(TypedDict):
    period: Period
    incidents: int
    alerts: int
    duplicates: int
    compression: float | None
    status: dict[str, int]
    mtta_s: Spread
    mttr_s: Spread
    noisiest_rules: list[RuleRow]
    model_agreement: ModelAgreement
    llm: LlmUse
    by_service: list[BreakdownRow]
    by_severity: list[BreakdownRow]
    daily: list[DailyRow]
