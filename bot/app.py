"""The app factory: ``create_app(settings)`` wires the services, routes, error answers and the worker."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from analytics.records import ScorerOrigin
from analytics.scoring import Scorer
from bot.bootstrap import build_services, build_ticker, outbox_sinks, settle_heap
from bot.clock import utcnow
from bot.errors import ClientDisconnected, InvalidPayload, PayloadError, Unavailable
from bot.http import api, docs, health, openapi, pages, postmortem, webhooks
from bot.http.request_ids import RequestIds
from bot.ingest.group_commit import GroupCommitter
from bot.model.serving import ModelWatcher, keep_model_current
from bot.outbox.child import WorkerChild
from bot.outbox.retention import keep_pruned
from bot.outbox.worker import OutboxWorker, Sink
from bot.settings import Settings
from bot.slack.bolt import mount_slack

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    scorer: Scorer | None = None,
    sink: Sink | None = None,
    clock: Callable[[], datetime] = utcnow,
    worker_child: WorkerChild | None = None,
) -> FastAPI:
    """Build a sevbot web app from ``settings``. Tests pass their own settings, scorer, sink and clock.

    ``worker_child``: ``sevbot serve``'s outbox worker process (bot.outbox.child), started here once the
    database is migrated, woken after each commit, stopped with the app; ``settings`` must then not ask
    for a worker in this process.
    """
    if worker_child is not None and settings.worker_in_process:
        raise ValueError("a worker child and a worker in this process would deliver side by side")
    services = build_services(settings, scorer=scorer, clock=clock)
    # Each outbox topic has its own sink: "slack" messages go to Slack (or the console without a token).
    router = outbox_sinks(services, slack=sink)
    worker = (
        OutboxWorker(
            db=services.db,
            sink=router,
            metrics=services.metrics,
            poll_seconds=settings.outbox_poll_seconds,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            clock=clock,
        )
        if settings.worker_in_process
        else None
    )
    wake = worker.wake if worker is not None else worker_child.wake if worker_child is not None else None
    services.ingestor.on_commit = wake
    # Escalation and heartbeats tick where the outbox is delivered (`sevbot worker` processes otherwise).
    ticker = build_ticker(services, wake=worker.wake) if worker is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop)) if worker else None
        ticking = asyncio.create_task(ticker.run(stop, interval=settings.tick_seconds)) if ticker else None
        upkeep = None
        if services.scorer.origin in (ScorerOrigin.REGISTRY, ScorerOrigin.BUNDLED):
            watcher = ModelWatcher(services.db, services.scorer, settings.resolved_model_cache_dir)
            upkeep = asyncio.create_task(
                keep_model_current(
                    watcher, services.metrics, stop, interval=settings.model_check_seconds, clock=clock
                )
            )
        retention = (
            asyncio.create_task(
                keep_pruned(
                    services.db,
                    days=settings.retention_days,
                    stop=stop,
                    clock=clock,
                    metrics=services.metrics,
                )
            )
            if worker is not None
            else None  # `sevbot worker` processes prune instead
        )
        supervising = None
        if worker_child is not None:
            services.db.leave_checkpoints_to_another_process()
            worker_child.start()
            if not await worker_child.wait_ready():
                log.error("outbox worker process not ready; serving anyway (messages wait in the outbox)")
            supervising = asyncio.create_task(worker_child.supervise(stop))
        close_socket = await slack.start() if slack is not None else None
        settle_heap()
        try:
            yield
        finally:
            if close_socket is not None:
                await close_socket()
            stop.set()
            for running in (task, upkeep, retention, ticking, supervising):
                if running is not None:
                    await running
            if worker_child is not None:
                await worker_child.close_metrics_client()
                await anyio.to_thread.run_sync(worker_child.stop)
            services.close()
            gc.unfreeze()  # what start-up built may be collected again (an app of a test, say)

    # The schema and its pages are served by bot.http.docs, behind the API's guard (not FastAPI's open ones).
    app = FastAPI(
        title="sevbot", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.services = services
    app.state.worker = worker
    app.state.worker_child = worker_child  # /metrics merges its metrics
    app.state.ticker = ticker
    app.state.sinks = router
    # SQLite has one writer: webhooks queue here (and commit together) rather than in SQLite's busy loop.
    app.state.committer = GroupCommitter(
        services.ingestor,
        writers=1 if services.db.is_sqlite else 4,
        max_queued=settings.max_queued_webhooks,
        metrics=services.metrics,
    )
    if worker is not None:
        worker.yield_to = app.state.committer.busy  # webhooks first; Slack and drafts when it is quiet
    app.add_middleware(RequestIds)
    app.include_router(webhooks.router)
    app.include_router(api.router)
    app.include_router(postmortem.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    pages.install(app)  # /incidents: HTML for people, behind the API's token

    openapi.install(app)
    # POST /slack/events (and Socket Mode) when Slack credentials are set.
    slack = mount_slack(
        app,
        settings=settings,
        config=services.config,
        db=services.db,
        clock=clock,
        wake=wake or (lambda: None),
    )

    def count(request: Request, status: int) -> None:
        source = getattr(request.state, "source", None)
        if source is not None:  # webhooks only
            services.metrics.webhook_requests.labels(source, str(status)).inc()

    @app.exception_handler(PayloadError)
    async def payload_error(request: Request, exc: PayloadError) -> JSONResponse:
        count(request, exc.status_code)
        body: dict[str, object] = {"error": str(exc)}
        if isinstance(exc, InvalidPayload):
            body["fields"] = [{"field": e.field, "message": e.message} for e in exc.errors]
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Query and path parameters in sevbot's error shape: the parameter's name, not ["query", "offset"].
        fields = [
            {"field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]), "message": err["msg"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return JSONResponse({"error": f"invalid request: {summary}", "fields": fields}, status_code=422)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        count(request, 503)
        headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"error": str(exc)}, status_code=503, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database is down, locked past every retry, or every pooled connection is busy.
        cause = getattr(exc, "orig", None) or exc
        log.error("storage unavailable", extra={"error": type(cause).__name__})
        count(request, 503)
        return JSONResponse(
            {"error": "storage unavailable, nothing was written; retry"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DataError)
    async def refused_value(request: Request, exc: DataError) -> JSONResponse:
        # A value of the request the database cannot take (validation should have caught it first).
        log.warning("database refused a request value", extra={"path": request.url.path})
        count(request, 422)
        return JSONResponse({"error": "the database refused a value of this request"}, status_code=422)

    @app.exception_handler(ClientDisconnected)
    async def client_gone(request: Request, exc: ClientDisconnected) -> JSONResponse:
        log.info("client disconnected before its body arrived", extra={"path": request.url.path})
        count(request, 499)  # nginx's word for it; nobody receives this answer
        return JSONResponse({"error": str(exc)}, status_code=400)

    # A connection the database dropped (it restarted): 503 as for any unavailable database, never 500.
    @app.exception_handler(DBAPIError)
    async def storage_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await storage_unavailable(request, exc)
        raise exc

    return app


def app_from_environment() -> FastAPI:
    """The app of one ``sevbot serve --workers N`` process, from the environment (``SEVBOT_*``)."""
    from bot.settings import load_settings

    return create_app(load_settings())
