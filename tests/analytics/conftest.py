"""Fixtures of the analytics tests: the bundled model as shipped, and a small team model trained once."""

from __future__ import annotations

import pytest

from analytics.artifact import bundled_model
from analytics.catalogue import catalogue_examples
from analytics.examples import TrainingExample, rule_alert
from analytics.model import SeverityModel
from analytics.paging import PageRule
from analytics.training import Choice, train_team_model


@pytest.fixture(scope="session")
def default_model() -> SeverityModel:
    return bundled_model()


def as_rules(examples: list[TrainingExample]) -> list[TrainingExample]:
    """Catalogue rows as rule-file rows: no context, no source severity, grouped by archetype."""
    out = []
    for e in examples:
        alert = rule_alert(
            alertname=e.alert.alertname,
            expr=e.alert.expression,
            for_duration=None,
            labels=e.alert.labels,
            summary=e.alert.annotations.get("summary"),
            description=e.alert.annotations.get("description"),
        )
        out.append(TrainingExample(alert=alert, level=e.level, group=e.group, origin="rules"))
    return out


@pytest.fixture(scope="session")
def catalogue_rules() -> list[TrainingExample]:
    return as_rules(catalogue_examples(seed=0, variants=2))


@pytest.fixture(scope="session")
def team_model(catalogue_rules: list[TrainingExample]) -> SeverityModel:
    """A team model over the catalogue's rules that uses every part: features, the prior and the text
    model, with a page rule (the blend is fixed here; choosing it is tested in test_training.py)."""
    choice = Choice(alpha=0.5, with_prior=True, scores={}, page=PageRule(prior_weight=1.0, shift=0.5))
    return train_team_model(catalogue_rules, prior=bundled_model().content, seed=0, choice=choice)
