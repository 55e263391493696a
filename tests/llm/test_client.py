"""The drafting client's configuration: the platform's own variable names, compatible servers and Azure."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.errors import LlmFailure
from bot.llm.client import ClientConfig, DraftingClient
from bot.settings import Settings
from tests.support.fake_llm import Answer, FakeLLM


def test_the_platform_names_configure_the_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("SEVBOT_LLM_MODEL", "llama3.1:8b")
    monkeypatch.setenv("SEVBOT_LLM_TIMEOUT_SECONDS", "7.5")
    monkeypatch.setenv("SEVBOT_LLM_MAX_RETRIES", "4")
    monkeypatch.setenv("SEVBOT_RUNBOOKS_DIR", "/srv/runbooks")

    settings = Settings()
    config = ClientConfig.from_settings(settings)

    assert settings.llm_configured
    assert (config.api_key, config.base_url, config.model) == (
        "sk-test-key-0123456789abcdef",
        "http://127.0.0.1:11434/v1",
        "llama3.1:8b",
    )
    assert (config.timeout, config.max_retries, str(settings.runbooks_dir)) == (7.5, 4, "/srv/runbooks")
    assert "sk-test" not in repr(settings)


def test_without_a_key_url_or_endpoint_no_llm_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    assert not Settings().llm_configured


def test_azure_openai_calls_the_deployment_with_the_api_version(llm: FakeLLM) -> None:
    settings = Settings(
        azure_openai_endpoint=llm.base_url.removesuffix("/v1"),
        azure_openai_api_key="azure-key-0123456789",
        openai_api_version="2024-10-21",
        llm_azure_deployment="sevbot-gpt4o",
        llm_max_retries=0,
    )
    client = DraftingClient(ClientConfig.from_settings(settings))

    completion = asyncio.run(client.complete(system="s", user="u", max_tokens=10))

    [request] = llm.requests
    assert request.path == "/openai/deployments/sevbot-gpt4o/chat/completions?api-version=2024-10-21"
    assert request.headers["api-key"] == "azure-key-0123456789"
    assert (client.model, completion.text) == ("sevbot-gpt4o", llm.reply)


def test_a_compatible_server_without_auth_gets_a_placeholder_key(llm: FakeLLM) -> None:
    client = DraftingClient(
        ClientConfig.from_settings(Settings(openai_base_url=llm.base_url, llm_max_retries=0))
    )
    llm.script(Answer(status=401))

    with pytest.raises(LlmFailure, match="HTTP 401") as failure:
        asyncio.run(client.complete(system="s", user="u", max_tokens=10))

    assert failure.value.outcome == "error"
    assert llm.requests[0].headers["authorization"] == "Bearer sk-no-key-needed"


def _completion_body(usage: object, model: object) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-odd",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "A draft."}}
            ],
            "usage": usage,
        }
    )


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "abc", "completion_tokens": "12"},  # strings
        {"prompt_tokens": -5, "completion_tokens": -1},  # a counter cannot go down
        {"prompt_tokens": 10**30, "completion_tokens": 2**31},  # no INTEGER column holds these
        {"prompt_tokens": 1.5, "completion_tokens": True},
        None,
        "lots",
    ],
)
def test_an_odd_token_usage_counts_zero_and_keeps_the_draft(llm: FakeLLM, usage: object) -> None:
    client = DraftingClient(
        ClientConfig.from_settings(Settings(openai_base_url=llm.base_url, llm_max_retries=0))
    )
    llm.script(Answer(body=_completion_body(usage, "m" * 500)))

    completion = asyncio.run(client.complete(system="s", user="u", max_tokens=10))

    assert (completion.text, completion.tokens_in, completion.tokens_out) == ("A draft.", 0, 0)
    assert completion.model == "m" * 128  # what llm_calls.model holds


def test_a_real_token_usage_and_model_are_kept(llm: FakeLLM) -> None:
    client = DraftingClient(
        ClientConfig.from_settings(Settings(openai_base_url=llm.base_url, llm_max_retries=0))
    )
    llm.script(Answer(body=_completion_body({"prompt_tokens": 812, "completion_tokens": 95}, "llama3.1:8b")))

    completion = asyncio.run(client.complete(system="s", user="u", max_tokens=10))

    assert (completion.model, completion.tokens_in, completion.tokens_out) == ("llama3.1:8b", 812, 95)


def test_an_answer_trickled_a_byte_at_a_time_times_out_as_a_whole(llm: FakeLLM) -> None:
    client = DraftingClient(
        ClientConfig.from_settings(
            Settings(openai_base_url=llm.base_url, llm_max_retries=0, llm_timeout_seconds=1)
        )
    )
    llm.script(Answer(trickle=0.2))  # every read gets a byte within the timeout; the whole never comes

    started = time.monotonic()
    with pytest.raises(LlmFailure, match="no whole answer within 1s") as failure:
        asyncio.run(client.complete(system="s", user="u", max_tokens=10))
    llm.release()

    assert failure.value.outcome == "timeout"
    assert time.monotonic() - started < 10  # generous: the answer alone would take about a minute
