"""Webhook authentication: a bearer token (or basic-auth password) per source, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac


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
