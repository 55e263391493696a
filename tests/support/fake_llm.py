"""A stand-in for an OpenAI-compatible server over real HTTP: ``POST /v1/chat/completions``.

Point the real ``openai`` client at ``fake.base_url``. Every request is recorded (path, headers, JSON body),
so tests assert on exactly what left sevbot. By default each request is answered with a completion whose
text is ``fake.reply`` (and usage figures); ``script(...)`` makes the next requests answer differently:

- ``Answer(status=429, retry_after="0")``: rate limited (``Retry-After`` header);
- ``Answer(status=500)``: a server error;
- ``Answer(body="not json")``: a malformed answer with status 200;
- ``Answer(hold=True)``: hold the answer until ``release()`` (a slow model; nothing sleeps).

``wait_for(n)`` blocks on a condition variable until ``n`` requests arrived. Standard library only.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.trickle import write_body

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Everything the request carried (every message's content), for "did this leave?" checks."""
        return json.dumps(self.body, ensure_ascii=False)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    retry_after: str | None = None
    body: str | None = None  # a raw body instead of a completion
    hold: bool = False  # wait for release() before answering
    text: str | None = None  # the completion's text instead of fake.reply
    trickle: float = 0.0  # send the answer one byte every this many seconds (each read is quick)


class FakeLLM:
    def __init__(self, reply: str = "Checkout errors are high; see [runbook § Diagnosis].") -> None:
        self.reply = reply
        self.requests: list[Request] = []
        self._script: list[Answer] = []
        self._cond = threading.Condition()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/v1"

    def script(self, *answers: Answer) -> None:
        with self._cond:
            self._script.extend(answers)

    def release(self) -> None:
        """Let held answers go (and every later ``hold`` answer pass at once)."""
        self._released.set()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Request]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} LLM requests, got {len(self.requests)}")
            return list(self.requests)

    def _next(self, request: Request) -> Answer:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
            return self._script.pop(0) if self._script else Answer()

    def completion(self, request: Request, text: str) -> dict[str, Any]:
        prompt = sum(len(str(m.get("content", ""))) for m in request.messages) // 4
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_764_000_000,
            "model": request.body.get("model", "unknown"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 40, "total_tokens": prompt + 40},
        }

    @contextmanager
    def running(self) -> Iterator[FakeLLM]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                path = urllib.parse.urlsplit(self.path).path
                answer = fake._next(request)
                if answer.hold:
                    fake._released.wait(30)
                if not path.endswith("/chat/completions"):
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                elif answer.body is not None:
                    self._send(answer.status, answer.body)
                elif answer.status != 200:
                    error = {"error": {"message": f"fake error {answer.status}", "type": "fake"}}
                    headers = {"retry-after": answer.retry_after} if answer.retry_after is not None else {}
                    self._send(answer.status, json.dumps(error), headers)
                else:
                    completion = json.dumps(fake.completion(request, answer.text or fake.reply))
                    self._send(200, completion, trickle=answer.trickle)

            def _send(
                self, status: int, body: str, headers: dict[str, str] | None = None, *, trickle: float = 0.0
            ) -> None:
                data = body.encode()
                # The client may have given up (timed out) before the answer: nothing to send it then.
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    write_body(self.wfile, data, trickle=trickle, stop=fake._released)

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
            self._released.set()
            server.shutdown()
            server.server_close()
            thread.join()
