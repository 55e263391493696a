"""People's ratings as live scoring sees them: one vote per person per incident, used when votes agree."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from analytics.records import AlertRecord
from analytics.scoring import RuleScorer, Score, ScoringContext
from bot.bootstrap import Services
from bot.ingest.context import ContextProvider
from storage.feedback import FeedbackRepository
from storage.models import Feedback
from tests.support.payloads import T0, am_alert
from tests.support.slack import fire
from tests.support.slack_app import running_slack_bot

NAME = "CheckoutHighErrorRate"


def rate(services: Services, *ratings: tuple[int, str, str]) -> None:
    """``(incident, user, rating)`` rows, a minute apart, in order (a rating is a severity or "noise")."""
    with services.db.write() as conn:
        repo = FeedbackRepository(conn)
        for n, (incident, user, rating) in enumerate(ratings):
            noise = rating == "noise"
            repo.add(
                incident_id=incident,
                kind="noise" if noise else "severity",
                alertname=NAME,
                user=user,
                old_severity="SEV3",
                new_severity=None if noise else rating,
                reason=None,
                now=T0 + timedelta(minutes=n),
            )


@pytest.fixture
def services(services: Services) -> Services:
    """Four incidents of the alert name to rate (ids 1 to 4)."""
    for n in range(1, 5):
        fire(services, am_alert(NAME, instance=f"i{n}"), group_key=f"g{n}")
    return services


def ratings(services: Services) -> dict[str, int]:
    with services.db.read() as conn:
        return FeedbackRepository(conn).ratings([NAME]).get(NAME, {})


def test_one_persons_repeated_ratings_of_one_incident_are_one_vote_and_alone_count_for_nothing(
    services: Services,
) -> None:
    rate(services, *[(1, "U1", "SEV4")] * 5)

    assert ratings(services) == {}


def test_votes_that_agree_count_from_two_people_or_two_incidents(services: Services) -> None:
    rate(
        services,
        (1, "U1", "SEV4"),
        (1, "U2", "SEV4"),  # two people, one incident
        (2, "U3", "noise"),
        (3, "U3", "noise"),  # one person, two incidents
        (4, "U4", "SEV1"),  # alone: not used
    )

    assert ratings(services) == {"SEV4": 2, "noise": 2}


def test_a_persons_latest_rating_of_an_incident_is_their_vote(services: Services) -> None:
    rate(services, (1, "U1", "SEV4"), (1, "U2", "SEV4"), (1, "U1", "SEV2"), (2, "U3", "SEV2"))

    assert ratings(services) == {"SEV2": 2}


class RecordingScorer:
    """The rule scorer, remembering the context each alert (by instance) was scored with."""

    version = "rules-recording"

    def __init__(self) -> None:
        self.contexts: dict[str, ScoringContext] = {}

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        self.contexts[alert.labels["instance"]] = context
        return RuleScorer().score(alert, context)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_five_sev_commands_from_one_person_do_not_move_the_next_alert(
    tmp_path: Path, database_url: str
) -> None:
    scorer = RecordingScorer()
    admins = {"U0ALICE": {"is_admin": True}, "U0BOB": {"is_admin": True}}
    with running_slack_bot(tmp_path, database_url, users=admins, scorer=scorer) as bot:
        # Ratings are read fresh for every alert here (the app remembers them for a minute).
        bot.services.ingestor.context = ContextProvider(catalog={}, cache_seconds=0)
        bot.alert(instance="i1", group_key="g1")
        bot.slack.wait_for("chat.postMessage")

        stuffed = [bot.ask("sev 1 SEV4 not urgent", user_id="U0ALICE") for _ in range(5)]
        bot.alert(instance="i2", group_key="g2")
        seconded = bot.ask("sev 1 SEV4", user_id="U0BOB")
        bot.alert(instance="i3", group_key="g3")
        bot.ask("sev 1 SEV2 on second thought", user_id="U0ALICE")
        bot.alert(instance="i4", group_key="g4")
        stored = bot.rows(Feedback)

    assert "now SEV4" in stuffed[0] and all("noted as a confirmation" in s for s in stuffed[1:])
    assert "SEV4" in seconded
    assert scorer.contexts["i2"].past_ratings == {}  # five clicks, one person: nothing
    assert scorer.contexts["i3"].past_ratings == {"SEV4": 2}  # Alice and Bob agree
    assert scorer.contexts["i4"].past_ratings == {}  # Alice now says SEV2, Bob SEV4: no agreement
    assert len(stored) == 7  # every click is kept for the record and for training
