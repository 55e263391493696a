"""Webhook routes: authenticate, read the body within its limit, normalize, ingest, 202 after commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.bootstrap import Services
from bot.errors import FieldError, InvalidPayload
from bot.http.auth import is_authorized
from bot.http.body import read_body
from bot.http.openapi import webhook_openapi
from bot.normalize import NORMALIZERS, normalize

log = logging.getLogger(__name__)
router = APIRouter()


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
    batch = normalize(source, body, services.config.grouping.by, now=services.ingestor.clock())
    result = await request.app.state.committer.submit(batch)
    metrics.ingest_seconds.labels(source).observe(time.perf_counter() - started)
    metrics.webhook_requests.labels(source, "202").inc()
    metrics.webhook_last_received.labels(source).set(time.time())
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
