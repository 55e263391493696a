"""FastAPI dependency aliases shared by the routes (``Annotated`` types, resolved per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from bot.bootstrap import Services
from bot.http.auth import bearer_matches, may_read_api

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sevbot"'}


async def get_services(request: Request) -> Services:
    # async on purpose: a plain ``def`` dependency would hop to the thread pool on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_api_access(request: Request) -> None:
    """``SEVBOT_API_TOKEN`` as a bearer token; without one configured, loopback clients only (401 else)."""
    services: Services = request.app.state.services
    token = services.settings.api_token
    expected = token.get_secret_value() if token else None
    client = request.client.host if request.client else None
    if not may_read_api(expected, request.headers.get("authorization"), host=client, headers=request.headers):
        detail = (
            "missing or wrong API token (SEVBOT_API_TOKEN)"
            if expected
            else "the API answers loopback clients only; set SEVBOT_API_TOKEN to read it from elsewhere"
        )
        raise HTTPException(401, detail=detail, headers=_CHALLENGE)


async def require_metrics_access(request: Request) -> None:
    """``SEVBOT_METRICS_TOKEN`` as a bearer token when one is set; else /metrics is open."""
    services: Services = request.app.state.services
    token = services.settings.metrics_token
    if token is not None and not bearer_matches(
        token.get_secret_value(), request.headers.get("authorization")
    ):
        raise HTTPException(401, detail="missing or wrong metrics token", headers=_CHALLENGE)


ApiAccess = Depends(require_api_access)
MetricsAccess = Depends(require_metrics_access)
