"""The urgency policy: the source's word sets the level, context moves it by one at most, in plain words."""

from __future__ import annotations

import itertools

import pytest

from analytics.policy import (
    WORD_EDGES,
    band,
    level_centre,
    level_probabilities,
    settle,
)
from analytics.records import AlertRecord, Severity
from analytics.scoring import SEVERITY_VOCABULARY, ScoringContext
from tests.support.alerts import checkout_alert

ALERT: AlertRecord = checkout_alert(service="checkout", env="prod")
BURST = {"service_alerts_5m": 12, "service_alerts_60m": 40, "service_usual_per_hour": 2.0}
CONTEXTS = [
    ScoringContext(
        service_criticality=tier,
        flapping=flapping,
        past_ratings=ratings,
        **(BURST if burst else {}),  # type: ignore[arg-type]
    )
    for tier, flapping, burst, ratings in itertools.product(
        (None, "critical", "high", "medium", "low"),
        (False, True),
        (False, True),
        ({}, {"SEV1": 1}, {"SEV4": 2}, {"SEV2": 1, "SEV3": 1}),
    )
]


def settled(level: Severity, context: ScoringContext) -> tuple[Severity, list[str], float]:
    result = settle(alert=ALERT, context=context, anchor=level_centre(level, WORD_EDGES))
    total = level_centre(level, WORD_EDGES) + sum(t.weight for t in result.terms)
    return result.level, [t.text for t in result.terms], total - result.urgency


@pytest.mark.parametrize("word", sorted(SEVERITY_VOCABULARY))
def test_without_context_every_known_word_scores_the_level_it_maps_to(word: str) -> None:
    level = SEVERITY_VOCABULARY[word]
    assert settled(level, ScoringContext()) == (level, [], 0.0)


def test_context_moves_a_word_by_one_level_at_most_and_always_says_why() -> None:
    for level, context in itertools.product(Severity, CONTEXTS):
        moved, reasons, error = settled(level, context)
        assert abs(error) < 1e-12  # the terms add up to the urgency
        assert abs(moved.rank - level.rank) <= 1, (level, context)
        if moved is not level:
            assert reasons, (level, context)


def test_a_higher_criticality_tier_never_lowers_the_level() -> None:
    tiers = ("low", "medium", "high", "critical")
    for level, flapping, burst in itertools.product(Severity, (False, True), (False, True)):
        ranks = [
            settled(
                level,
                ScoringContext(
                    service_criticality=tier,
                    flapping=flapping,
                    **(BURST if burst else {}),  # type: ignore[arg-type]
                ),
            )[0].rank
            for tier in tiers
        ]
        assert ranks == sorted(ranks, reverse=True), (level, flapping, burst, ranks)


def test_each_signal_alone_moves_a_warning_one_way_or_not_at_all() -> None:
    def level_of(**context: object) -> Severity:
        return settled(Severity.SEV3, ScoringContext(**context))[0]  # type: ignore[arg-type]

    assert level_of(**BURST) is Severity.SEV2
    assert level_of(flapping=True) is Severity.SEV4
    assert level_of(service_criticality="low") is Severity.SEV4
    assert level_of(service_criticality="critical") is Severity.SEV3  # only with another signal
    assert level_of(service_criticality="critical", **BURST) is Severity.SEV2
    assert level_of(service_criticality="critical", flapping=True) is Severity.SEV3


def test_a_service_without_history_has_no_burst() -> None:
    # A fresh sevbot knows no usual rate: many alerts in its first hour are not "far above usual".
    first_hour = ScoringContext(service_alerts_5m=300, service_alerts_60m=900, service_usual_per_hour=0.0)
    assert settled(Severity.SEV3, first_hour) == (Severity.SEV3, [], 0.0)
    _, reasons, _ = settled(Severity.SEV3, ScoringContext(**BURST))  # type: ignore[arg-type]
    assert reasons == ["12 alerts for checkout in 5 min, 72× its usual rate"]


def test_three_agreeing_ratings_are_team_data_and_decide() -> None:
    level, reasons, error = settled(Severity.SEV1, ScoringContext(past_ratings={"SEV4": 3}))
    assert level is Severity.SEV4 and abs(error) < 1e-12
    assert reasons == ["people rated this alert SEV4 3 of 3 times"]
    one = settled(Severity.SEV1, ScoringContext(past_ratings={"SEV4": 1}))
    assert one[0] is Severity.SEV2  # one person, three levels away: one level


def test_probabilities_peak_at_the_band_and_a_plain_word_is_confident() -> None:
    for urgency in [x / 20 for x in range(-20, 110)]:
        probabilities = level_probabilities(urgency, edges=WORD_EDGES, sharpness=4.0)
        assert abs(sum(probabilities.values()) - 1.0) < 1e-12
        assert max(probabilities, key=lambda s: probabilities[s]) is band(urgency)
    assert level_probabilities(4.0, edges=WORD_EDGES, sharpness=4.0)[Severity.SEV1] > 0.85
