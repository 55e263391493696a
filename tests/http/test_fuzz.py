"""A bounded fuzz run (issue 16): hypothesis-made webhook bodies of all three shapes and API queries against
sevbot's app, on SQLite and PostgreSQL, with a fixed seed and a time budget.

For every request: no 5xx; a refused webhook wrote nothing; an accepted one reads back (each incident it
names answers ``GET /api/incidents/{id}``); ``/healthz`` answers throughout. ``SEVBOT_TEST_FUZZ_SECONDS``
sets the budget per database (default 20 s for webhooks and a third of it for the API queries).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bot.app import create_app
from tests.support import fuzz
from tests.support.db import row_counts
from tests.support.payloads import am_alert, am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings

TOKEN = "fuzz-token-0c3e7a"
BUDGET_S = float(os.environ.get("SEVBOT_TEST_FUZZ_SECONDS", "20"))
FUZZ = settings(
    max_examples=25,  # per round; rounds go on, each with the next seed, until the budget is spent
    deadline=None,
    database=None,  # the same examples every run: fixed seeds, no replayed failures from earlier runs
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FIRST_SEED = 16


MIN_ROUNDS = 4  # these always run, however slow the machine: the same 100 examples every time


def within_budget(seconds: float, rounds: Callable[[int], Callable[[], None]]) -> int:
    """Run ``rounds(seed)()`` for seeds 16, 17, … (the first ``MIN_ROUNDS`` always, then until ``seconds``
    have passed); how many examples ran. A failing example fails its round at once (shrunk by hypothesis,
    which reports the seed to rerun)."""
    deadline = time.monotonic() + seconds
    next_seed = FIRST_SEED
    while next_seed < FIRST_SEED + MIN_ROUNDS or time.monotonic() < deadline:
        rounds(next_seed)()
        next_seed += 1
    return (next_seed - FIRST_SEED) * int(FUZZ.max_examples)


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings_ = make_settings(tmp_path, database_url, webhook_token=TOKEN, scorer="model")
    with TestClient(
        create_app(settings_), raise_server_exceptions=False, client=LOOPBACK_CLIENT
    ) as test_client:
        # Something to group with, resolve and read: the fuzzed alerts meet real incidents.
        test_client.post("/webhooks/alertmanager", content=body(am_payload([am_alert()])), headers=_auth())
        yield test_client


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _counts(client: TestClient) -> dict[str, int]:
    return row_counts(client.app.state.services.db)  # type: ignore[attr-defined]


def test_fuzzed_webhooks_never_get_a_5xx_or_write_half(client: TestClient) -> None:
    seen: dict[int, int] = {}
    cases = st.sampled_from(sorted(fuzz.PAYLOADS)).flatmap(lambda s: st.tuples(st.just(s), fuzz.bodies(s)))

    def run(case: tuple[str, bytes]) -> None:
        source, raw = case
        before = _counts(client)

        response = client.post(f"/webhooks/{source}", content=raw, headers=_auth())

        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in (202, 400, 413, 422), (
            response.status_code,
            response.text[:500],
            raw[:500],
        )
        if response.status_code != 202:
            assert _counts(client) == before, "a refused webhook wrote something"
            assert set(response.json()) <= {"error", "fields"}
            return
        for incident_id in response.json()["incidents"]:
            detail = client.get(f"/api/incidents/{incident_id}")
            assert detail.status_code == 200, detail.text[:500]
        assert client.get("/healthz").status_code == 200

    ran = within_budget(BUDGET_S, lambda s: seed(s)(FUZZ(given(cases)(run))))

    assert ran >= 50, "the fuzzer hardly ran"
    # It got past validation and was refused, both often enough to mean something (the share accepted
    # depends on the strategies, not on the machine: about 8% of fuzzed bodies are valid).
    enough = max(3, ran // 50)
    assert seen.get(202, 0) >= enough and seen.get(422, 0) >= enough, seen
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_fuzzed_api_queries_never_get_a_5xx(client: TestClient) -> None:
    def run(listing: dict[str, Any], incident_id: str, detail: dict[str, Any]) -> None:
        answers = [
            client.get(f"/api/incidents?{fuzz.query_string(listing)}"),
            client.get(f"/api/incidents/{quote(incident_id)}?{fuzz.query_string(detail)}"),
        ]
        for answer in answers:
            assert answer.status_code in (200, 404, 422), (answer.status_code, answer.text[:500])

    queries = given(fuzz.list_queries, fuzz.incident_ids, fuzz.detail_queries)
    ran = within_budget(BUDGET_S / 3, lambda s: seed(s)(FUZZ(queries(run))))

    assert ran >= 50
    assert client.get("/healthz").status_code == 200
