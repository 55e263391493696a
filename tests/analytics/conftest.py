"""Fixtures of the analytics tests: the bundled model, trained once per session."""

from __future__ import annotations

import pytest

from analytics.model import SeverityModel
from analytics.training import train_default_model


@pytest.fixture(scope="session")
def default_model() -> SeverityModel:
    return train_default_model(seed=0)
