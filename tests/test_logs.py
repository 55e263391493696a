"""Logs: one JSON object a line with the context as fields, and the request id of the HTTP request served."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.logs import JsonFormatter, request_id
from tests.support.settings import make_settings


def record(message: str, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("bot.test")
    return logger.makeRecord("bot.test", logging.WARNING, __file__, 1, message, (), None, extra=extra)


def test_a_json_line_holds_the_message_and_every_extra_field_and_the_request_id() -> None:
    token = request_id.set("req-42")
    try:
        line = JsonFormatter().format(
            record("outbox delivery failed; will retry", outbox_id=7, incident_id=3)
        )
    finally:
        request_id.reset(token)
    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["message"] == "outbox delivery failed; will retry"
    assert (parsed["level"], parsed["logger"]) == ("warning", "bot.test")
    assert (parsed["outbox_id"], parsed["incident_id"], parsed["request_id"]) == (7, 3, "req-42")
    assert parsed["time"].endswith("+00:00")


def test_without_a_request_there_is_no_request_id_and_odd_values_still_serialize() -> None:
    parsed = json.loads(JsonFormatter().format(record("x", path=Path("/tmp/a"))))
    assert "request_id" not in parsed and parsed["path"] == "/tmp/a"


def test_every_answer_carries_a_request_id_the_callers_when_it_is_sane(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made = client.get("/healthz")
        hostile = client.get("/healthz", headers={"X-Request-ID": "<script>" * 20})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 16
    assert hostile.headers["x-request-id"] != "<script>" * 20
