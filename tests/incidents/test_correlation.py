"""Which new incidents join an earlier incident's story, which one leads, and who is paged (pure)."""

from __future__ import annotations

from datetime import timedelta

from analytics.records import Severity
from bot.incidents.correlation import (
    Opened,
    Primary,
    RelatedBy,
    Relation,
    correlate,
    dependency_chains,
)
from tests.support.payloads import T0

S = timedelta(seconds=1)


def test_a_storm_in_one_batch_is_led_by_its_most_severe_incident_and_paged_once() -> None:
    opened = [
        Opened(1, "search", Severity.SEV2, T0),
        Opened(2, "search", Severity.SEV1, T0 + S),
        Opened(3, "search", Severity.SEV1, T0 + 2 * S),
        Opened(4, "billing", Severity.SEV3, T0),
    ]

    story = correlate(opened, [], Relation())

    assert story.order == [2, 3, 1, 4]  # roots go in severity order, then opening order
    assert {i: (link.primary_id, link.page) for i, link in story.links.items()} == {
        3: (2, False),  # the primary was SEV1 already: its root carried the page
        1: (2, False),
    }


def test_a_later_sev1_pages_once_in_a_story_whose_primary_was_not_sev1() -> None:
    waiting = [Primary(1, "search", T0, paged=False)]
    opened = [Opened(5, "search", Severity.SEV1, T0 + 9 * S), Opened(6, "search", Severity.SEV1, T0 + 9 * S)]

    story = correlate(opened, waiting, Relation())

    assert [(link.incident_id, link.page) for link in story.links.values()] == [(5, True), (6, False)]


def test_outside_the_window_or_on_another_service_a_new_incident_leads_its_own_story() -> None:
    waiting = [Primary(1, "search", T0, paged=True)]
    opened = [
        Opened(7, "search", Severity.SEV2, T0 + timedelta(minutes=11)),
        Opened(8, "checkout", Severity.SEV2, T0 + S),
        Opened(9, None, Severity.SEV2, T0 + S),
    ]

    assert correlate(opened, waiting, Relation(window=timedelta(minutes=10))).links == {}
    assert correlate([Opened(10, "search", Severity.SEV2, T0)], waiting, Relation(RelatedBy.NONE)).links == {}


def test_the_dependency_chain_relates_services_that_depend_on_each_other_either_way() -> None:
    chains = dependency_chains({"search": ["search-db", "cache"], "indexer": ["search-db"], "billing": []})
    relation = Relation(RelatedBy.DEPENDENCY, chains=chains)
    waiting = [Primary(1, "indexer", T0, paged=False)]

    story = correlate(
        [Opened(2, "search", Severity.SEV2, T0 + S), Opened(3, "billing", Severity.SEV2, T0 + S)],
        waiting,
        relation,
    )

    assert chains["cache"] == {"search", "search-db", "cache", "indexer"}
    assert list(story.links) == [2]
    assert Relation().services_of("search") == {"search"}
    assert relation.lock_key("cache") == relation.lock_key("indexer") == "related:cache"
