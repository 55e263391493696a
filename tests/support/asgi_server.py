"""Serve an ASGI app (sevbot's FastAPI app) with uvicorn on a loopback port in a thread, for real HTTP tests.

The listening socket is bound before uvicorn starts (no port race) and ``serve`` returns once uvicorn's
startup, lifespan included, has finished (an event, not polling).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # not the main thread: leave signals alone
        return


@contextmanager
def serve(app: Any, *, timeout: float = 30.0) -> Iterator[str]:
    """``with serve(app) as url:`` the app answers at ``url`` until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        if not server.ready.wait(timeout):
            raise TimeoutError(f"uvicorn did not start within {timeout:g}s")
        if not server.started:
            raise RuntimeError("uvicorn failed to start (see the log)")
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
