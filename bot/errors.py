"""sevbot's exception tree; foreign errors are translated into these at the edges.

SevbotError
├── ConfigError          a setting or the YAML config file is wrong (names the key)
└── PayloadError         a webhook or replay payload is unusable
    ├── PayloadTooLarge  over the body size limit (HTTP 413)
    ├── MalformedPayload not JSON at all (HTTP 400)
    └── InvalidPayload   JSON of the wrong shape (HTTP 422; lists each field and what is wrong)
"""

from __future__ import annotations

from dataclasses import dataclass


class SevbotError(Exception):
    """Base class of every error sevbot raises on purpose."""


class ConfigError(SevbotError):
    """A setting or the configuration file is wrong; the message names the key."""


class PayloadError(SevbotError):
    status_code = 400


class PayloadTooLarge(PayloadError):
    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the limit of {limit} bytes")
        self.limit = limit


class MalformedPayload(PayloadError):
    status_code = 400


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class InvalidPayload(PayloadError):
    status_code = 422

    def __init__(self, errors: list[FieldError]) -> None:
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        super().__init__(f"invalid payload: {summary}")
        self.errors = errors
