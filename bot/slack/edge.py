"""The edge of ``POST /slack/events``: Slack's signature first, then the shape of what it signed (pure).

Bolt parses a request's body, and reads ids out of it, before it checks the signature, and assumes the
body is what Slack sends: a JSON array, a bad timestamp header or a ``null`` user made it raise (a 500 to
anyone on the internet). So the route checks here first:

1. :func:`verify_signature`: both headers present, the timestamp a whole number of seconds within five
   minutes of now, and ``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret, as
   Slack signs (https://api.slack.com/authentication/verifying-requests-from-slack). Anything else is a
   401 (:class:`~bot.errors.NotSignedBySlack`), before the body is parsed at all.
2. :func:`check_shape`: the body parsed as Bolt parses it (JSON, a form, or a form's ``payload`` JSON) is
   an object, and each field Bolt or sevbot reads has the type Slack gives it (a string, an object, a list
   of objects, or ``null``); the kinds sevbot answers have their required fields. Else a 400 naming the
   field (:class:`~bot.errors.MalformedPayload`). Fields nobody reads (blocks, views, …) are not checked.

Bolt verifies the signature again; that costs one HMAC and keeps its own guarantees intact.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from bot.errors import MalformedPayload, NotSignedBySlack

MAX_AGE_SECONDS = 300  # Slack's and Bolt's window for a request's timestamp
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> None:
    """Raise :class:`NotSignedBySlack` unless ``body`` carries a valid, fresh Slack signature.

    ``headers``: case-insensitive, as Starlette's. ``now``: seconds since the epoch."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise NotSignedBySlack("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise NotSignedBySlack("X-Slack-Request-Timestamp is not a whole number of seconds")
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise NotSignedBySlack("X-Slack-Request-Timestamp is more than five minutes from now")
    # Not slack_sdk's SignatureVerifier: it decodes the body as UTF-8 first (raising on any other bytes,
    # before the signature says whether the sender matters) and compares str, which raises on non-ASCII.
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = b"v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        raise NotSignedBySlack("the X-Slack-Signature does not match the body")


# ---- shapes -------------------------------------------------------------------------------------------

_TEXT = (str,)
_FLAG = (bool, str)


@dataclass(frozen=True)
class Shape:
    """An object's checked fields: leaf types, nested objects, lists of objects; ``None`` is allowed for
    each (as absent) except the lists named in ``not_null``."""

    leaves: Mapping[str, tuple[type, ...]] = field(default_factory=dict)
    objects: Mapping[str, Shape] = field(default_factory=dict)
    lists: Mapping[str, Shape] = field(default_factory=dict)
    # Fields that are a string id or an object holding one (``user``, ``channel``, ``team``, …).
    ids: Mapping[str, Shape] = field(default_factory=dict)
    not_null: frozenset[str] = frozenset()


def _texts(*names: str) -> dict[str, tuple[type, ...]]:
    return dict.fromkeys(names, _TEXT)


_ID_OBJECT = Shape(leaves=_texts("id", "team_id", "enterprise_id", "name", "username"))
_IDS = dict.fromkeys(("user", "channel", "team", "enterprise"), _ID_OBJECT)
_MESSAGE = Shape(
    leaves=_texts("type", "subtype", "ts", "thread_ts", "text", "user", "username", "bot_id", "team"),
    objects={"bot_profile": Shape(leaves=_texts("name", "id"))},
)
_EVENT = Shape(
    leaves={
        **_texts("type", "subtype", "ts", "thread_ts", "event_ts", "text", "user_team", "reaction", "bot_id"),
        **_texts("user_id", "channel_id", "channel_type"),
    },
    objects={
        "item": Shape(leaves=_texts("type", "channel", "ts")),
        "message": _MESSAGE,
        "previous_message": _MESSAGE,
    },
    ids=_IDS,
)
_ACTION = Shape(
    leaves=_texts("action_id", "block_id", "value", "type", "action_ts"),
    objects={"selected_option": Shape(leaves=_texts("value"))},
)
_AUTHORIZATION = Shape(
    leaves={**_texts("team_id", "enterprise_id", "user_id"), "is_bot": _FLAG, "is_enterprise_install": _FLAG}
)
_BODY = Shape(
    leaves={
        **_texts("type", "token", "challenge", "api_app_id", "event_id", "callback_id", "trigger_id"),
        **_texts("team_id", "enterprise_id", "user_id", "user_team_id", "channel_id", "thread_ts"),
        **_texts("command", "text", "response_url", "context_team_id", "context_enterprise_id"),
        "is_ext_shared_channel": _FLAG,
        "is_enterprise_install": _FLAG,
        "event_time": (int,),
    },
    objects={
        "event": _EVENT,
        "message": _MESSAGE,
        "container": Shape(
            leaves={**_texts("type", "message_ts", "channel_id", "thread_ts"), "is_ephemeral": _FLAG}
        ),
        "view": Shape(leaves=_texts("id", "type", "team_id", "app_installed_team_id", "callback_id")),
    },
    lists={
        "authorizations": _AUTHORIZATION,
        "actions": _ACTION,
        "response_urls": Shape(leaves=_texts("response_url", "block_id", "action_id", "channel_id")),
    },
    ids=_IDS,
    not_null=frozenset({"response_urls"}),  # Bolt takes its length whenever the key is there
)

# What each kind sevbot answers must carry (paths into the body, and their type), beyond the types above.
# A mention need not have a user: a bot's or a workflow's has only ``bot_id`` (sevbot does not answer it).
_REQUIRED: Mapping[str, tuple[tuple[str, type], ...]] = {
    "command": (("command", str), ("user_id", str), ("response_url", str)),
    "event_callback": (("event", dict), ("event.type", str)),
    "app_mention": (("event.channel", str), ("event.ts", str)),
    "reaction_added": (("event.item", dict),),
    "block_actions": (("user.id", str), ("actions.0.action_id", str)),
    "message_action": (("user.id", str), ("channel.id", str), ("response_url", str)),
    "url_verification": (("challenge", str),),
    "view_submission": (("view", dict),),  # sevbot has no modal; Bolt still reads the view to match
    "view_closed": (("view", dict),),
}
# Where present, of this type (an object where Slack sends the id itself reads as a garbled id).
_TYPED: Mapping[str, tuple[tuple[str, type], ...]] = {
    "app_mention": (("event.user", str),),
    "reaction_added": (("event.user", str),),
}
# Where sevbot answers: an absolute http(s) URL (Bolt's ``respond`` posts there).
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


def parse_like_bolt(body: str, content_type: str | None) -> Any:
    """The body as Bolt's ``parse_body`` reads it (JSON, a form's ``payload`` JSON, or the form)."""
    if not body:
        return {}
    if content_type == "application/json" or body.startswith("{"):
        return json.loads(body)
    if "payload" in body:
        form = dict(parse_qsl(body, keep_blank_values=True))
        return json.loads(form["payload"]) if "payload" in form else {}
    return dict(parse_qsl(body, keep_blank_values=True))


def check_shape(body: str, content_type: str | None) -> None:
    """Raise :class:`MalformedPayload` naming the field unless the body has the shape Slack sends.

    ``content_type`` without parameters (``application/json``), as Bolt compares it."""
    try:
        parsed = parse_like_bolt(body, content_type)
    except (ValueError, RecursionError) as exc:  # JSON that is not JSON, or nested too deep
        raise MalformedPayload(f"not a Slack request: {type(exc).__name__}") from None
    if not isinstance(parsed, dict):
        raise MalformedPayload(f"not a Slack request: the body is a JSON {_kind(parsed)}, not an object")
    _check(parsed, _BODY, "")
    kinds = [str(parsed.get("type") or "")]
    if "command" in parsed and "type" not in parsed:
        kinds = ["command"]
    event = parsed.get("event")
    if isinstance(event, dict):
        kinds.append(str(event.get("type") or ""))
    for kind in kinds:
        for path, kind_of in _REQUIRED.get(kind, ()):
            value = _at(parsed, path)
            if value is None or value in ("", [], {}):
                raise MalformedPayload(f"not a Slack request: {kind} without {path}")
            _typed(kind, path, value, kind_of)
        for path, kind_of in _TYPED.get(kind, ()):
            if (value := _at(parsed, path)) is not None:
                _typed(kind, path, value, kind_of)
    urls = [parsed.get("response_url")]
    urls += [u.get("response_url") for u in parsed.get("response_urls") or ()]
    for url in urls:
        if url is not None and not _URL.fullmatch(url):
            raise MalformedPayload("not a Slack request: response_url is not an http(s) URL")


def _typed(kind: str, path: str, value: Any, kind_of: type) -> None:
    if not isinstance(value, kind_of):
        raise MalformedPayload(
            f"not a Slack request: {kind}'s {path} is {_article(value)}, not {_NAMES[kind_of]}"
        )


def _check(obj: Mapping[str, Any], shape: Shape, where: str) -> None:
    for name, value in obj.items():
        path = f"{where}{name}"
        if value is None:
            if name in shape.not_null:
                _wrong(path, value, "a list of objects")
            continue
        if name in shape.leaves:
            types = shape.leaves[name]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                _wrong(path, value, " or ".join(_NAMES[t] for t in types))
            if isinstance(value, str) and not _is_unicode(value):
                _not_unicode(path)
        elif name in shape.ids:
            if isinstance(value, dict):
                _check(value, shape.ids[name], path + ".")
            elif not isinstance(value, str):
                _wrong(path, value, "a string or an object")
            elif not _is_unicode(value):
                _not_unicode(path)
        elif name in shape.objects:
            if not isinstance(value, dict):
                _wrong(path, value, "an object")
            _check(value, shape.objects[name], path + ".")
        elif name in shape.lists:
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                _wrong(path, value, "a list of objects")
            for i, item in enumerate(value):
                _check(item, shape.lists[name], f"{path}[{i}].")


def _at(obj: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``actions.0.action_id``: a number indexes a list), or None."""
    value: Any = obj
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        else:
            return None
    return value


def _not_unicode(path: str) -> NoReturn:
    raise MalformedPayload(f"not a Slack request: {path} is not valid Unicode (a lone surrogate)")


def _is_unicode(text: str) -> bool:
    """False for a string holding a lone UTF-16 surrogate (JSON's ``"\\ud800"``): no database stores it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _wrong(path: str, value: Any, expected: str) -> NoReturn:
    raise MalformedPayload(f"not a Slack request: {path} is {_article(value)}, not {expected}")


_NAMES: Mapping[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _article(value: Any) -> str:
    return "null" if value is None else _NAMES.get(type(value), f"a {type(value).__name__}")


def _kind(value: Any) -> str:
    return "null" if value is None else _NAMES.get(type(value), type(value).__name__).split(" ", 1)[-1]
