"""A stand-in for Alertmanager's silence API v2 over real HTTP (and Grafana's copy under its prefix).

It keeps silences as Alertmanager does for the three calls sevbot makes: ``POST …/silences`` answers
``{"silenceID": …}``, ``DELETE …/silence/{id}`` expires one (200, also when already expired; 500
"silence not found" for an unknown id, as Alertmanager 0.25 answers), ``GET …/silences`` lists them with
their state. Every request is recorded (method, path, headers, JSON body). Failure injection:
``fail_next(status, body)`` answers the next requests with an error, ``hold_next()`` holds them until
the client gives up (a timeout). ``prefix`` is ``/api/v2`` or Grafana's
``/api/alertmanager/grafana/api/v2``. Standard library only.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.trickle import write_body

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    body: str = '"injected failure"'
    hold: bool = False  # never answer in time
    trickle: float = 0.0  # answer one byte every this many seconds (each read is quick, the whole never)


class FakeAlertmanager:
    def __init__(self, *, prefix: str = "/api/v2") -> None:
        self.prefix = prefix
        self.requests: list[Request] = []
        self.silences: dict[str, dict[str, Any]] = {}
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._gone = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def fail_next(self, status: int, body: str = '"injected failure"', *, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([Failure(status, body)] * times)

    def trickle_next(self, seconds_per_byte: float) -> None:
        with self._lock:
            self._failures.append(
                Failure(200, json.dumps({"silenceID": "x" * 200}), trickle=seconds_per_byte)
            )

    def hold_next(self, *, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([Failure(0, hold=True)] * times)

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.silences.values() if s["status"]["state"] == "active"]

    def expire_by_hand(self, silence_id: str) -> None:
        """Someone expired the silence in Alertmanager's UI."""
        with self._lock:
            self.silences[silence_id]["status"]["state"] = "expired"

    def _handle(self, request: Request) -> tuple[int, Any] | Failure | None:
        with self._lock:
            self.requests.append(request)
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                if failure.trickle:
                    return failure
                return None if failure.hold else (failure.status, failure.body)
            path = request.path.split("?", 1)[0]
            if not path.startswith(self.prefix):
                return 404, '"not found"'
            path = path[len(self.prefix) :]
            if request.method == "POST" and path == "/silences":
                silence_id = str(uuid.uuid4())
                body = dict(request.body)
                self.silences[silence_id] = {**body, "id": silence_id, "status": {"state": "active"}}
                return 200, json.dumps({"silenceID": silence_id})
            if request.method == "GET" and path == "/silences":
                return 200, json.dumps(list(self.silences.values()))
            if request.method == "DELETE" and path.startswith("/silence/"):
                found = self.silences.get(path.removeprefix("/silence/"))
                if found is None:
                    return 500, '"silence not found"'
                found["status"]["state"] = "expired"
                found["endsAt"] = datetime.now(UTC).isoformat()
                return 200, ""
            return 405, '"method not allowed"'

    @contextmanager
    def running(self) -> Iterator[FakeAlertmanager]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = fake._handle(Request(self.command, self.path, headers, body))
                if answer is None:
                    fake._gone.wait(30)
                    return
                trickle = answer.trickle if isinstance(answer, Failure) else 0.0
                status, text = (answer.status, answer.body) if isinstance(answer, Failure) else answer
                data = text.encode()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    write_body(self.wfile, data, trickle=trickle, stop=fake._gone)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        self._server = server
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._gone.set()
            server.shutdown()
            server.server_close()
            thread.join()
