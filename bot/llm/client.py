"""The drafting client: one chat completion through the ``openai`` package, against OpenAI, Azure OpenAI or
any compatible server (Ollama, vLLM, LiteLLM …), with an explicit timeout and retries.

Errors are translated here, at the edge::

    LlmFailure            the call produced no usable draft (``outcome`` says how: "timeout" or "error")
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import LlmFailure
from bot.settings import Settings

if TYPE_CHECKING:  # importing openai takes a second: only when a draft is first asked of an LLM
    import openai

# A compatible server without authentication still needs some key for the client to send.
NO_KEY = "sk-no-key-needed"
MODEL_NAME_CHARS = 128  # llm_calls.model
MAX_TOKEN_COUNT = 2**31 - 1  # llm_calls.tokens_in/out are INTEGER (int4 on PostgreSQL)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ClientConfig:
    model: str
    api_key: str | None
    base_url: str | None
    azure_endpoint: str | None
    azure_api_key: str | None
    azure_deployment: str | None
    api_version: str | None
    timeout: float
    max_retries: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientConfig:
        return cls(
            model=settings.llm_model,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            base_url=settings.openai_base_url,
            azure_endpoint=settings.azure_openai_endpoint,
            azure_api_key=(
                settings.azure_openai_api_key.get_secret_value() if settings.azure_openai_api_key else None
            ),
            azure_deployment=settings.llm_azure_deployment,
            api_version=settings.openai_api_version,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )

    @property
    def label(self) -> str:
        """The model's name as drafts are labelled with it."""
        return self.azure_deployment or self.model if self.azure_endpoint else self.model


class DraftingClient:
    """Asks for one completion at a time; the underlying HTTP client is made on first use in each loop."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def model(self) -> str:
        return self.config.label

    def _openai(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._build()
            self._loop = loop
        return self._client

    def _build(self) -> openai.AsyncOpenAI:
        import openai

        c = self.config
        if c.azure_endpoint:
            return openai.AsyncAzureOpenAI(
                azure_endpoint=c.azure_endpoint,
                azure_deployment=c.azure_deployment or c.model,
                api_version=c.api_version or "2024-10-21",
                api_key=c.azure_api_key or c.api_key or NO_KEY,
                timeout=c.timeout,
                max_retries=c.max_retries,
            )
        return openai.AsyncOpenAI(
            api_key=c.api_key or NO_KEY, base_url=c.base_url, timeout=c.timeout, max_retries=c.max_retries
        )

    async def complete(self, *, system: str, user: str, max_tokens: int) -> Completion:
        """One chat completion; raises :class:`LlmFailure` when it gives no usable text."""
        import openai

        started = time.perf_counter()
        # The client's timeout bounds each read, so an answer trickled a byte at a time never times out:
        # the whole call, retries included, gets the timeout once per attempt.
        deadline = self.config.timeout * (self.config.max_retries + 1)
        try:
            async with asyncio.timeout(deadline):
                response: Any = await self._openai().chat.completions.create(
                    model=self.config.azure_deployment or self.config.model
                    if self.config.azure_endpoint
                    else self.config.model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    max_tokens=max_tokens,
                    temperature=0.2,
                )
        except openai.APITimeoutError as exc:
            raise LlmFailure("timeout", f"no answer within {self.config.timeout:g}s") from exc
        except TimeoutError as exc:
            raise LlmFailure("timeout", f"no whole answer within {deadline:g}s") from exc
        except openai.RateLimitError as exc:
            raise LlmFailure(
                "error", f"rate limited (HTTP 429) after {self.config.max_retries} retries"
            ) from exc
        except openai.APIStatusError as exc:
            raise LlmFailure("error", f"HTTP {exc.status_code} from the LLM endpoint") from exc
        except openai.APIConnectionError as exc:
            raise LlmFailure(
                "error", f"cannot reach the LLM endpoint ({type(exc.__cause__).__name__})"
            ) from exc
        except Exception as exc:
            raise LlmFailure(
                "error", f"malformed answer from the LLM endpoint ({type(exc).__name__})"
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        text = _text_of(response)
        usage = getattr(response, "usage", None)
        model = getattr(response, "model", None)
        return Completion(
            text=text,
            model=model[:MODEL_NAME_CHARS] if isinstance(model, str) and model.strip() else self.model,
            tokens_in=_token_count(getattr(usage, "prompt_tokens", None)),
            tokens_out=_token_count(getattr(usage, "completion_tokens", None)),
            latency_ms=latency_ms,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _token_count(value: object) -> int:
    """A token count as the endpoint reported it, or 0 when it is not a count (a string, a negative or a
    number no column holds): the draft is kept either way, and the count is only bookkeeping, so an odd
    ``usage`` must not fail the delivery and call the LLM again."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return 0


def _text_of(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as exc:
        raise LlmFailure("error", "malformed answer from the LLM endpoint (no choices)") from exc
    if not isinstance(content, str) or not content.strip():
        raise LlmFailure("error", "malformed answer from the LLM endpoint (empty text)")
    return content.strip()
