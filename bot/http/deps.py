"""FastAPI dependency aliases shared by the routes (``Annotated`` types, resolved per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.bootstrap import Services


async def get_services(request: Request) -> Services:
    # async on purpose: a plain ``def`` dependency would hop to the thread pool on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
