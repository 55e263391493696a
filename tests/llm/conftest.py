"""Fixtures for the LLM drafting tests: the fake OpenAI-compatible server and a sevbot app pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        yield fake
