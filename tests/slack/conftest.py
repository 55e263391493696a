"""Fixtures for the Slack tests: a fake Slack Web API and the real Slack sink delivering to it."""

from __future__ import annotations

import pytest

from bot.bootstrap import Services
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.slack import Delivery, make_delivery


@pytest.fixture
def delivery(services: Services, slack: FakeSlack, clock: Clock) -> Delivery:
    return make_delivery(services, slack, clock)
