"""The silence API client over real HTTP against a stand-in: exactly what it sends, and every way it fails."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from analytics.records import SilenceTarget
from bot.errors import SilenceApiFailed
from bot.incidents.silence_api import GRAFANA_PREFIX, Matcher, SilenceApi, configured_apis
from bot.settings import Settings
from tests.support.fake_alertmanager import FakeAlertmanager
from tests.support.processes import free_port

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MATCHERS = [Matcher("alertname", "NodeDown"), Matcher("job", "node")]


@pytest.fixture
def am() -> Iterator[FakeAlertmanager]:
    with FakeAlertmanager().running() as fake:
        yield fake


def api_for(url: str, **kwargs: object) -> SilenceApi:
    return SilenceApi(target=SilenceTarget.ALERTMANAGER, base_url=url, timeout=10.0, **kwargs)  # type: ignore[arg-type]


def create(api: SilenceApi) -> str:
    return asyncio.run(
        api.create(
            matchers=MATCHERS,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=2),
            created_by="Alice Example (Slack U0ALICE)",
            comment="deploying the fix",
        )
    )


def test_create_posts_api_v2_matchers_times_creator_and_comment_with_a_bearer_token(
    am: FakeAlertmanager,
) -> None:
    silence_id = create(api_for(am.url + "/", token="am-token-123"))

    [request] = am.requests
    assert (request.method, request.path) == ("POST", "/api/v2/silences")
    assert request.headers["authorization"] == "Bearer am-token-123"
    assert request.body == {
        "matchers": [
            {"name": "alertname", "value": "NodeDown", "isRegex": False, "isEqual": True},
            {"name": "job", "value": "node", "isRegex": False, "isEqual": True},
        ],
        "startsAt": "2026-03-01T12:00:00.000Z",
        "endsAt": "2026-03-01T14:00:00.000Z",
        "createdBy": "Alice Example (Slack U0ALICE)",
        "comment": "deploying the fix",
    }
    assert [s["id"] for s in am.active()] == [silence_id]


def test_basic_auth_and_grafanas_prefix() -> None:
    with FakeAlertmanager().running() as am:
        create(api_for(am.url, basic=("sevbot", "s3cret-pass")))
        expected = "Basic " + base64.b64encode(b"sevbot:s3cret-pass").decode()
        assert am.requests[0].headers["authorization"] == expected
    with FakeAlertmanager(prefix=GRAFANA_PREFIX).running() as grafana:
        api = SilenceApi(target=SilenceTarget.GRAFANA, base_url=grafana.url, timeout=10.0, token="glsa_x")
        create(api)
        [request] = grafana.requests
        assert request.path == "/api/alertmanager/grafana/api/v2/silences"
        assert request.headers["authorization"] == "Bearer glsa_x"


def test_expire_and_list(am: FakeAlertmanager) -> None:
    api = api_for(am.url)
    silence_id = create(api)
    [listed] = asyncio.run(api.silences())
    assert listed.id == silence_id and listed.state == "active"
    assert listed.matchers == tuple(MATCHERS) and listed.ends_at == T0 + timedelta(hours=2)

    assert asyncio.run(api.expire(silence_id)) is True
    assert am.requests[-1].method == "DELETE" and am.requests[-1].path == f"/api/v2/silence/{silence_id}"
    assert am.active() == []
    assert asyncio.run(api.expire("6b0f4e1c-0000-4000-8000-000000000000")) is False  # "silence not found"


def test_a_listed_entry_that_is_not_a_silence_is_skipped(am: FakeAlertmanager) -> None:
    api = api_for(am.url)
    silence_id = create(api)
    am.silences["junk"] = "not a silence"  # type: ignore[assignment]
    assert [s.id for s in asyncio.run(api.silences())] == [silence_id]


def test_nothing_listening_is_a_failure_that_names_the_address() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SilenceApiFailed) as raised:
        create(api_for(url))
    assert raised.value.target == "Alertmanager" and raised.value.status is None
    assert f"cannot reach {url}" in raised.value.problem


def test_a_hung_alertmanager_is_a_timeout_not_a_wait(am: FakeAlertmanager) -> None:
    am.hold_next()
    api = SilenceApi(target=SilenceTarget.ALERTMANAGER, base_url=am.url, timeout=0.3)
    with pytest.raises(SilenceApiFailed) as raised:
        create(api)
    assert "no answer" in raised.value.problem and "0.3s" in raised.value.problem
    assert am.active() == []


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (401, '"unauthorized"', 'HTTP 401: "unauthorized" (check sevbot\'s credentials for it)'),
        (422, '{"code":612,"message":"matchers in body should have at least 1 items"}', "HTTP 422: {"),
        (500, "x" * 1000, "HTTP 500: " + "x" * 160 + "…"),
        (200, "not json", "its answer carries no silence id"),
    ],
)
def test_error_answers_become_a_short_problem(
    am: FakeAlertmanager, status: int, body: str, shown: str
) -> None:
    am.fail_next(status, body)
    with pytest.raises(SilenceApiFailed) as raised:
        create(api_for(am.url))
    assert raised.value.problem.startswith(shown)
    assert len(raised.value.problem) < 250


def test_the_settings_name_the_apis() -> None:
    assert configured_apis(Settings()) == {}
    apis = configured_apis(
        Settings(
            alertmanager_url="http://am:9093/",
            alertmanager_username="sevbot",
            alertmanager_password="pw-123456",
            grafana_url="https://grafana.example.com",
            grafana_token="glsa_token_1",
        )
    )
    assert apis[SilenceTarget.ALERTMANAGER].api_url == "http://am:9093/api/v2"
    assert apis[SilenceTarget.GRAFANA].api_url == "https://grafana.example.com" + GRAFANA_PREFIX


def test_an_answer_trickled_a_byte_at_a_time_is_a_timeout_not_a_wait(am: FakeAlertmanager) -> None:
    am.trickle_next(0.1)  # each read gets a byte within the timeout; the whole answer takes 20 s
    api = SilenceApi(target=SilenceTarget.ALERTMANAGER, base_url=am.url, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(SilenceApiFailed) as raised:
        create(api)
    assert "no answer" in raised.value.problem and "1s" in raised.value.problem
    assert time.monotonic() - started < 10  # generous: hostile input
