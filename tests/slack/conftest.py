"""Fixtures for the Slack tests: a fake Slack Web API and the real Slack sink delivering to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.bootstrap import Services
from tests.conftest import Clock
from tests.slack.helpers import Delivery, make_delivery
from tests.support.fake_slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def delivery(services: Services, slack: FakeSlack, clock: Clock) -> Delivery:
    return make_delivery(services, slack, clock)
