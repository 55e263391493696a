"""A stand-in for Slack's Socket Mode: a websocket server that sends envelopes and records the acks.

Slack's Socket Mode works like this, and so does this stand-in: the app calls ``apps.connections.open``
with its app-level token (``FakeSlack`` answers with this server's ``url``), opens a websocket there,
receives a ``hello``, then envelopes (``{"envelope_id", "type": "slash_commands" | "interactive" |
"events_api", "payload", "accepts_response_payload"}``) which it must acknowledge by sending back
``{"envelope_id": …}`` (with a ``payload`` when it answers inline). ``{"type": "disconnect"}`` asks the app
to reconnect through a fresh ``apps.connections.open``.

The server runs on its own event loop in a thread; tests call :meth:`send` and :meth:`wait_ack` from theirs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

LOOPBACK = "127.0.0.1"


class FakeSocketMode:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-socket-mode", daemon=True)
        self._cond = threading.Condition()
        self._connections: list[ServerConnection] = []
        self.connections_seen = 0
        self.acks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/link/"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await serve(self._session, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else 0

    async def _session(self, connection: ServerConnection) -> None:
        with self._cond:
            self._connections.append(connection)
            self.connections_seen += 1
            self._cond.notify_all()
        await connection.send(json.dumps({"type": "hello", "num_connections": 1}))
        try:
            async for raw in connection:
                message = json.loads(raw)
                envelope_id = message.get("envelope_id")
                if envelope_id:
                    with self._cond:
                        self.acks[str(envelope_id)] = message
                        self._cond.notify_all()
        except Exception:
            pass
        finally:
            with self._cond:
                if connection in self._connections:
                    self._connections.remove(connection)
                self._cond.notify_all()

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # --- what a test does -----------------------------------------------------------------------

    def wait_connected(self, *, sessions: int = 1, timeout: float = 20.0) -> None:
        """Until ``sessions`` websocket sessions have been opened in all, and one is open now."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: self.connections_seen >= sessions and bool(self._connections), timeout=timeout
            ):
                raise AssertionError(f"{self.connections_seen} session(s), wanted {sessions}")

    def send(self, kind: str, payload: Mapping[str, Any], *, accepts_response_payload: bool = False) -> str:
        """Send an envelope on the open session; returns its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": dict(payload),
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        self._send_raw(message)
        return envelope_id

    def ask_to_reconnect(self) -> None:
        """What Slack does before it rotates a connection: a ``disconnect`` message."""
        self._send_raw({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})

    def wait_ack(self, envelope_id: str, *, timeout: float = 20.0) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self.acks, timeout=timeout):
                raise AssertionError(f"no ack for {envelope_id}; acks: {sorted(self.acks)}")
            return self.acks[envelope_id]

    def _send_raw(self, message: Mapping[str, Any]) -> None:
        with self._cond:
            if not self._connections:
                raise AssertionError("no open Socket Mode session")
            connection = self._connections[-1]
        asyncio.run_coroutine_threadsafe(connection.send(json.dumps(message)), self._loop).result(timeout=10)


@contextmanager
def fake_socket_mode() -> Iterator[FakeSocketMode]:
    server = FakeSocketMode().start()
    try:
        yield server
    finally:
        server.stop()
