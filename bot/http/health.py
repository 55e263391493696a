"""Liveness, readiness and Prometheus metrics endpoints.

``/healthz`` and ``/readyz`` are open (load balancers and orchestrators call them) and say nothing about
incidents; ``/metrics`` asks for ``SEVBOT_METRICS_TOKEN`` when set. No metric label carries alert text.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.http.deps import MetricsAccess, ServicesDep
from storage.migrate import is_current

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    def check() -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            services.db.ping()
            checks["database"] = "ok"
            checks["migrations"] = "current" if is_current(services.db.engine) else "behind"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            checks["migrations"] = "unknown"
        slot = services.scorer
        checks["scorer"] = {"version": slot.current.version, "origin": slot.origin}
        if slot.warning:
            checks["scorer"]["warning"] = slot.warning
        return checks

    checks = await anyio.to_thread.run_sync(check)
    ready = checks["database"] == "ok" and checks["migrations"] == "current"
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[MetricsAccess])
async def metrics(services: ServicesDep) -> Response:
    body = await anyio.to_thread.run_sync(generate_latest, services.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
