"""The fake Slack Web API itself: the real slack_sdk client gets Slack-shaped answers and failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.fake_slack import FakeSlack, fake_slack, signed_headers, slash_command_body


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def client(slack: FakeSlack, token: str = "xoxb-test-token") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=slack.api_url)


def test_post_update_and_thread_are_recorded_and_answered_like_slack(slack: FakeSlack) -> None:
    async def scenario() -> None:
        web = client(slack)
        root = await web.chat_postMessage(channel="#alerts", text="root", blocks=[{"type": "divider"}])
        assert root["channel"] == "C0ALERTS" and root["message"]["text"] == "root"
        reply = await web.chat_postMessage(channel=root["channel"], thread_ts=root["ts"], text="reply")
        await web.chat_update(channel=root["channel"], ts=root["ts"], text="edited")
        assert float(reply["ts"]) > float(root["ts"])

    asyncio.run(scenario())

    assert [c.method for c in slack.calls] == ["chat.postMessage", "chat.postMessage", "chat.update"]
    assert slack.calls[0].token == "xoxb-test-token"
    [root] = [m for m in slack.messages("C0ALERTS") if m.thread_ts is None]
    assert root.text == "edited" and root.edits == 1
    assert [m.text for m in slack.thread("C0ALERTS", root.ts)] == ["reply"]


def test_scripted_failures_surface_as_the_sdk_reports_them(slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    slack.fail_next("chat.postMessage", status=500, body="<html>oops</html>")
    slack.fail_next("chat.postMessage", error="channel_not_found")

    async def attempt() -> SlackApiError:
        with pytest.raises(SlackApiError) as caught:
            await client(slack).chat_postMessage(channel="alerts", text="x")
        return caught.value

    limited = asyncio.run(attempt())
    assert limited.response.status_code == 429 and limited.response.headers["Retry-After"] == "7"
    assert asyncio.run(attempt()).response.status_code == 500
    assert asyncio.run(attempt()).response["error"] == "channel_not_found"
    asyncio.run(client(slack).chat_postMessage(channel="alerts", text="x"))
    assert [c.ok for c in slack.calls] == [False, False, False, True]
    assert len(slack.messages()) == 1


def test_bad_tokens_and_unknown_channels_are_refused(slack: FakeSlack) -> None:
    with fake_slack(tokens={"xoxb-good"}, unknown_channels={"gone"}) as strict:

        async def scenario() -> tuple[str, str]:
            errors = []
            for token, channel in (("xoxb-bad", "alerts"), ("xoxb-good", "#gone")):
                with pytest.raises(SlackApiError) as caught:
                    await client(strict, token).chat_postMessage(channel=channel, text="x")
                errors.append(caught.value.response["error"])
            return errors[0], errors[1]

        assert asyncio.run(scenario()) == ("invalid_auth", "channel_not_found")


def test_wait_for_wakes_on_arrival_and_names_what_it_missed(slack: FakeSlack) -> None:
    with pytest.raises(TimeoutError, match=r"chat\.update"):
        slack.wait_for("chat.update", timeout=0.05)
    asyncio.run(client(slack).chat_postMessage(channel="alerts", text="x"))
    assert len(slack.wait_for("chat.postMessage")) == 1


def test_signed_headers_verify_with_slacks_own_verifier() -> None:
    body = slash_command_body("list")
    headers = signed_headers("s3cret-signing", body, content_type="application/x-www-form-urlencoded")
    verifier = SignatureVerifier("s3cret-signing")
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)


def test_file_upload_v2_round_trip(slack: FakeSlack) -> None:
    async def scenario() -> None:
        await client(slack).files_upload_v2(channel="C0ALERTS", content=b"png-bytes", filename="chart.png")

    asyncio.run(scenario())
    assert [c.method for c in slack.calls if c.method != "conversations.info"][:3] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
