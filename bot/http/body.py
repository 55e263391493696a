"""Reading a request body within its limits: size (413), time (408), the client hanging up (one log line)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from bot.errors import BodyTimeout, ClientDisconnected, PayloadTooLarge

# A sender gets this long to deliver its whole body (a client that trickles it holds a connection).
BODY_SECONDS = 30.0
# An oversize body is read to its end and dropped, up to these bounds, before the 413 is sent: a client
# that writes its whole body before it reads (Python's urllib, Go's net/http, so Alertmanager) then reads
# the 413 and its reason instead of a reset connection. Past them the connection is closed (nginx's
# lingering close does the same).
DISCARD_BYTES = 32 * 1024 * 1024
DISCARD_SECONDS = 10.0


async def read_body(request: Request, limit: int, *, seconds: float | None = None) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (the rest is read and dropped).

    Raises ``PayloadTooLarge`` (413), ``BodyTimeout`` (408) when the body takes longer than ``seconds``,
    and ``ClientDisconnected`` when the client hangs up first.
    """
    seconds = BODY_SECONDS if seconds is None else seconds
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() and len(declared) <= 18 else None
    stream = aiter(request.stream())
    try:
        if size is not None and size > limit:
            await _discard(stream, declared=size)
            raise PayloadTooLarge(limit)
        chunks: list[bytes] = []
        received = 0
        with anyio.fail_after(seconds):
            async for chunk in stream:
                received += len(chunk)
                if received > limit:
                    await _discard(stream, declared=size)
                    raise PayloadTooLarge(limit)
                chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected("the client closed the connection before its body arrived") from None
    except TimeoutError:
        raise BodyTimeout(seconds) from None
    return b"".join(chunks)


async def _discard(stream: AsyncIterator[bytes], *, declared: int | None) -> None:
    if declared is not None and declared > DISCARD_BYTES:
        return
    dropped = 0
    with anyio.move_on_after(DISCARD_SECONDS):
        async for chunk in stream:
            dropped += len(chunk)
            if dropped > DISCARD_BYTES:
                return


def replaying(request: Request, body: bytes) -> Request:
    """The same request with its body already read, for code that reads the body itself (Bolt)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await request.receive()  # what comes after the body: the client's disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
