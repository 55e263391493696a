"""Liveness, readiness and Prometheus metrics endpoints.

``/readyz`` answers 503 while the database is unreachable or behind on migrations. Parked outbox rows (an
error only an operator can fix, such as a revoked Slack token) make it ``"status": "degraded"`` with the
reasons, still 200: webhooks are accepted and kept; only their Slack messages wait.

``/healthz`` and ``/readyz`` are open (load balancers and orchestrators call them) and say nothing about
incidents; ``/metrics`` asks for ``SEVBOT_METRICS_TOKEN`` when set. No metric label carries alert text.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.http.deps import MetricsAccess, ServicesDep
from bot.metrics import merge_expositions
from storage.migrate import is_current
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)
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
            if checks["migrations"] == "current":
                with services.db.read() as conn:
                    parked = OutboxRepository(conn).parked_reasons()
                checks["outbox"] = {"parked": sum(parked.values()), "parked_reasons": parked}
                if parked:
                    reasons = ", ".join(f"{reason} ({n})" for reason, n in sorted(parked.items()))
                    checks["degraded"] = [
                        f"outbox rows parked: {reasons}; fix it, then run `sevbot outbox retry --parked`"
                    ]
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
    status = "unavailable" if not ready else "degraded" if checks.get("degraded") else "ok"
    return JSONResponse({"ready": ready, "status": status, **checks}, status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[MetricsAccess])
async def metrics(request: Request, services: ServicesDep) -> Response:
    body = await anyio.to_thread.run_sync(generate_latest, services.metrics.registry)
    child = getattr(request.app.state, "worker_child", None)
    if child is not None:  # `serve`'s worker process: its deliveries, drafts and Slack calls
        try:
            child_text = await child.metrics_text()
        except httpx.HTTPError as exc:  # starting again, or stuck: this process's metrics still count
            log.warning("worker process metrics unavailable", extra={"error": repr(exc)})
        else:
            texts = [body.decode(), child_text]
            body = await anyio.to_thread.run_sync(merge_expositions, texts)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
