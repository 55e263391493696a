"""Webhook routes: authenticate, read the body within its limit, normalize, ingest, 202 after commit."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from bot.bootstrap import Services
from bot.errors import BodyTimeout, ClientDisconnected, FieldError, InvalidPayload, PayloadTooLarge
from bot.http.auth import is_authorized
from bot.http.openapi import webhook_openapi
from bot.normalize import NORMALIZERS, normalize

log = logging.getLogger(__name__)
router = APIRouter()

# A sender gets this long to deliver its whole body (a client that trickles it holds a connection).
BODY_SECONDS = 30.0
# An oversize body is read to its end and dropped, up to these bounds, before the 413 is sent: a client
# that writes its whole body before it reads (Python's urllib, Go's net/http, so Alertmanager) then reads
# the 413 and its reason instead of a reset connection. Past them the connection is closed (nginx's
# lingering close does the same).
DISCARD_BYTES = 32 * 1024 * 1024
DISCARD_SECONDS = 10.0


async def read_body(request: Request, limit: int, *, seconds: float = BODY_SECONDS) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (the rest is read and dropped).

    Raises ``PayloadTooLarge`` (413), ``BodyTimeout`` (408) when the body takes longer than ``seconds``,
    and ``ClientDisconnected`` when the client hangs up first.
    """
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


async def receive_webhook(source: str, request: Request) -> JSONResponse:
    # The hottest route: services and the Authorization header are read directly rather than through
    # FastAPI's dependency machinery (measurably cheaper per request at thousands of webhooks a second).
    started = time.perf_counter()
    request.state.source = source  # for the error handlers' metrics
    services: Services = request.app.state.services
    metrics = services.metrics
    authorization = request.headers.get("authorization")
    if not is_authorized(services.settings.webhook_token_for(source), authorization):
        metrics.webhook_requests.labels(source, "401").inc()
        return JSONResponse(
            {"error": "missing or wrong token for this source"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="sevbot"'},
        )
    body = await read_body(request, services.settings.max_body_bytes)
    # Validation happens here, before the batch joins a group commit: a bad payload fails alone.
    batch = normalize(source, body, services.config.grouping.by)
    result = await request.app.state.committer.submit(batch)
    metrics.ingest_seconds.labels(source).observe(time.perf_counter() - started)
    metrics.webhook_requests.labels(source, "202").inc()
    return JSONResponse(result.as_json(), status_code=202)


def _route(source: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def route(request: Request) -> JSONResponse:
        return await receive_webhook(source, request)

    route.__name__ = f"receive_{source}_webhook"
    return route


for _source in NORMALIZERS:
    extra: dict[str, Any] = webhook_openapi(_source)
    router.add_api_route(
        f"/webhooks/{_source}",
        _route(_source),
        methods=["POST"],
        status_code=202,
        summary=extra.pop("summary"),
        description=extra.pop("description"),
        responses=extra.pop("responses"),
        openapi_extra=extra,
    )


@router.post("/webhooks/{source}", include_in_schema=False)
async def unknown_source(source: str) -> JSONResponse:
    raise InvalidPayload([FieldError("source", f"must be one of {', '.join(NORMALIZERS)}")])
