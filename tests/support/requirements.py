"""What a test needs from the machine: skipped locally when absent, a failure in CI (REQUIRE_ALL)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("SEVBOT_TEST_REQUIRE_ALL") == "1"
POSTGRES_URL = os.environ.get("SEVBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# The real public alert rules and runbooks, beside the checkout (never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def missing(reason: str) -> None:
    """Skip locally when a real part is absent; in CI (SEVBOT_TEST_REQUIRE_ALL=1) that is a failure."""
    if REQUIRE_ALL:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
