"""The pure incident rules (bot/incidents/rules.py): where a firing alert goes, when an incident flaps, and
what a state change is a change of."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from analytics.records import IncidentStatus, TimelineKind
from bot.incidents.rules import (
    INCIDENT_KEY,
    IncidentRules,
    Placement,
    change_key,
    is_flapping,
    place_firing_alert,
)
from tests.support.payloads import T0

MINUTE = timedelta(minutes=1)
RULES = IncidentRules(reopen_window=30 * MINUTE, flap_changes=3, flap_window=60 * MINUTE)


def place(status: str | None, *, resolved_at: datetime | None = None, fired_at: datetime = T0) -> Placement:
    return place_firing_alert(status=status, resolved_at=resolved_at, fired_at=fired_at, rules=RULES)


# --- place_firing_alert --------------------------------------------------------------------------------


def test_an_alert_of_a_group_without_an_incident_opens_a_new_one() -> None:
    assert place(None) is Placement.NEW


@pytest.mark.parametrize("status", [IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED])
def test_an_alert_joins_its_groups_open_or_acknowledged_incident(status: IncidentStatus) -> None:
    assert place(status, resolved_at=T0 - 5 * 60 * MINUTE) is Placement.JOIN  # resolved_at does not matter


@pytest.mark.parametrize("resolved_minutes_before", [0, 1, 30])
def test_an_alert_firing_within_the_reopen_window_of_the_resolution_reopens_the_incident(
    resolved_minutes_before: int,
) -> None:
    resolved_at = T0 - resolved_minutes_before * MINUTE
    assert place(IncidentStatus.RESOLVED, resolved_at=resolved_at) is Placement.REOPEN


def test_an_alert_firing_after_the_reopen_window_opens_a_new_incident() -> None:
    resolved_at = T0 - 30 * MINUTE - timedelta(seconds=1)
    assert place(IncidentStatus.RESOLVED, resolved_at=resolved_at) is Placement.NEW


def test_a_late_alert_that_started_before_the_resolution_reopens_the_incident() -> None:
    # Event time, not arrival: the alert fired before the incident resolved, so it belongs to it.
    assert place(IncidentStatus.RESOLVED, resolved_at=T0 + 10 * MINUTE) is Placement.REOPEN


def test_a_resolved_incident_without_a_resolution_time_is_not_reopened() -> None:
    assert place(IncidentStatus.RESOLVED, resolved_at=None) is Placement.NEW


def test_the_reopen_window_is_the_rules_own() -> None:
    wide = IncidentRules(reopen_window=2 * 60 * MINUTE)
    resolved_at = T0 - 90 * MINUTE

    assert place(IncidentStatus.RESOLVED, resolved_at=resolved_at) is Placement.NEW
    assert (
        place_firing_alert(status=IncidentStatus.RESOLVED, resolved_at=resolved_at, fired_at=T0, rules=wide)
        is Placement.REOPEN
    )


# --- is_flapping ---------------------------------------------------------------------------------------


NOW = T0 + 2 * 60 * MINUTE


def changes(key: str, *minutes_before_now: float) -> list[tuple[datetime, str]]:
    """State changes of ``key`` (an alert's fingerprint, or the incident) these many minutes before now."""
    return [(NOW - timedelta(minutes=m), key) for m in minutes_before_now]


def flapping(history: list[tuple[datetime, str]], rules: IncidentRules = RULES) -> bool:
    return is_flapping(history, now=NOW, rules=rules)


def test_more_changes_of_one_thing_than_the_limit_within_the_window_is_flapping() -> None:
    assert flapping(changes("fp1", 1, 2, 3, 4))


def test_exactly_the_limit_of_changes_is_not_yet_flapping() -> None:
    assert not flapping(changes("fp1", 1, 2, 3))


def test_changes_are_counted_per_thing_not_added_up() -> None:
    # Twelve changes in all, but no alert and not the incident changed more than three times.
    history = changes("fp1", 1, 2, 3) + changes("fp2", 1, 2, 3) + changes(INCIDENT_KEY, 1, 2, 3)
    history += changes("fp3", 5, 6, 7)

    assert not flapping(history)
    assert flapping([*history, *changes(INCIDENT_KEY, 8)])


def test_the_window_includes_both_its_edges() -> None:
    assert flapping(changes("fp1", 0, 1, 2, 60))  # at now and exactly a window before now


def test_changes_before_the_window_or_after_now_do_not_count() -> None:
    before = [*changes("fp1", 1, 2, 3), (NOW - 60 * MINUTE - timedelta(seconds=1), "fp1")]
    after = [*changes("fp1", 1, 2, 3), (NOW + timedelta(seconds=1), "fp1")]

    assert not flapping(before)
    assert not flapping(after)


def test_no_changes_is_not_flapping() -> None:
    assert not flapping([])


def test_the_limit_and_window_are_the_rules_own() -> None:
    history = changes("fp1", 1, 50, 100)

    assert not flapping(history)
    assert flapping(history, IncidentRules(flap_changes=2, flap_window=120 * MINUTE))
    assert not flapping(history, IncidentRules(flap_changes=2, flap_window=60 * MINUTE))


# --- change_key ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [TimelineKind.INCIDENT_RESOLVED, TimelineKind.INCIDENT_REOPENED, TimelineKind.INCIDENT_FLAPPING]
)
def test_an_incident_event_is_a_change_of_the_incident_whatever_alert_caused_it(kind: TimelineKind) -> None:
    assert change_key(kind, {"fingerprint": "fp1"}) == INCIDENT_KEY


@pytest.mark.parametrize("kind", [TimelineKind.ALERT_RESOLVED, TimelineKind.ALERT_REFIRED])
def test_an_alert_event_is_a_change_of_that_alert(kind: TimelineKind) -> None:
    assert change_key(kind, {"fingerprint": "fp1"}) == "fp1"


@pytest.mark.parametrize("data", [{}, {"fingerprint": ""}, {"fingerprint": None}])
def test_an_alert_event_without_a_fingerprint_counts_for_the_incident(data: dict[str, object]) -> None:
    assert change_key(TimelineKind.ALERT_RESOLVED, data) == INCIDENT_KEY
