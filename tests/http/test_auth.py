"""Who may read what over HTTP: the read API's token (or loopback), the metrics token, open health checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.errors import ConfigError
from bot.model.drift import live_drift
from bot.model.serving import publish_drift
from bot.settings import load_settings
from tests.support.asgi_server import serve
from tests.support.clock import Clock
from tests.support.payloads import am_alert, am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings

API_TOKEN = "api-token-4f9c2a7e1b"
METRICS_TOKEN = "metrics-token-8d3e6f0a"
WEBHOOK_TOKEN = "webhook-token-5b1c9d2e"
REMOTE_CLIENT = ("203.0.113.7", 40000)  # an address on the internet (TEST-NET-3)
GUARDED = ("/api/incidents", "/api/incidents/1", "/openapi.json", "/docs", "/redoc")
# What the planted alert says; none of it may show up in /metrics.
CANARY = "zq-canary-7731"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app_settings(tmp_path: Path, sqlite_url: str) -> dict[str, Any]:
    return {"tmp_path": tmp_path, "database_url": sqlite_url, "webhook_token": WEBHOOK_TOKEN}


def client_for(clock: Clock, peer: tuple[str, int], **settings: Any) -> TestClient:
    return TestClient(create_app(make_settings(**settings), clock=clock), client=peer)


def fire(client: TestClient, *, alertname: str = "CheckoutHighErrorRate") -> None:
    alert = am_alert(
        alertname,
        extra_labels={"team": CANARY},
        annotations={"summary": f"{CANARY} checkout errors", "description": f"password={CANARY}"},
    )
    response = client.post(
        "/webhooks/alertmanager", content=body(am_payload([alert])), headers=bearer(WEBHOOK_TOKEN)
    )
    assert response.status_code == 202


@pytest.fixture
def open_api(app_settings: dict[str, Any], clock: Clock) -> Iterator[tuple[TestClient, TestClient]]:
    """No SEVBOT_API_TOKEN: one client on the machine itself, one from the internet, same app."""
    app = create_app(make_settings(**app_settings), clock=clock)
    with TestClient(app, client=LOOPBACK_CLIENT) as local, TestClient(app, client=REMOTE_CLIENT) as remote:
        fire(local)
        yield local, remote


def test_without_an_api_token_the_api_and_its_schema_answer_loopback_only(
    open_api: tuple[TestClient, TestClient],
) -> None:
    local, remote = open_api

    assert {path: local.get(path).status_code for path in GUARDED} == dict.fromkeys(GUARDED, 200)
    answers = {path: remote.get(path) for path in GUARDED}
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(GUARDED, 401)
    assert all(CANARY not in r.text and "checkout" not in r.text for r in answers.values())
    assert "SEVBOT_API_TOKEN" in answers["/api/incidents"].json()["detail"]
    # A webhook token does not open it either.
    assert remote.get("/api/incidents", headers=bearer(WEBHOOK_TOKEN)).status_code == 401


def test_health_checks_stay_open_and_say_nothing_about_incidents(
    open_api: tuple[TestClient, TestClient],
) -> None:
    _, remote = open_api

    health, ready = remote.get("/healthz"), remote.get("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert set(ready.json()) == {"ready", "status", "database", "migrations", "scorer", "outbox"}
    assert CANARY not in ready.text and "checkout" not in ready.text.lower()


def test_a_request_through_a_proxy_on_the_same_host_is_not_a_loopback_client(
    app_settings: dict[str, Any], clock: Clock
) -> None:
    """Real HTTP: uvicorn's peer is 127.0.0.1, but a proxy in front says whom it forwards for."""
    with serve(create_app(make_settings(**app_settings), clock=clock)) as url:
        direct = httpx.get(f"{url}/api/incidents", timeout=10)
        proxied = httpx.get(f"{url}/api/incidents", headers={"X-Forwarded-For": "198.51.100.4"}, timeout=10)
        claims_loopback = httpx.get(
            f"{url}/openapi.json", headers={"X-Forwarded-For": "127.0.0.1"}, timeout=10
        )

    assert direct.status_code == 200
    assert proxied.status_code == 401
    assert claims_loopback.status_code == 401


def test_with_an_api_token_only_that_bearer_token_reads_the_api(
    app_settings: dict[str, Any], clock: Clock
) -> None:
    with (
        client_for(clock, REMOTE_CLIENT, **app_settings, api_token=API_TOKEN) as remote,
        client_for(clock, LOOPBACK_CLIENT, **app_settings, api_token=API_TOKEN) as local,
    ):
        fire(remote)
        wrong = ["Bearer not-the-api-token", f"Bearer {WEBHOOK_TOKEN}", f"Basic {API_TOKEN}", API_TOKEN, ""]

        assert {path: remote.get(path, headers=bearer(API_TOKEN)).status_code for path in GUARDED} == (
            dict.fromkeys(GUARDED, 200)
        )
        assert [remote.get("/api/incidents", headers={"Authorization": w}).status_code for w in wrong] == [
            401
        ] * len(wrong)
        # Once a token is set, the machine itself presents it too.
        assert local.get("/api/incidents").status_code == 401
        assert remote.get("/api/incidents").headers["www-authenticate"] == 'Bearer realm="sevbot"'
        # And the API token sends no alerts.
        assert (
            remote.post("/webhooks/alertmanager", content=b"{}", headers=bearer(API_TOKEN)).status_code == 401
        )


def test_the_metrics_token_guards_metrics_when_set(app_settings: dict[str, Any], clock: Clock) -> None:
    with (
        client_for(clock, REMOTE_CLIENT, **app_settings) as open_metrics,
        client_for(clock, REMOTE_CLIENT, **app_settings, metrics_token=METRICS_TOKEN) as guarded,
    ):
        assert open_metrics.get("/metrics").status_code == 200
        assert guarded.get("/metrics").status_code == 401
        assert guarded.get("/metrics", headers=bearer(WEBHOOK_TOKEN)).status_code == 401
        assert guarded.get("/metrics", headers=bearer(METRICS_TOKEN)).status_code == 200
        # The metrics token is not an API token.
        assert guarded.get("/api/incidents", headers=bearer(METRICS_TOKEN)).status_code == 401


_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} ", re.MULTILINE)


def test_no_metric_label_carries_alert_text(app_settings: dict[str, Any], clock: Clock) -> None:
    """With the model serving, the drift gauge is filled too: it names feature families, never the words."""
    with client_for(clock, LOOPBACK_CLIENT, **app_settings, scorer="model") as client:
        fire(client)
        fire(client, alertname="KubePersistentVolumeFillingUp")
        services = client.app.state.services  # type: ignore[attr-defined]
        # What the model upkeep does every 30 turns, done now.
        publish_drift(services.metrics, live_drift(services.db, services.scorer.current, now=clock()))
        text = client.get("/metrics").text

    labels = [m.group("labels") for m in _SAMPLE.finditer(text) if m.group("name").startswith("sevbot_")]
    whats = {v for v in re.findall(r'what="([^"]*)"', text)}
    assert labels, "the metrics have labelled samples"
    assert CANARY not in text and "checkout" not in text.lower() and "kube" not in text.lower()
    assert "levels" in whats
    assert whats - {"levels"} and all(re.fullmatch(r"feature:[a-z]+", w) for w in whats - {"levels"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_token": "changeme"}, "SEVBOT_API_TOKEN: .*placeholder"),
        ({"metrics_token": "short"}, "SEVBOT_METRICS_TOKEN: .*placeholder"),
        ({"api_token": WEBHOOK_TOKEN, "webhook_token": WEBHOOK_TOKEN}, "same as SEVBOT_WEBHOOK_TOKEN"),
        (
            {"api_token": API_TOKEN, "webhook_token_grafana": API_TOKEN},
            "same as SEVBOT_WEBHOOK_TOKEN_GRAFANA",
        ),
        (
            {"api_token": API_TOKEN, "metrics_token": API_TOKEN},
            "SEVBOT_METRICS_TOKEN is the same as SEVBOT_API",
        ),
    ],
)
def test_api_and_metrics_tokens_are_real_and_their_own(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**values)


def test_the_pages_session_cookie_is_bound_to_the_token_and_lapses() -> None:
    from bot.http.auth import page_session, page_session_valid

    cookie = page_session(API_TOKEN, expires_at=2_000_000_000)

    assert API_TOKEN not in cookie
    assert page_session_valid(API_TOKEN, cookie, now=1_999_999_999)
    assert not page_session_valid(API_TOKEN, cookie, now=2_000_000_000)  # expired
    assert not page_session_valid("another-token-6e1f0a", cookie, now=1_999_999_999)  # token rotated
    forged_expiry = "2999999999" + cookie[cookie.index(".") :]
    assert not page_session_valid(API_TOKEN, forged_expiry, now=1_999_999_999)
    assert not any(
        page_session_valid(API_TOKEN, bad, now=0) for bad in ("", ".", "x.y", "1" * 200, cookie + "0")
    )
