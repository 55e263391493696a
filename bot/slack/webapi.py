"""Slack's Web API answers in the outbox worker's vocabulary (pure translation; no I/O), and the client.

429 → :class:`RetryAfter` (its ``Retry-After``), 5xx and transient errors → :class:`SlackApiFailure`
(retried with backoff), errors an operator must fix (``invalid_auth``, ``token_revoked``,
``not_in_channel``, ``channel_not_found`` …) → :class:`SlackBlocked` (the row is parked), every other
``{"ok": false}`` → :class:`SlackPermanentFailure`. A 2xx (or a redirect's end) that is no answer of
Slack's (an HTML page, a cut body, ``null``, ``ok: false`` without an error) → :class:`SlackApiFailure`:
Slack may have posted, so the retry looks first. Slack's error code travels as a field, never parsed
back out of a message.
"""

from __future__ import annotations

from prometheus_client import Counter
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DeliveryError, RetryAfter, SlackApiFailure, SlackBlocked, SlackPermanentFailure

# Errors Slack answers that a later retry can fix; every other ``ok: false`` is permanent.
TRANSIENT_ERRORS = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "team_added_to_org",
    }
)
# Errors that hold for every message until a person fixes the token, the app or the channel: the rows are
# parked (kept, counted, shown in /readyz) and replayed by `sevbot outbox retry --parked`, never dropped.
PARK_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "not_in_channel",
        "channel_not_found",
        "is_archived",
    }
)
# chat.update errors that mean the root message is gone: post the thread reply anyway, skip the update.
ROOT_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
DEFAULT_RETRY_AFTER = 30.0


def make_client(*, token: str, base_url: str, timeout: int = 30) -> AsyncWebClient:
    """The Web API client of the sink and the Bolt app: no retry handlers of its own.

    slack_sdk's default (``AsyncConnectionErrorRetryHandler``, checked in slack_sdk 3.48) resends a
    request once when the connection drops, even a ``chat.postMessage`` Slack already accepted. The outbox
    retries instead, after looking whether the post went out; an answer to a command or a mention is not
    resent (the person asks again rather than reads it twice).
    """
    return AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])


def api_name(method: str) -> str:
    """``chat_postMessage`` (the client's attribute) as Slack names it: ``chat.postMessage``."""
    return method.replace("_", ".", 1)


def translate(method: str, exc: SlackApiError, *, errors: Counter | None = None) -> DeliveryError:
    """What the worker should do about a failed call (and count it in ``sevbot_slack_api_errors``)."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    said = data.get("error")
    error = str(said or f"http_{status}")
    api = api_name(method)
    if errors is not None:
        errors.labels(api, error).inc()
    if status == 429:
        try:
            seconds = float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER))
        except (TypeError, ValueError):
            seconds = DEFAULT_RETRY_AFTER
        if seconds != seconds:  # "nan": no wait given
            seconds = DEFAULT_RETRY_AFTER
        return RetryAfter(max(1.0, seconds))  # at most RetryAfter's bound however long it asks for
    if status >= 500 or error in TRANSIENT_ERRORS:
        return SlackApiFailure(method=api, error=error, status=status)
    if status < 400 and not (isinstance(said, str) and said):  # a success status but no answer Slack
        return SlackApiFailure(method=api, error=error, status=status)  # gives: it may have posted; look
    if error in PARK_ERRORS:
        return SlackBlocked(method=api, error=error, status=status)
    return SlackPermanentFailure(method=api, error=error, status=status)
