"""A stand-in for Slack over real HTTP: a fake Web API that records every call, and Slack's request signing.

``FakeSlack`` serves the Web API methods sevbot uses (``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``, ``auth.test``, ``users.info``, ``usergroups.users.list``, ``conversations.*``, the
two-step file upload) on a loopback port, answering the way Slack does (``{"ok": true, ...}`` with channel
ids and message ``ts``).
Point a real ``slack_sdk`` client at ``fake.api_url`` (the trailing slash matters). Every request is
recorded as a :class:`Call` with its arrival time, and a test can make the next calls of a method fail
with ``fail_next`` (HTTP 429 with ``Retry-After``, HTTP 500, or an ``{"ok": false, "error": ...}`` body),
answer every call with one error for a while (``refuse("token_revoked")`` … ``restore()``), or accept a
call and then hold its answer back (``hold_next``: the message is posted, the client waits past its
timeout). Messages keep the ``metadata`` they were posted with; ``conversations.history`` and
``conversations.replies`` return it with ``include_all_metadata``, newest first / oldest first, paged
with ``limit`` and ``cursor`` as Slack does. ``post_counts()`` counts accepted posts per sevbot message
(incident, outbox row, part), from the metadata each carries.
``response_url(...)`` gives URLs for slash-command and interactivity ``response_url``s; what is posted
there is recorded too (method ``"response_url"``).

``wait_for`` blocks on a condition variable until enough matching calls arrived (no polling).

The signing helpers build request headers exactly as Slack does: ``v0=`` + hex HMAC-SHA256 of
``v0:{timestamp}:{body}`` with the signing secret, in ``X-Slack-Signature`` and ``X-Slack-Request-Timestamp``.
The payload builders give bodies in Slack's own shapes for slash commands, interactivity and events.

Standard library only, so ``bench/`` scripts and any test can use it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
BOT_USER_ID = "U0SEVBOT"
BOT_ID = "B0SEVBOT"
TEAM_ID = "T0FAKE"


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received: the API method (or ``"response_url"``), its arguments, when."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    path: str
    status: int  # the HTTP status the fake answered with
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok", False))

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else self.args.get("token")


@dataclass(slots=True)
class Failure:
    """What the next call of a method answers instead of success."""

    status: int = 200
    error: str | None = None
    retry_after: int | str | None = None  # a str for odd values ("inf")
    body: str | None = None  # a raw body (e.g. an HTML error page) instead of JSON
    where: Callable[[dict[str, Any]], bool] | None = None  # only calls whose arguments match
    posted: bool = False  # do the call's work first (the message is posted), then answer this instead


@dataclass(slots=True)
class Hold:
    """The next matching call is answered as usual, but only after ``release_held()`` or ``seconds``."""

    seconds: float
    where: Callable[[dict[str, Any]], bool] | None = None
    released: threading.Event = field(default_factory=threading.Event)
    drop: bool = False  # then close the connection without any answer


@dataclass(slots=True)
class Refusal:
    """Every Web API call answers ``{"ok": false, "error": error}`` until ``until`` (monotonic) or restore."""

    error: str
    until: float | None = None


@dataclass(slots=True)
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None
    user: str = BOT_USER_ID
    edits: int = 0
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PostKey:
    """Which sevbot message a post was, from its metadata."""

    incident_id: int
    outbox_id: int
    part: str


@dataclass(slots=True)
class _State:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    holds: dict[str, list[Hold]] = field(default_factory=dict)
    holding: list[Hold] = field(default_factory=list)  # taken, their answers waiting
    refusal: Refusal | None = None
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # name -> id
    uploads: dict[str, bytes] = field(default_factory=dict)


class FakeSlack:
    """A fake Slack Web API on a loopback port; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        tokens: set[str] | None = None,
        channels: Mapping[str, str] | None = None,
        unknown_channels: set[str] | None = None,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        usergroups: Mapping[str, list[str]] | None = None,
        private_channels: set[str] | None = None,
    ) -> None:
        # tokens: the bot tokens it accepts (None: any xoxb-/xoxp- token).
        self.tokens = tokens
        self.unknown_channels = set(unknown_channels or ())
        # users: what users.info adds to its default answer per user id (is_admin, is_restricted, team_id …).
        self.users = {k: dict(v) for k, v in (users or {}).items()}
        self.usergroups = {k: list(v) for k, v in (usergroups or {}).items()}  # S… -> member user ids
        self.private_channels = set(private_channels or ())  # channel names (or ids) that are private
        self._state = _State(channels=dict(channels or {"alerts": "C0ALERTS", "general": "C0GENERAL"}))
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Socket Mode: where ``apps.connections.open`` sends clients (see tests/support/fake_socket_mode.py).
        self.socket_url: str | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release_held()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeSlack is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """For ``AsyncWebClient(base_url=...)`` and ``SEVBOT_SLACK_API_URL`` (with its trailing slash)."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "cmd") -> str:
        """A ``response_url`` for a slash command or an interaction; posts to it are recorded."""
        return f"{self.base_url}/response/{urllib.parse.quote(name)}"

    # --- scripting failures ----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | str | None = None,
        body: str | None = None,
        times: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
        posted: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status=429, retry_after=N`` is Slack's rate limit; ``status=500`` (optionally with a raw ``body``)
        an outage; ``error="channel_not_found"`` an ``{"ok": false}`` answer with HTTP 200, as Slack does.
        ``where`` limits the failures to calls whose arguments match (``lambda args: "#1" in args["text"]``).
        ``posted=True``: the call does its work (the message is posted) and then answers the failure: a
        proxy's page or a cut body after Slack did the work.
        """
        if error is None and status == 200 and body is None:
            raise ValueError("fail_next needs an error, or a status other than 200")
        with self._cond:
            self._state.failures.setdefault(method, []).extend(
                Failure(
                    status=status, error=error, retry_after=retry_after, body=body, where=where, posted=posted
                )
                for _ in range(times)
            )

    def clear_failures(self) -> None:
        with self._cond:
            self._state.failures.clear()

    def hold_next(
        self,
        method: str,
        *,
        seconds: float = 10.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Hold:
        """Accept the next matching call of ``method`` (the message is posted at once) but hold its answer
        until ``release_held()`` or ``seconds``: a client with a shorter timeout never hears back."""
        hold = Hold(seconds=seconds, where=where)
        with self._cond:
            self._state.holds.setdefault(method, []).append(hold)
        return hold

    def drop_next(self, method: str, *, where: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Accept the next matching call of ``method`` (the message is posted), then close the connection
        without answering: what a proxy or a network failure does after Slack has done the work."""
        with self._cond:
            self._state.holds.setdefault(method, []).append(Hold(seconds=0, where=where, drop=True))

    def release_held(self) -> None:
        with self._cond:
            holds = [h for queued in self._state.holds.values() for h in queued] + self._state.holding
            self._state.holds.clear()
            self._state.holding.clear()
        for hold in holds:
            hold.released.set()

    def refuse(self, error: str = "token_revoked", *, seconds: float | None = None) -> None:
        """Answer every Web API call with ``error`` (as Slack does for a revoked token: HTTP 200,
        ``ok: false``) until ``restore()``, or for ``seconds``."""
        until = time.monotonic() + seconds if seconds is not None else None
        with self._cond:
            self._state.refusal = Refusal(error=error, until=until)

    def restore(self) -> None:
        with self._cond:
            self._state.refusal = None

    # --- what happened ---------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._state.calls)

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        """The calls of one method, oldest first; ``ok=True`` only successful ones, ``False`` only failed."""
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def wait_for(
        self,
        method: str | None = None,
        count: int = 1,
        *,
        where: Callable[[Call], bool] | None = None,
        timeout: float = 30.0,
    ) -> list[Call]:
        """Block until at least ``count`` calls match (``method`` and ``where``), then return them all.

        Woken by each arriving call; raises ``TimeoutError`` naming what it waited for.
        """

        def matching() -> list[Call]:
            return [
                c
                for c in self._state.calls
                if (method is None or c.method == method) and (where is None or where(c))
            ]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                seen = [c.method for c in self._state.calls]
                raise TimeoutError(
                    f"waited {timeout:g}s for {count} call(s) of {method or 'any method'}; saw {seen}"
                )
            return matching()

    def post_counts(self) -> Counter[PostKey]:
        """Accepted ``chat.postMessage`` calls per sevbot message (incident, outbox row, part), from the
        metadata each post carried. Exactly once means every count is 1."""
        counts: Counter[PostKey] = Counter()
        for call in self.calls_to("chat.postMessage", ok=True):
            payload = (_metadata(call.args.get("metadata")) or {}).get("event_payload") or {}
            counts[
                PostKey(
                    int(payload.get("incident_id", 0)),
                    int(payload.get("outbox_id", 0)),
                    str(payload.get("part")),
                )
            ] += 1
        return counts

    def messages(self, channel: str | None = None) -> list[Message]:
        """Messages currently in the fake's channels (posted and not deleted), oldest first."""
        with self._cond:
            found = [m for m in self._state.messages.values() if channel is None or m.channel == channel]
        return sorted(found, key=lambda m: (m.channel, float(m.ts)))

    def message(self, channel: str, ts: str) -> Message | None:
        with self._cond:
            return self._state.messages.get((channel, ts))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies in a thread, oldest first (not the root)."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    def add_message(self, channel: str, text: str, *, user: str, thread_ts: str | None = None) -> str:
        """A message a person posted (not through the API): its ``ts``. In a thread with ``thread_ts``."""
        with self._cond:
            channel_id = self._resolve_channel(channel) or channel
            message = Message(channel_id, self._next_ts(), text, [], thread_ts, user=user)
            self._state.messages[(channel_id, message.ts)] = message
            return message.ts

    def channel_id(self, name_or_id: str) -> str:
        """The id the fake uses for a channel name (``#alerts`` or ``alerts``) or id."""
        with self._cond:
            return self._resolve_channel(name_or_id) or name_or_id

    # --- the API ---------------------------------------------------------------------------

    def _handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        """The answer to send, or ``None`` to close the connection without one."""
        args = _parse_body(headers.get("content-type", ""), raw)
        if path.startswith("/api/"):
            method = path[len("/api/") :].split("?", 1)[0]
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            for key, values in query.items():
                args.setdefault(key, values[-1])
        elif path.startswith("/response/"):
            method = "response_url"
        elif path.startswith("/upload/"):
            method = "upload"
        else:
            method = "unknown"
        with self._cond:
            status, extra_headers, response, body = self._answer(method, path, headers, args, raw)
            hold = self._take_hold(method, args)
            self._state.calls.append(
                Call(
                    method=method,
                    args=args,
                    headers=headers,
                    at=time.monotonic(),
                    path=path,
                    status=status,
                    response=response,
                )
            )
            self._cond.notify_all()
        if hold is not None and hold.drop:
            return None
        if hold is not None:  # accepted and recorded; the answer waits (bounded)
            hold.released.wait(hold.seconds)
        return status, extra_headers, body

    def _take_hold(self, method: str, args: dict[str, Any]) -> Hold | None:
        queued = self._state.holds.get(method, [])
        hold = next((h for h in queued if h.where is None or h.where(args)), None)
        if hold is not None:
            queued.remove(hold)
            self._state.holding.append(hold)
        return hold

    def _answer(
        self, method: str, path: str, headers: dict[str, str], args: dict[str, Any], raw: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any], bytes]:
        queued = self._state.failures.get(method, [])
        failure = next((f for f in queued if f.where is None or f.where(args)), None)
        if failure is not None:
            queued.remove(failure)
            if failure.posted:
                self._answer(method, path, headers, args, raw)
            extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            if failure.body is not None:
                extra["Content-Type"] = "application/json" if _is_json(failure.body) else "text/html"
                return failure.status, extra, {"raw": failure.body}, failure.body.encode()
            error = failure.error or ("ratelimited" if failure.status == 429 else "internal_error")
            response = {"ok": False, "error": error}
            return failure.status, extra, response, _json(response)
        refusal = self._state.refusal
        if refusal is not None and refusal.until is not None and time.monotonic() >= refusal.until:
            refusal = self._state.refusal = None
        if refusal is not None and method not in ("response_url", "upload", "unknown"):
            response = {"ok": False, "error": refusal.error}
            return 200, {}, response, _json(response)
        if method == "response_url":
            return 200, {"Content-Type": "text/html"}, {"ok": True}, b"ok"
        if method == "upload":
            self._state.uploads[path.rsplit("/", 1)[-1]] = raw
            return 200, {"Content-Type": "text/plain"}, {"ok": True}, b"OK - " + str(len(raw)).encode()
        if method == "apps.connections.open":  # app-level tokens (xapp-) only, as Slack requires
            token = _token(headers, args) or ""
            if not token.startswith("xapp-") or self.socket_url is None:
                response = {"ok": False, "error": "invalid_auth" if self.socket_url else "not_allowed"}
            else:
                response = {"ok": True, "url": self.socket_url}
            return 200, {}, response, _json(response)
        if method != "unknown" and not self._authorized(headers, args):
            token = _token(headers, args)
            response = {"ok": False, "error": "not_authed" if not token else "invalid_auth"}
            return 200, {}, response, _json(response)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        response = handler(args) if handler else {"ok": False, "error": "unknown_method"}
        return 200, {}, response, _json(response)

    def _authorized(self, headers: dict[str, str], args: dict[str, Any]) -> bool:
        token = _token(headers, args)
        if token is None:
            return False
        if self.tokens is None:
            return token.startswith(("xoxb-", "xoxp-"))
        return token in self.tokens

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _resolve_channel(self, value: str | None) -> str | None:
        if not value:
            return None
        name = value.lstrip("#")
        if name in self.unknown_channels or value in self.unknown_channels:
            return None
        if name in self._state.channels:
            return self._state.channels[name]
        if name in self._state.channels.values() or (
            name[:1] in "CGD" and name[1:].isalnum() and name.isupper()
        ):
            return name
        new_id = "C" + hashlib.sha1(name.encode()).hexdigest()[:9].upper()
        self._state.channels[name] = new_id
        return new_id

    def _message_json(self, message: Message, *, metadata: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "team": TEAM_ID,
        }
        if message.user == BOT_USER_ID:
            body["bot_id"] = BOT_ID
        if message.blocks:
            body["blocks"] = message.blocks
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        if metadata and message.metadata:
            body["metadata"] = message.metadata
        return body

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake Team",
            "user": "sevbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        text, blocks = args.get("text") or "", _blocks(args.get("blocks"))
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        problem = block_problem(blocks)
        if problem:
            return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
        thread_ts = args.get("thread_ts") or None
        if thread_ts and (channel, thread_ts) not in self._state.messages:
            return {"ok": False, "error": "thread_not_found"}
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata=_metadata(args.get("metadata")),
        )
        self._state.messages[(channel, message.ts)] = message
        return {"ok": True, "channel": channel, "ts": message.ts, "message": self._message_json(message)}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        message = self._state.messages.get((channel, str(args.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in args:
            message.text = args.get("text") or ""
        if "blocks" in args:
            problem = block_problem(_blocks(args.get("blocks")))
            if problem:
                return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
            message.blocks = _blocks(args.get("blocks"))
        if args.get("metadata"):
            message.metadata = _metadata(args.get("metadata"))
        message.edits += 1
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._resolve_channel(args.get("channel")) is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = str(args.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://fake.slack.test/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        if not user_id.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": user_id.lower(),
            "real_name": f"User {user_id}",
            "tz": "Europe/Amsterdam",
            "is_bot": False,
            "profile": {"display_name": user_id.lower(), "real_name": f"User {user_id}"},
        }
        user.update(self.users.get(user_id, {}))
        return {"ok": True, "user": user}

    def _channel_json(self, channel: str) -> dict[str, Any]:
        name = next((n for n, i in self._state.channels.items() if i == channel), channel.lower())
        private = name in self.private_channels or channel in self.private_channels
        return {
            "id": channel,
            "name": name,
            "is_channel": not private,
            "is_private": private,
            "is_member": True,
        }

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": self._channel_json(channel)}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _m_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        info = self._m_conversations_info(args)
        return info if not info["ok"] else {**info, "warning": "already_in_channel"}

    def _m_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = [self._channel_json(i) for i in self._state.channels.values()]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _history_channel(self, args: dict[str, Any]) -> str | None:
        """conversations.history and .replies take a channel id only (not a #name), as Slack's do."""
        value = str(args.get("channel") or "")
        if value not in self._state.channels.values() and not (value[:1] in "CGD" and value.isupper()):
            return None
        return self._resolve_channel(value)

    def _page(
        self, messages: list[Message], args: dict[str, Any], *, first: Message | None = None
    ) -> dict[str, Any]:
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or "inf")
        chosen = [m for m in messages if oldest <= float(m.ts) <= latest]
        limit = max(1, min(int(args.get("limit") or 100), 999))
        start = int(args.get("cursor") or 0)
        page = chosen[start : start + limit]
        more = start + limit < len(chosen)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = ([first] if first is not None and start == 0 else []) + page
        return {
            "ok": True,
            "messages": [self._message_json(m, metadata=with_metadata) for m in shown],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._history_channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        top = [
            m
            for m in self._state.messages.values()
            if m.channel == channel and (m.thread_ts is None or m.thread_ts == m.ts)
        ]
        return self._page(sorted(top, key=lambda m: float(m.ts), reverse=True), args)  # newest first

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._history_channel(args)
        ts = str(args.get("ts", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        root = self._state.messages.get((channel, ts))
        if root is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = sorted(
            (
                m
                for m in self._state.messages.values()
                if m.channel == channel and m.thread_ts == ts and m.ts != ts
            ),
            key=lambda m: float(m.ts),
        )
        return self._page(replies, args, first=root)  # the parent first, then replies oldest first

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ts):08d}"
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        if not files or any(f.get("id") not in self._state.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSlack
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.owner._handle(self.path, headers, raw)
        if answer is None:
            self.close_connection = True
            return
        status, extra, body = answer
        # A held answer's client may have given up and gone: nothing to send it then.
        with suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "application/json; charset=utf-8"))
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _token(headers: Mapping[str, str], args: Mapping[str, Any]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    token = args.get("token")
    return str(token) if token else None


def block_problem(blocks: list[Any]) -> str | None:
    """The first way ``blocks`` break Slack's documented limits, as Slack words it; ``None`` if within."""
    if len(blocks) > 50:
        return "must be less than 51 items [json-pointer:/blocks]"
    for i, block in enumerate(blocks):
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "section":
            if len(text) > 3000:
                return f"must be less than 3001 characters [json-pointer:/blocks/{i}/text/text]"
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return f"fields: at most 10 of at most 2000 characters [json-pointer:/blocks/{i}/fields]"
        if kind == "header" and len(text) > 150:
            return f"must be less than 151 characters [json-pointer:/blocks/{i}/text/text]"
        if kind == "context" and len(block.get("elements") or []) > 10:
            return f"must be less than 11 items [json-pointer:/blocks/{i}/elements]"
        if kind == "actions":
            for j, element in enumerate(block.get("elements") or []):
                label = (element.get("text") or {}).get("text", "")
                if len(label) > 75:
                    return (
                        f"must be less than 76 characters [json-pointer:/blocks/{i}/elements/{j}/text/text]"
                    )
    return None


def _metadata(value: Any) -> dict[str, Any] | None:
    """A post's ``metadata`` argument (a JSON body's object, or a form field's JSON text)."""
    if not value:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else None


def _blocks(value: Any) -> list[Any]:
    if not value:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return list(value)


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"_body": parsed}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
    return {"_raw": raw}


@contextmanager
def fake_slack(**options: Any) -> Iterator[FakeSlack]:
    """``with fake_slack() as slack:`` a started fake, stopped on the way out."""
    fake = FakeSlack(**options)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


# --- signing, as Slack does it ------------------------------------------------------------------


def slack_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 over ``v0:{timestamp}:{body}`` keyed with the signing secret."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str,
    body: bytes,
    *,
    content_type: str,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """The headers Slack sends with a request: content type, timestamp, signature (and retry headers)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack_signature(secret, ts, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


# --- request bodies in Slack's shapes -------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def slash_command_body(
    text: str,
    *,
    command: str = "/incident",
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    channel_id: str = "C0ALERTS",
    channel_name: str = "alerts",
    response_url: str = "https://hooks.slack.com/commands/T0FAKE/1/x",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
    thread_ts: str | None = None,
    team_id: str = TEAM_ID,
) -> bytes:
    """A slash command as Slack posts it (form-encoded)."""
    fields = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0SEVBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    if thread_ts:
        fields["thread_ts"] = thread_ts
    return urllib.parse.urlencode(fields).encode()


def block_actions_body(
    action: Mapping[str, Any],
    *,
    user_id: str = "U0ALICE",
    channel_id: str = "C0ALERTS",
    message_ts: str = "1700000000.000100",
    response_url: str = "https://hooks.slack.com/actions/T0FAKE/1/x",
    team_id: str = TEAM_ID,
    user_team_id: str | None = None,
) -> bytes:
    """A ``block_actions`` interaction (a button click or a select) as Slack posts it: ``payload=<json>``."""
    user = {
        "id": user_id,
        "username": user_id.lower(),
        "name": user_id.lower(),
        "team_id": user_team_id or team_id,
    }
    payload = {
        "type": "block_actions",
        "user": user,
        "api_app_id": "A0SEVBOT",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": team_id, "domain": "fake"},
        "channel": {"id": channel_id, "name": "alerts"},
        "message": {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": ""},
        "response_url": response_url,
        "actions": [{"action_ts": f"{time.time():.6f}", **dict(action)}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def button(action_id: str, value: str, *, block_id: str = "actions") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "text": {"type": "plain_text", "text": action_id},
    }


def static_select(action_id: str, value: str, *, block_id: str = "actions") -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": action_id,
        "block_id": block_id,
        "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
    }


def event_body(
    event: Mapping[str, Any],
    *,
    event_id: str = "Ev0001",
    event_time: int | None = None,
    team_id: str = TEAM_ID,
) -> bytes:
    """An Events API ``event_callback`` envelope around ``event``."""
    envelope = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "api_app_id": "A0SEVBOT",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time or int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope).encode()


def app_mention(
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0ALERTS",
    ts: str | None = None,
    thread_ts: str | None = None,
    user_team: str = TEAM_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event; ``text`` gets the bot's mention in front, as Slack writes it."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "user_team": user_team,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts or f"{time.time():.6f}",
        "channel": channel,
        "event_ts": ts or f"{time.time():.6f}",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message_shortcut_body(
    callback_id: str,
    message: Mapping[str, Any],
    *,
    user_id: str = "U0ALICE",
    channel_id: str = "C0ALERTS",
    response_url: str = "https://hooks.slack.com/app/T0FAKE/1/x",
    team_id: str = TEAM_ID,
) -> bytes:
    """A message shortcut (``message_action``) on ``message`` as Slack posts it: ``payload=<json>``."""
    payload = {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "action_ts": f"{time.time():.6f}",
        "token": "deprecated-verification-token",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "channel": {"id": channel_id, "name": "alerts"},
        "is_enterprise_install": False,
        "enterprise": None,
        "message_ts": message.get("ts"),
        "message": dict(message),
        "response_url": response_url,
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def reaction_added(
    reaction: str, *, channel: str, ts: str, user: str = "U0ALICE", item_user: str | None = None
) -> dict[str, Any]:
    """A ``reaction_added`` event: no message text, only where the message is."""
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item_user": item_user or "U0BOB",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
