"""HTTP authentication (pure): webhook tokens per source, the read API's token or loopback, the metrics token.

Every secret is compared in constant time. Which token opens what:

- ``/webhooks/{source}``: the source's webhook token (bearer, or the basic-auth password);
- ``/api/*``, ``/docs``, ``/openapi.json``: ``SEVBOT_API_TOKEN`` (bearer); without it, loopback clients only;
- ``/incidents`` pages: the same, or the session cookie the sign-in form sets (derived from the token);
- ``/metrics``: ``SEVBOT_METRICS_TOKEN`` (bearer) when set, else open (it carries no alert text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping

# A request that came through a proxy says so; its TCP peer (the proxy) says nothing about the client.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def presented_secret(authorization: str | None) -> str | None:
    """The secret in an ``Authorization`` header: the bearer token, or the basic-auth password."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep else None
    return None


def is_authorized(expected: str | None, authorization: str | None) -> bool:
    """True when no token is configured, or the header carries exactly the configured one."""
    if expected is None:
        return True
    given = presented_secret(authorization)
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_matches(expected: str, authorization: str | None) -> bool:
    """True when the header is ``Bearer <expected>`` exactly (constant time; no basic auth here)."""
    if not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())


def is_loopback_client(host: str | None, headers: Mapping[str, str]) -> bool:
    """A client on this machine talking to sevbot directly: a loopback peer and no proxy's forwarding
    headers (behind a proxy on the same host every peer is loopback, so those requests do not count)."""
    if not host or any(name in headers for name in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def may_read_api(
    expected: str | None, authorization: str | None, *, host: str | None, headers: Mapping[str, str]
) -> bool:
    """The read API's rule: the API token when one is set, else only a loopback client."""
    if expected is None:
        return is_loopback_client(host, headers)
    return bearer_matches(expected, authorization)


# --- the incident pages' session cookie -------------------------------------------------------------
# A browser following a Slack link sends no Authorization header; the sign-in form checks the API token once
# and sets this cookie. It holds an expiry and an HMAC of it keyed by the token (never the token itself): it
# cannot be used as a bearer token, it lapses on its own, and changing SEVBOT_API_TOKEN voids every one.
_SESSION_CONTEXT = b"sevbot incident pages v1:"


def page_session(expected: str, expires_at: int) -> str:
    """The cookie value for a session that ends at ``expires_at`` (Unix seconds)."""
    mac = hmac.new(expected.encode(), _SESSION_CONTEXT + str(expires_at).encode(), hashlib.sha256)
    return f"{expires_at}.{mac.hexdigest()}"


def page_session_valid(expected: str, cookie: str | None, *, now: float) -> bool:
    """True for a cookie ``page_session(expected, t)`` made with ``t`` still in the future (constant time)."""
    if not cookie or len(cookie) > 128:
        return False
    stamp, sep, _mac = cookie.partition(".")
    if not sep or not stamp.isdigit() or len(stamp) > 12:
        return False
    genuine = hmac.compare_digest(cookie.encode(), page_session(expected, int(stamp)).encode())
    return genuine and int(stamp) > now


def token_matches(expected: str, given: str) -> bool:
    """The sign-in form's check: exactly the configured token (constant time)."""
    return hmac.compare_digest(given.encode(), expected.encode())
