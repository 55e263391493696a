"""``POST /slack/events`` checks Slack's signature, then the shape of what Slack signed, before Bolt reads it.

Bolt parsed bodies and read ids out of them before its own signature check, so an unsigned ``[1,2]`` or a
timestamp header of ``abc`` was a 500 to anyone; a signed ``block_actions`` with ``"user": null`` was a 500
too, and a ``selected_option`` given as a string hung for three seconds. Pure checks first, then the same
requests to a served sevbot.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context

from bot.app import create_app
from bot.errors import MalformedPayload, NotSignedBySlack
from bot.slack.edge import check_shape, verify_signature
from bot.slack.interactions import button_command
from bot.slack.permissions import requester_of
from tests.support.asgi_server import serve
from tests.support.fake_slack import (
    FORM,
    JSON,
    FakeSlack,
    app_mention,
    block_actions_body,
    button,
    event_body,
    message_shortcut_body,
    reaction_added,
    signed_headers,
    slack_signature,
    slash_command_body,
    static_select,
)
from tests.support.processes import wait_until
from tests.support.settings import make_settings
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET

NOW = 1_764_000_000


def _headers(body: bytes, *, timestamp: str | int = NOW, signature: str | None = None) -> dict[str, str]:
    return {
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": signature or slack_signature(SIGNING_SECRET, timestamp, body),
    }


# ---- the signature ---------------------------------------------------------------------------------------


def test_a_fresh_signature_of_the_exact_body_passes() -> None:
    body = slash_command_body("help")
    verify_signature(_headers(body), body, SIGNING_SECRET, now=NOW + 299)
    verify_signature(_headers(body), body, SIGNING_SECRET, now=NOW - 299)  # a clock a little behind Slack's


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Slack-Request-Timestamp"),
        ({"x-slack-signature": "v0=00"}, "missing"),
        ({"x-slack-request-timestamp": str(NOW)}, "missing"),
        (_headers(b"x", timestamp="abc"), "not a whole number"),
        (_headers(b"x", timestamp="1.5"), "not a whole number"),
        (_headers(b"x", timestamp="-1"), "not a whole number"),
        (_headers(b"x", timestamp="9" * 400), "not a whole number"),
        (_headers(b"x", timestamp=" 1764000000"), "not a whole number"),
        (_headers(b"x", timestamp=NOW - 301), "more than five minutes"),
        (_headers(b"x", timestamp=NOW + 301), "more than five minutes"),
        (_headers(b"x", signature="v0=" + "0" * 64), "does not match"),
        (_headers(b"x", signature="v0=é☃"), "does not match"),
        (_headers(b"other body"), "does not match"),
    ],
)
def test_anything_but_a_fresh_signature_of_the_body_is_refused_with_the_reason(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(NotSignedBySlack, match=reason):
        verify_signature(headers, b"x", SIGNING_SECRET, now=NOW)
    assert NotSignedBySlack.status_code == 401


# ---- the shape -------------------------------------------------------------------------------------------


def _form_payload(payload: Any) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def _payload(body: bytes) -> dict[str, Any]:
    return dict(json.loads(urllib.parse.parse_qs(body.decode())["payload"][0]))


REAL_BODIES = [
    (slash_command_body("help"), FORM),
    (slash_command_body("", thread_ts="1700000000.000100"), FORM),
    (block_actions_body(button("incident_ack", "12")), FORM),
    (block_actions_body(static_select("incident_severity", "SEV1")), FORM),
    (
        message_shortcut_body("add_to_timeline", {"type": "message", "ts": "1.2", "text": "x", "user": "U1"}),
        FORM,
    ),
    (event_body(app_mention("ack", thread_ts="1700000000.000100")), JSON),
    (event_body(reaction_added("pushpin", channel="C0ALERTS", ts="1.2")), JSON),
    (json.dumps({"type": "url_verification", "token": "t", "challenge": "abc"}).encode(), JSON),
    # A workflow's or a bot's mention has no user, only bot_id; an org-wide install's click has no team.
    (event_body({k: v for k, v in app_mention("hi").items() if k != "user"} | {"bot_id": "B1"}), JSON),
    (
        _form_payload(_payload(block_actions_body(button("incident_ack", "12"))) | {"team": None}).encode(),
        FORM,
    ),
    (
        _form_payload(
            {
                "type": "view_submission",
                "user": {"id": "U1"},
                "view": {"id": "V1", "state": {"values": {}}},
                "response_urls": [{"response_url": "https://hooks.slack.com/app/x", "channel_id": "C1"}],
            }
        ).encode(),
        FORM,
    ),
    (
        json.dumps(
            {"type": "event_callback", "event": {"type": "channel_created", "channel": {"id": "C1"}}}
        ).encode(),
        JSON,
    ),
]


@pytest.mark.parametrize(("body", "content_type"), REAL_BODIES)
def test_the_requests_slack_sends_have_the_shape(body: bytes, content_type: str) -> None:
    check_shape(body.decode(), content_type)


def _mention(**changes: Any) -> str:
    event = app_mention("ack", thread_ts="1700000000.000100")
    event.update(changes)
    return event_body(event).decode()


def _shortcut(**changes: Any) -> str:
    payload = _payload(
        message_shortcut_body("add_to_timeline", {"type": "message", "ts": "1.2", "text": "x"})
    )
    payload.update(changes)
    return _form_payload(payload)


def _click(action: dict[str, Any], **changes: Any) -> str:
    payload = _payload(block_actions_body(action))
    payload.update(changes)
    return _form_payload(payload)


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        ("[1,2]", JSON, "a JSON list, not an object"),
        ("null", JSON, "a JSON null"),
        ('"x"', JSON, "a JSON string"),
        ("payload=null", FORM, "a JSON null"),
        ("payload=%5B1%5D", FORM, "a JSON list"),
        ("payload=%7B", FORM, "JSONDecodeError"),
        (_click(button("incident_ack", "12"), user=None), FORM, "block_actions without user.id"),
        (_click(button("incident_ack", "12"), user="U0ALICE"), FORM, "block_actions without user.id"),
        (_click(button("incident_ack", "12"), actions=[]), FORM, "block_actions without actions"),
        (_click(button("incident_ack", "12"), actions=None), FORM, "block_actions without actions"),
        (
            _click(button("incident_ack", "12"), actions=["x"]),
            FORM,
            "actions is a list, not a list of objects",
        ),
        (
            _click({**static_select("incident_severity", "SEV1"), "selected_option": "SEV1"}),
            FORM,
            "actions[0].selected_option is a string",
        ),
        (
            _click({**button("incident_ack", "12"), "value": 12}),
            FORM,
            "actions[0].value is a number, not a string",
        ),
        (_click(button("incident_ack", "12"), container=[]), FORM, "container is a list, not an object"),
        (_mention(thread_ts={"a": 1}), JSON, "event.thread_ts is an object, not a string"),
        (_mention(channel=["C0ALERTS"]), JSON, "event.channel is a list, not a string or an object"),
        (_mention(text=7), JSON, "event.text is a number"),
        (_mention(ts=True), JSON, "event.ts is a boolean"),
        (_mention(channel=None), JSON, "app_mention without event.channel"),
        (_mention(user={"id": "U1"}), JSON, "app_mention's event.user is an object, not a string"),
        (_mention(event_ts="\ud800"), JSON, "event.event_ts is not valid Unicode"),
        (_mention(channel="C\ud800"), JSON, "event.channel is not valid Unicode"),
        (
            _click(button("incident_ack", "12"), actions=[{}]),
            FORM,
            "block_actions without actions.0.action_id",
        ),
        (
            _click(button("incident_ack", "12"), response_urls=[None]),
            FORM,
            "response_urls is a list, not a list",
        ),
        (_click(button("incident_ack", "12"), response_urls=5), FORM, "response_urls is a number"),
        (_click(button("incident_ack", "12"), view=[]), FORM, "view is a list, not an object"),
        (_click(button("incident_ack", "12"), response_urls=None), FORM, "response_urls is null"),
        (
            _form_payload({"type": "view_submission", "user": {"id": "U1"}, "view": None}),
            FORM,
            "without view",
        ),
        (
            _click(button("incident_ack", "12"), response_url="javascript:x"),
            FORM,
            "response_url is not an http(s) URL",
        ),
        (_shortcut(channel="C0ALERTS"), FORM, "message_action without channel.id"),
        (_shortcut(response_url=""), FORM, "message_action without response_url"),
        (
            urllib.parse.urlencode({"command": "/incident", "user_id": "U1"}),
            FORM,
            "command without response_url",
        ),
        (_mention(channel={"id": "C1"}), JSON, "app_mention's event.channel is an object, not a string"),
        (json.dumps({"type": "event_callback", "event": [{"type": "app_mention"}]}), JSON, "event is a list"),
        (json.dumps({"type": "event_callback"}), JSON, "event_callback without event"),
        (
            json.dumps({"type": "event_callback", "event": {"type": "x"}, "authorizations": [None]}),
            JSON,
            "authorizations",
        ),
        (
            json.dumps({"type": "event_callback", "event": {"type": "x"}, "event_time": True}),
            JSON,
            "event_time is a boolean",
        ),
        (json.dumps({"type": "url_verification"}), JSON, "url_verification without challenge"),
        (urllib.parse.urlencode({"command": "/incident", "text": "help"}), FORM, "command without user_id"),
        (
            json.dumps({"command": "/incident", "user_id": "U1", "response_url": "ftp://x"}),
            JSON,
            "not an http(s)",
        ),
    ],
)
def test_a_signed_body_of_another_shape_is_refused_naming_the_field(
    body: str, content_type: str, named: str
) -> None:
    with pytest.raises(MalformedPayload) as raised:
        check_shape(body, content_type)
    assert named in str(raised.value)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = [
    *("user", "actions", "container", "channel", "team", "message", "type", "enterprise", "authorizations"),
    *("response_url", "response_urls", "view", "trigger_id"),
]
_EVENT_FIELDS = ["type", "user", "channel", "ts", "thread_ts", "text", "item", "team", "message"]


@settings(max_examples=150, deadline=None, derandomize=True)  # the same examples on every run
@given(where=st.sampled_from(_FIELDS), value=_JSON_VALUES)
def test_any_value_in_any_field_of_a_click_passes_or_is_a_400(where: str, value: Any) -> None:
    payload = _payload(block_actions_body(button("incident_ack", "12")))
    payload[where] = value
    if _passes(_form_payload(payload), FORM):  # then what Bolt and sevbot read of it does not raise
        build_context(BoltContext(), payload)
        requester_of(payload)
        for action in payload["actions"]:
            button_command(action, thread_incident=None)


@settings(max_examples=150, deadline=None, derandomize=True)  # the same examples on every run
@given(
    where=st.sampled_from(["action_id", "block_id", "value", "selected_option", "type"]), value=_JSON_VALUES
)
def test_any_value_in_any_field_of_an_action_passes_or_is_a_400(where: str, value: Any) -> None:
    action = {**static_select("incident_severity", "SEV1", block_id="incident:12"), where: value}
    payload = _payload(block_actions_body(action))
    if _passes(_form_payload(payload), FORM):
        build_context(BoltContext(), payload)
        button_command(payload["actions"][0], thread_incident=None)


@settings(max_examples=150, deadline=None, derandomize=True)  # the same examples on every run
@given(where=st.sampled_from(_EVENT_FIELDS), value=_JSON_VALUES)
def test_any_value_in_any_field_of_an_event_passes_or_is_a_400(where: str, value: Any) -> None:
    event = app_mention("ack")
    event[where] = value
    body = event_body(event).decode()
    if _passes(body, JSON):
        envelope = json.loads(body)
        build_context(BoltContext(), envelope)
        requester_of(envelope)
        assert isinstance(event.get("text") or "", str) and isinstance(event["channel"], str)


def _passes(body: str, content_type: str) -> bool:
    """True if the shape is Slack's; a refusal must be a MalformedPayload (a 400), never another error."""
    try:
        check_shape(body, content_type)
    except MalformedPayload:
        return False
    return True


# ---- over HTTP, to a served sevbot ---------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeSlack, httpx.Client]]:
    with FakeSlack() as slack:
        settings = make_settings(
            tmp_path,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url,
            slack_channel="#alerts",
        )
        with serve(create_app(settings)) as url, httpx.Client(timeout=10) as http:
            yield url, slack, http


def test_over_http_unsigned_is_401_and_signed_of_another_shape_is_400_and_neither_reaches_bolt(
    served: tuple[str, FakeSlack, httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    url, slack, http = served
    unsigned = [
        ({"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}, b"command=x", FORM),
        ({"X-Slack-Request-Timestamp": "1.5", "X-Slack-Signature": "v0=00"}, b"command=x", FORM),
        ({"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=00"}, b"command=x", FORM),
        ({}, b"[1,2]", JSON),
        ({}, b"null", JSON),
        ({}, b"payload=null", FORM),
    ]
    signed = [
        (b"[1,2]", JSON, "JSON list"),
        (b"payload=null", FORM, "JSON null"),
        (_click(button("incident_ack", "12"), user=None, actions=None).encode(), FORM, "without user"),
        (
            _click({**static_select("incident_severity", "SEV1"), "selected_option": "SEV1"}).encode(),
            FORM,
            "selected_option",
        ),
        (_mention(thread_ts={"a": 1}).encode(), JSON, "event.thread_ts"),
        (_mention(text=None, channel=["C1"]).encode(), JSON, "event.channel"),
        (urllib.parse.urlencode({"command": "/incident", "text": "help"}).encode(), FORM, "user_id"),
    ]
    caplog.set_level("ERROR")

    refused = [
        http.post(f"{url}/slack/events", content=body, headers={"Content-Type": ct, **headers})
        for headers, body, ct in unsigned
    ]
    started = time.perf_counter()
    malformed = [
        http.post(
            f"{url}/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, content_type=ct)
        )
        for body, ct, _ in signed
    ]
    took = time.perf_counter() - started

    assert [r.status_code for r in refused] == [401] * len(unsigned)
    assert "whole number" in refused[0].json()["error"]
    assert [r.status_code for r in malformed] == [400] * len(signed)
    for response, (_, _, named) in zip(malformed, signed, strict=True):
        assert named in response.json()["error"]
    assert took < 2.5  # a generous bound: none waits for Bolt's three-second acknowledgement
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    assert slack.calls == []
    # A request Slack signed, of Slack's shape, still works.
    help_body = slash_command_body("help", response_url=slack.response_url("help"))
    ok = http.post(
        f"{url}/slack/events",
        content=help_body,
        headers=signed_headers(SIGNING_SECRET, help_body, content_type=FORM),
    )
    assert ok.status_code == 200
    wait_until(lambda: slack.calls_to("response_url"), what="the help answer", timeout=10)
    # A bot's or a workflow's mention (no user, only bot_id) is Slack's own shape: a 200, and no answer.
    bot_mention = {k: v for k, v in app_mention("status").items() if k != "user"} | {"bot_id": "B1"}
    mention_body = event_body(bot_mention, event_id="EvBot1")
    mention_headers = signed_headers(SIGNING_SECRET, mention_body, content_type=JSON)
    assert http.post(f"{url}/slack/events", content=mention_body, headers=mention_headers).status_code == 200
    time.sleep(0.5)
    assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("chat.postEphemeral") == []
