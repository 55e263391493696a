"""``sevbot serve``, ``worker``, ``db upgrade`` and ``db prune``: run the service, deliver the outbox,
migrate, and delete old incidents on an operator's request."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cli.args import whole_number
from bot.settings import Settings


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the web service (upgrades the database first)")
    serve.add_argument("--host", help="address to listen on (default SEVBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=whole_number(0, 65535), help="port (default SEVBOT_PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=whole_number(1, 64),
        help="web processes sharing the port (default SEVBOT_WORKERS or 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser("worker", help="deliver outbox messages (run beside `serve` to scale out)")
    worker.add_argument(
        "--metrics-port",
        type=whole_number(0, 65535),
        help="serve this worker's Prometheus metrics on 127.0.0.1:PORT",
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port")
    worker.add_argument(
        "--wake-fd",
        type=int,
        help=argparse.SUPPRESS,  # `serve`'s pipe to its worker child (bot.outbox.child)
    )
    worker.add_argument(
        "--nice",
        type=whole_number(0, 19),
        default=0,
        help="lower this worker's CPU priority by N (os.nice; serve's own worker child runs at 10)",
    )
    worker.set_defaults(handler=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply all migrations").set_defaults(handler=cmd_db_upgrade)
    prune = db_sub.add_parser(
        "prune",
        help="delete incidents resolved before DATE, with their alerts, timeline, feedback and drafts",
    )
    prune.add_argument("--before", required=True, help="a date (2026-01-31) or time (ISO 8601, UTC if bare)")
    prune.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    prune.set_defaults(handler=cmd_db_prune)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import create_app

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    open_sources = settings.unauthenticated_sources()
    if open_sources and not is_loopback(host) and not settings.allow_unauthenticated:
        print(
            f"sevbot: refusing to listen on {host} with no webhook token for {', '.join(open_sources)}: "
            "set SEVBOT_WEBHOOK_TOKEN (or SEVBOT_WEBHOOK_TOKEN_<SOURCE>), listen on 127.0.0.1, "
            "or set SEVBOT_ALLOW_UNAUTHENTICATED=true to accept anyone's alerts.",
            file=sys.stderr,
        )
        return 2
    workers = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        print("sevbot: --workers must be at least 1", file=sys.stderr)
        return 2
    where = f"http://{host}:{port} (database {_safe_url(settings)})"
    if workers == 1:
        child = None
        if settings.worker_in_process and settings.worker_process:
            from bot.outbox.child import WorkerChild

            child = WorkerChild()
            settings = settings.model_copy(update={"worker_in_process": False})
        app = create_app(settings, worker_child=child)
        config = _uvicorn_config(app, settings, host=host, port=port)
        print(f"sevbot: serving on {where}", file=sys.stderr)
        server = uvicorn.Server(config)
        try:
            server.run()
        except KeyboardInterrupt:  # Ctrl-C: uvicorn shut down cleanly, then re-raised the signal
            print("sevbot: stopped", file=sys.stderr)
            return 130
        return 0 if server.started else 1
    # Several processes: migrate and warm the model cache once here, then each process builds its own app
    # from the same environment. They share the database exactly as replicas behind a load balancer do.
    from uvicorn.supervisors import Multiprocess

    from bot.bootstrap import build_services

    build_services(settings).close()
    config = _uvicorn_config(
        "bot.app:app_from_environment", settings, host=host, port=port, factory=True, workers=workers
    )
    print(f"sevbot: serving on {where} with {workers} processes", file=sys.stderr)
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    except KeyboardInterrupt:
        print("sevbot: stopped", file=sys.stderr)
        return 130
    return 0


def _uvicorn_config(app: Any, settings: Settings, *, host: str, port: int, **options: Any) -> Any:
    """uvicorn's settings against slow or greedy clients (README, "HTTP API"): at most
    ``limit_concurrency`` connections and tasks at once (the next one gets a 503), request headers within
    ``header_timeout_seconds`` (a 408), idle keep-alive connections closed after 5 s."""
    import uvicorn

    from bot.http.protocol import HeaderTimeoutProtocol

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=HeaderTimeoutProtocol,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=5,
        log_config=_uvicorn_logs(settings),
        **options,
    )
    config.header_timeout = settings.header_timeout_seconds  # type: ignore[attr-defined]  # our own option
    return config


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import start_http_server

    from bot.bootstrap import build_services, build_ticker, outbox_sinks, settle_heap
    from bot.clock import utcnow
    from bot.outbox.child import ParentPipe, keep_checkpointed
    from bot.outbox.retention import keep_pruned
    from bot.outbox.worker import WORKER_THREADS, OutboxWorker, limit_threads

    if args.nice:
        os.nice(args.nice)
    services = build_services(settings)
    worker = OutboxWorker(
        db=services.db,
        sink=outbox_sinks(services),
        metrics=services.metrics,
        poll_seconds=settings.outbox_poll_seconds,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
    )
    ticker = build_ticker(services, wake=worker.wake)
    parent = ParentPipe(args.wake_fd, worker) if args.wake_fd is not None else None  # serve's child
    if args.metrics_port is not None:
        try:
            start_http_server(args.metrics_port, addr=args.metrics_host, registry=services.metrics.registry)
        except OSError as exc:  # taken, or not an address of this machine
            print(
                f"sevbot: cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}",
                file=sys.stderr,
            )
            services.close()
            return 2

    async def run() -> None:
        limit_threads(WORKER_THREADS)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        checkpoints = None
        if parent is not None:
            parent.listen(loop, stop)
            checkpoints = asyncio.create_task(keep_checkpointed(services.db, stop))
        retention = asyncio.create_task(
            keep_pruned(
                services.db, days=settings.retention_days, stop=stop, clock=utcnow, metrics=services.metrics
            )
        )
        ticking = asyncio.create_task(ticker.run(stop, interval=settings.tick_seconds))
        settle_heap()
        await worker.run(stop)
        await retention
        await ticking
        if checkpoints is not None:
            await checkpoints

    asyncio.run(run())
    services.close()
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import open_database
    from storage.migrate import current_revision, upgrade

    db = open_database(settings)
    upgrade(db.engine)
    print(f"database {_safe_url(settings)} is at revision {current_revision(db.engine)}")
    db.dispose()
    return 0


def _uvicorn_logs(settings: Settings) -> dict[str, Any] | None:
    """With JSON logs uvicorn's own loggers go through sevbot's (None: uvicorn configures nothing)."""
    if settings.log_format == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG


def parse_before(value: str) -> datetime:
    """``2026-01-31`` (midnight UTC) or an ISO 8601 time (UTC when it names no zone)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def cmd_db_prune(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import open_database
    from bot.clock import utcnow
    from bot.outbox.retention import prune_once
    from storage.migrate import upgrade
    from storage.retention import IncidentPrune, count_prunable, prune_incidents

    try:
        before = parse_before(args.before)
    except ValueError:
        print(f"sevbot: --before: {args.before!r} is not a date such as 2026-01-31", file=sys.stderr)
        return 2
    if before > utcnow():
        print("sevbot: --before: must not be in the future", file=sys.stderr)
        return 2
    db = open_database(settings)
    try:
        upgrade(db.engine)
        if args.dry_run:
            with db.read() as conn:
                total = count_prunable(conn, before=before)
        else:
            total = IncidentPrune()
            while True:  # one transaction per batch: SQLite's writers are never held up for long
                with db.write() as conn:
                    step = prune_incidents(conn, before=before)
                if not step.incidents:
                    break
                total += step
            prune_once(db, days=settings.retention_days, now=utcnow())
    finally:
        db.dispose()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {total.incidents} incident(s) resolved before {before.isoformat()}: "
        f"{total.alerts} alert(s), "
        f"{total.timeline_events} timeline event(s), {total.feedback} feedback rating(s), "
        f"{total.drafts} draft(s), {total.outbox_rows} outbox row(s)"
    )
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
