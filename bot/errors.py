"""sevbot's exception tree; foreign errors are translated into these at the edges, with structured fields.

SevbotError
├── ConfigError              a setting or the YAML config file is wrong (names the key)
├── PayloadError             a webhook or replay payload is unusable
│   ├── PayloadTooLarge      over the body size limit (HTTP 413; ``limit``)
│   ├── BodyTimeout          the body did not arrive in time (HTTP 408; ``seconds``)
│   ├── MalformedPayload     not JSON at all, or not UTF-8 (HTTP 400)
│   ├── NotSignedBySlack     a request to ``/slack/events`` without Slack's valid, fresh signature (HTTP 401)
│   ├── InvalidPayload       JSON of the wrong shape (HTTP 422; ``errors``: each field and what is wrong)
│   └── RefusedByStorage     the database refused this payload's own data (HTTP 422)
├── ClientDisconnected       the sender hung up before its whole body arrived (one log line, no answer)
├── SignInRequired           an incident page asked for without the API token (HTTP 401 with the sign-in form)
├── Unavailable              nothing was written and a retry may succeed (HTTP 503 with ``retry_after``)
│   ├── Overloaded           too many webhooks already wait for the writer
│   └── IngestFault          a fault on sevbot's side inside a commit (only that request fails)
├── IncidentNotFound         no incident has that id (``incident_id``)
├── NoMatchingIncident       a replayed action names no incident that existed at its time
├── UsageError               a person's command text is wrong; the message is what they see
│   └── MatcherError         a silence matcher that cannot be parsed
├── DeliveryError            an outbox message could not be delivered now
│   ├── PermanentError       retrying cannot fix it (invalid blocks, a missing draft …): the row fails
│   │   └── SlackPermanentFailure   Slack's ``ok: false`` of that kind (``method``, ``error``, ``status``)
│   ├── DeliveryBlocked      only a person can fix it (revoked token, bot not in the channel): the row is
│   │   │                    parked until ``sevbot outbox retry --parked`` (``reason``)
│   │   └── SlackBlocked     Slack's ``ok: false`` of that kind (``method``, ``error``, ``status``)
│   ├── RetryAfter           the receiver asked to wait ``seconds`` (429, pacing, batching)
│   ├── SlackApiFailure      Slack's 5xx or transient ``ok: false`` (``method``, ``error``, ``status``)
│   └── PagerFailure         a pager (PagerDuty, a webhook) answered 5xx or was unreachable (``target``)
├── LeaseLost                another worker took the outbox row over (this claim's lease ran out)

├── SlackLookupFailed        Slack could not say who is asking or what a channel is (``method``, ``error``)
├── SilenceApiFailed         Alertmanager's (or Grafana's) silence API did not do it (``target``, ``problem``,
│                            ``status``: the HTTP status, None when nothing answered)
└── LlmFailure               the drafting LLM did not answer usefully (``outcome``: timeout | error)

Where a standard exception is what callers already expect (``LookupError`` for a missing incident,
``ValueError`` for bad text), the class derives from it too.
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


class BodyTimeout(PayloadError):
    status_code = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} seconds")
        self.seconds = seconds


class MalformedPayload(PayloadError):
    status_code = 400


class NotSignedBySlack(PayloadError):
    """``POST /slack/events`` without a valid signature of Slack's, or one older than five minutes."""

    status_code = 401


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


class RefusedByStorage(PayloadError):
    """The database refused what this payload holds (a value it cannot store), though it validated."""

    status_code = 422

    def __init__(self, detail: str) -> None:
        super().__init__(f"the database refused this payload's data, nothing was written: {detail}")


class ClientDisconnected(SevbotError):
    """The client closed the connection before sending its whole body; there is nobody to answer."""


class SignInRequired(SevbotError):
    """An incident page without the API token or the sign-in cookie; ``next_path`` is where to return."""

    def __init__(self, next_path: str, *, can_sign_in: bool) -> None:
        super().__init__("sign-in needed")
        self.next_path = next_path
        self.can_sign_in = can_sign_in


class Unavailable(SevbotError):
    """sevbot cannot take the request now; nothing was written, and the sender should retry later."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """The group-commit queue is full: more webhooks wait for the database writer than it may hold."""

    def __init__(self, queued: int, *, retry_after: int = 2) -> None:
        super().__init__(
            f"{queued} webhooks are already waiting for the database; nothing was written, retry later",
            retry_after=retry_after,
        )
        self.queued = queued


class IngestFault(Unavailable):
    """Committing this webhook failed on sevbot's side (a bug or the database); only this request failed."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            f"sevbot could not commit this webhook ({type(cause).__name__}); nothing was written"
        )
        self.cause = cause


class IncidentNotFound(SevbotError, LookupError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"no incident {incident_id}")
        self.incident_id = incident_id


class NoMatchingIncident(SevbotError, LookupError):
    """An action record names no incident that exists at its time (the message says which)."""


class UsageError(SevbotError, ValueError):
    """Bad command text; the message is what the user sees (short, with the usage line)."""


class MatcherError(UsageError):
    """A silence matcher that cannot be parsed; the message names it."""


class DeliveryError(SevbotError):
    """An outbox message could not be delivered now."""


class PermanentError(DeliveryError):
    """A delivery that will never succeed as it is (bad channel, revoked token …): not retried."""


class DeliveryBlocked(DeliveryError):
    """The receiver refuses until a person fixes something (``reason``); the row is parked, not dropped."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SlackBlocked(DeliveryBlocked):
    """Slack refused a call for a reason an operator must fix (``token_revoked``, ``not_in_channel`` …)."""

    def __init__(self, *, method: str, error: str, status: int) -> None:
        super().__init__(f"{method}: {error}", reason=error)
        self.method = method
        self.error = error
        self.status = status


class LeaseLost(SevbotError):
    """This worker's claim on an outbox row was taken over after its lease ran out: it must stop there."""

    def __init__(self, message_id: int) -> None:
        super().__init__(f"outbox row {message_id} was taken over by another worker")
        self.message_id = message_id


MAX_RETRY_AFTER_SECONDS = 300.0  # a receiver's wait, however long it asks for: asking again costs one call


class RetryAfter(DeliveryError):
    """The receiver asked us to wait this many seconds before trying again.

    Bounded to ``[0, MAX_RETRY_AFTER_SECONDS]`` (not a number: the most): a ``Retry-After: 99999999`` from
    a broken proxy must not put an incident's post off for years."""

    def __init__(self, seconds: float) -> None:
        seconds = (
            min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS) if seconds == seconds else MAX_RETRY_AFTER_SECONDS
        )
        super().__init__(f"retry after {seconds:.1f}s")
        self.seconds = seconds


class PagerFailure(DeliveryError):
    """A pager answered 5xx or could not be reached; a later retry may succeed (``target``, ``status``)."""

    def __init__(self, *, target: str, status: int | None, detail: str) -> None:
        super().__init__(f"{target}: {detail}")
        self.target = target
        self.status = status


class SlackApiFailure(DeliveryError):
    """Slack answered a Web API call with an error that a later retry may fix (5xx, ``internal_error``…)."""

    def __init__(self, *, method: str, error: str, status: int) -> None:
        super().__init__(f"{method}: Slack answered {status} {error}")
        self.method = method
        self.error = error
        self.status = status


class SlackPermanentFailure(PermanentError):
    """Slack refused a call for a reason retrying cannot fix (``channel_not_found``, ``invalid_auth`` …)."""

    def __init__(self, *, method: str, error: str, status: int) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.status = status


class SlackLookupFailed(SevbotError):
    """A Web API look-up behind a permission or visibility decision failed; the decision fails closed."""

    def __init__(self, *, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


class SilenceApiFailed(SevbotError):
    """A silence could not be created, expired or listed at the source (nothing answered, a timeout, an
    error status, an answer that is not the API's). ``problem`` is short and safe to show a person."""

    def __init__(self, *, target: str, problem: str, status: int | None = None) -> None:
        super().__init__(f"{target}: {problem}")
        self.target = target
        self.problem = problem
        self.status = status


class LlmFailure(SevbotError):
    """The LLM call failed; ``outcome`` is how it is recorded (timeout, error)."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
