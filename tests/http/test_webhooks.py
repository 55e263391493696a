"""The webhook edge over HTTP: tokens, size limit, malformed and invalid bodies, and each source's shape."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from analytics.scoring import RuleScorer
from bot.app import create_app
from bot.http import body as body_module
from tests.support.asgi_server import serve
from tests.support.clock import Clock
from tests.support.db import row_counts
from tests.support.payloads import am_alert, am_payload, body, grafana_payload
from tests.support.processes import wait_until
from tests.support.settings import LOOPBACK_CLIENT, make_settings

TOKEN = "s3cret-webhook-token"
GRAFANA_TOKEN = "grafana-only-token"


@pytest.fixture
def client(tmp_path: Path, sqlite_url: str, clock: Clock) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        sqlite_url,
        webhook_token=TOKEN,
        webhook_token_grafana=GRAFANA_TOKEN,
        max_body_bytes=64 * 1024,
    )
    with TestClient(create_app(settings, clock=clock), client=LOOPBACK_CLIENT) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def nothing_written(client: TestClient) -> bool:
    counts = row_counts(client.app.state.services.db)  # type: ignore[attr-defined]
    return all(n == 0 for n in counts.values())


def test_alertmanager_payload_is_accepted_after_commit(client: TestClient) -> None:
    response = client.post(
        "/webhooks/alertmanager", content=body(am_payload([am_alert()])), headers=bearer(TOKEN)
    )

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "incidents": [1],
        "opened": [1],
        "truncated": 0,
    }
    detail = client.get("/api/incidents/1").json()
    assert (
        detail["alerts"][0]["expression"]
        == 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.05'
    )


def test_alertmanager_truncated_alerts_are_reported(client: TestClient) -> None:
    payload = am_payload([am_alert()], truncated=7)

    response = client.post("/webhooks/alertmanager", content=body(payload), headers=bearer(TOKEN))

    assert response.json()["truncated"] == 7
    assert 'sevbot_alerts_truncated_total{source="alertmanager"} 7.0' in client.get("/metrics").text


def test_grafana_documented_payload_keeps_links_and_values(client: TestClient) -> None:
    response = client.post(
        "/webhooks/grafana", content=body(grafana_payload()), headers=bearer(GRAFANA_TOKEN)
    )

    assert response.status_code == 202
    alert = client.get("/api/incidents/1").json()["alerts"][0]
    assert alert["values"] == {"B": 93.5, "C": 1}
    assert set(alert["links"]) == {"source", "dashboard", "panel", "silence"}
    assert alert["annotations"]["value_string"].startswith("[ var='B'")


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        ("alertmanager", {}),
        ("alertmanager", bearer("wrong-token-value")),
        ("alertmanager", {"Authorization": f"Token {TOKEN}"}),
        ("grafana", bearer(TOKEN)),  # Grafana has its own token, which takes precedence
        ("generic", {"Authorization": "Basic " + base64.b64encode(b"sevbot:nope-nope").decode()}),
    ],
)
def test_missing_or_wrong_tokens_get_401_and_write_nothing(
    client: TestClient, source: str, headers: dict[str, str]
) -> None:
    payload: Any = {"title": "x"} if source == "generic" else am_payload([am_alert()])
    if source == "grafana":
        payload = grafana_payload()

    response = client.post(f"/webhooks/{source}", content=body(payload), headers=headers)

    assert response.status_code == 401
    assert nothing_written(client)


def test_basic_auth_password_is_accepted_as_the_token(client: TestClient) -> None:
    credentials = base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()

    response = client.post(
        "/webhooks/generic", content=body({"title": "x"}), headers={"Authorization": f"Basic {credentials}"}
    )

    assert response.status_code == 202


def test_oversize_body_gets_413_and_writes_nothing(client: TestClient) -> None:
    alerts = [am_alert(instance=f"i{i}", annotations={"description": "x" * 1000}) for i in range(100)]

    response = client.post("/webhooks/alertmanager", content=body(am_payload(alerts)), headers=bearer(TOKEN))

    assert response.status_code == 413
    assert "65536" in response.json()["error"]
    assert nothing_written(client)


def test_oversize_streamed_body_without_length_gets_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = client.post("/webhooks/generic", content=chunks(), headers=bearer(TOKEN))

    assert response.status_code == 413
    assert nothing_written(client)


def test_body_that_is_not_json_gets_400(client: TestClient) -> None:
    response = client.post("/webhooks/alertmanager", content=b'{"version": "4", ', headers=bearer(TOKEN))

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert nothing_written(client)


def test_invalid_payload_gets_422_naming_each_field(client: TestClient) -> None:
    good = am_alert(instance="good")
    bad = {**am_alert(instance="bad"), "startsAt": "yesterday"}
    payload = am_payload([good, bad])
    del payload["groupKey"]

    response = client.post("/webhooks/alertmanager", content=body(payload), headers=bearer(TOKEN))

    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["fields"]}
    assert fields == {"groupKey", "alerts.1.startsAt"}
    assert nothing_written(client)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x", "status": "open"}, "status"),
        ({"title": "x", "labels": {"a": 1}}, "labels.a"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"alerts": []}, "alerts"),
        (["not", "an", "object"], "(body)"),
    ],
)
def test_generic_validation_names_the_field(client: TestClient, payload: Any, field: str) -> None:
    response = client.post("/webhooks/generic", content=body(payload), headers=bearer(TOKEN))

    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["fields"]]


def test_wrong_alertmanager_version_is_refused(client: TestClient) -> None:
    payload = {**am_payload([am_alert()]), "version": "3"}

    response = client.post("/webhooks/alertmanager", content=body(payload), headers=bearer(TOKEN))

    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "version"


def test_nul_characters_and_huge_labels_do_not_break_storage(client: TestClient) -> None:
    alert = am_alert(extra_labels={"pod": "web\x00-1", "note": "y" * 20000})

    response = client.post("/webhooks/alertmanager", content=body(am_payload([alert])), headers=bearer(TOKEN))

    assert response.status_code == 202
    labels = client.get("/api/incidents/1").json()["alerts"][0]["labels"]
    assert labels["pod"] == "web-1"
    assert len(labels["note"]) == 4096


def test_unknown_source_is_refused(client: TestClient) -> None:
    response = client.post("/webhooks/nagios", content=b"{}", headers=bearer(TOKEN))

    assert response.status_code == 422


# --- over real HTTP: what a sender sees at the edge ----------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str, clock: Clock) -> Iterator[tuple[str, Any]]:
    """sevbot's app served by uvicorn on a loopback port (the 1 MiB default body limit)."""
    settings = make_settings(tmp_path, sqlite_url, webhook_token=TOKEN)
    app = create_app(settings, clock=clock)
    with serve(app) as url:
        yield url, app


@pytest.mark.parametrize("megabytes", [3, 8])
def test_a_sender_that_writes_its_whole_body_first_reads_the_413_and_its_reason(
    served: tuple[str, Any], megabytes: int
) -> None:
    url, app = served
    oversize = body({"title": "x", "description": "y" * (megabytes * 1_000_000)})
    request = urllib.request.Request(f"{url}/webhooks/generic", data=oversize, headers=bearer(TOKEN))

    with pytest.raises(urllib.error.HTTPError) as answer:  # urllib sends the whole body, then reads
        urllib.request.urlopen(request, timeout=60)

    assert answer.value.code == 413
    assert "1048576 bytes" in json.loads(answer.value.read())["error"]
    assert urllib.request.urlopen(f"{url}/healthz", timeout=10).status == 200
    assert all(n == 0 for n in row_counts(app.state.services.db).values())


def test_a_client_that_hangs_up_mid_body_is_one_log_line(
    served: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = served
    tracebacks = _Records()
    logging.getLogger("uvicorn.error").addHandler(tracebacks)
    caplog.set_level(logging.INFO, logger="bot")
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n".encode()
                + b'{"title": "cut off'
            )
        wait_until(
            lambda: [r for r in caplog.records if r.getMessage().startswith("client disconnected")],
            what="the disconnect to be logged",
            timeout=10,
        )
    finally:
        logging.getLogger("uvicorn.error").removeHandler(tracebacks)

    lines = [r for r in caplog.records if "disconnect" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert tracebacks.records == []  # no "Exception in ASGI application"


def test_a_body_that_trickles_past_its_deadline_gets_408(
    served: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(body_module, "BODY_SECONDS", 0.5)
    url, _ = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(
            b"POST /webhooks/generic HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"title": '
        )
        answer = sock.recv(4096)  # sent nothing more; the server answers by itself

    assert answer.startswith(b"HTTP/1.1 408")


def test_webhooks_beyond_the_queue_get_503_with_retry_after(tmp_path: Path, sqlite_url: str) -> None:
    gate = threading.Event()
    settings = make_settings(tmp_path, sqlite_url, webhook_token=TOKEN, max_queued_webhooks=1)
    app = create_app(settings)
    scorer = GatedScorer(gate)
    app.state.services.scorer.current = scorer

    def send(name: str) -> httpx.Response:
        return httpx.post(
            f"{url}/webhooks/alertmanager",
            content=body(am_payload([am_alert(name)])),
            headers=bearer(TOKEN),
            timeout=30,
        )

    with serve(app) as url, ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(send, "Held")  # in the writer, waiting for the gate
        assert scorer.entered.wait(10)
        queued = pool.submit(send, "Queued")
        wait_until(lambda: app.state.committer._pending, what="the second webhook to queue", timeout=10)
        refused = send("Refused")
        gate.set()
        answers = [held.result(), queued.result()]

    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    assert "nothing was written" in refused.json()["error"]
    assert [a.status_code for a in answers] == [202, 202]


def test_a_full_connection_pool_is_a_503_not_a_500(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url, webhook_token=TOKEN))
    engine = app.state.services.db.engine
    engine.pool._timeout = 0.2  # wait 0.2 s for a connection, not 30 s
    with TestClient(app, client=LOOPBACK_CLIENT) as client:
        held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]
        try:
            answers = [
                client.get("/api/incidents"),
                client.post("/webhooks/generic", content=body({"title": "x"}), headers=bearer(TOKEN)),
            ]
        finally:
            for conn in held:
                conn.close()

    assert [a.status_code for a in answers] == [503, 503]
    assert all(a.headers["Retry-After"] for a in answers)


def test_the_openapi_schema_describes_the_three_webhook_bodies(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    for source, model in (("alertmanager", "AMPayload"), ("grafana", "GrafanaPayload")):
        operation = schema["paths"][f"/webhooks/{source}"]["post"]
        body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body_schema == {"$ref": f"#/components/schemas/{model}"}
        assert {"202", "401", "413", "422", "503"} <= operation["responses"].keys()
    generic = schema["paths"]["/webhooks/generic"]["post"]["requestBody"]["content"]["application/json"]
    assert [r["$ref"].rsplit("/", 1)[1] for r in generic["schema"]["anyOf"]] == [
        "GenericAlert",
        "GenericBatch",
    ]
    assert components["AMPayload"]["properties"]["alerts"]["maxItems"] == 1000
    assert "startsAt" in components["AMAlert"]["required"]
    assert components["GenericAlert"]["required"] == ["title"]
    api = schema["paths"]["/api/incidents"]["get"]["responses"]["422"]["content"]["application/json"]
    assert api["schema"] == {"$ref": "#/components/schemas/Error"}
    refs = json.dumps(schema)
    assert all(ref.split('"')[0] in components for ref in refs.split('"$ref": "#/components/schemas/')[1:])


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class GatedScorer:
    """The rule scorer, once ``gate`` is set: holds its commit open, as a slow database would."""

    version = "rules-gated"

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.entered = threading.Event()

    def score(self, alert: Any, context: Any) -> Any:
        self.entered.set()
        self.gate.wait(30)
        return RuleScorer().score(alert, context)
