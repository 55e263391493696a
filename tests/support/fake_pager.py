"""A stand-in pager over real HTTP: PagerDuty's Events API v2 (``POST /v2/enqueue``) or any webhook.

Every request is recorded (path, headers, JSON body). It answers 202 ``{"status": "success", "dedup_key":
…}`` as PagerDuty does, or, when told with ``fail_next``, the given statuses in order (429 with a
``Retry-After``, 500, 400 …).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class PagerRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the stand-in answered


class FakePager:
    def __init__(self) -> None:
        self.requests: list[PagerRequest] = []
        self._failures: list[tuple[int, dict[str, str], str | None]] = []
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                status, headers, page = fake._answer()
                answer = (
                    {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
                    if status == 202
                    else {"status": "invalid event", "message": f"answered {status}"}
                )
                data = json.dumps(answer).encode() if page is None else page.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with fake._cond:
                    fake.requests.append(
                        PagerRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                    fake._cond.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakePager:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(
        self,
        *statuses: int,
        retry_after: str | None = None,
        location: str | None = None,
        page: str | None = None,
    ) -> None:
        """The next requests answer these statuses; ``page``: this body instead of PagerDuty's JSON."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        if location:
            headers["Location"] = location
        with self._cond:
            self._failures.extend((status, headers, page) for status in statuses)

    def _answer(self) -> tuple[int, dict[str, str], str | None]:
        with self._cond:
            return self._failures.pop(0) if self._failures else (202, {}, None)

    def accepted(self) -> list[PagerRequest]:
        with self._cond:
            return [r for r in self.requests if r.status == 202]
