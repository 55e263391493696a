"""The HTTP/1.1 protocol ``sevbot serve`` runs: uvicorn's, plus a deadline for each request's headers.

uvicorn closes idle keep-alive connections, but a client that connects and then sends its request line
and headers a byte at a time (slowloris) holds a connection, and a ``limit_concurrency`` slot, forever.
Here every request must have sent all its headers within ``header_timeout`` seconds of the connection
opening (or of its first byte, on a kept-alive connection); otherwise it gets a 408 and is closed.
The body has its own deadline (``bot.http.body``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_SECONDS = 10.0
_MESSAGE = b"request headers took too long"
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_MESSAGE), _MESSAGE)
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for headers (``config.header_timeout`` seconds)."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_seconds = float(getattr(config, "header_timeout", DEFAULT_HEADER_SECONDS))
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("request headers took longer than %.0fs; connection closed", self.header_seconds)
            self.transport.write(_TIMEOUT)
            self.transport.close()
