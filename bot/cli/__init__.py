"""The ``sevbot`` command line: serve, worker, db upgrade, replay, incidents list|show, report."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli import model as model_commands
from bot.errors import ConfigError, PayloadError
from bot.settings import SOURCES, Settings, load_settings

if TYPE_CHECKING:
    from bot.incidents.replay import ActionRecord

log = logging.getLogger("sevbot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        code: int = args.handler(args, settings)
        return code
    except ConfigError as exc:
        print(f"sevbot: configuration error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sevbot", description="Self-hosted Slack incident bot.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service (upgrades the database first)")
    serve.add_argument("--host", help="address to listen on (default SEVBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SEVBOT_PORT or 8080)")
    serve.add_argument(
        "--workers", type=int, help="web processes sharing the port (default SEVBOT_WORKERS or 1)"
    )
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser("worker", help="deliver outbox messages (run beside `serve` to scale out)")
    worker.set_defaults(handler=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply all migrations").set_defaults(handler=cmd_db_upgrade)

    replay = sub.add_parser("replay", help="feed a JSON-lines file of {source, payload} through ingestion")
    replay.add_argument("file", type=Path)
    replay.set_defaults(handler=cmd_replay)

    incidents = sub.add_parser("incidents", help="look at incidents")
    inc_sub = incidents.add_subparsers(dest="incidents_command", required=True)
    listing = inc_sub.add_parser("list", help="newest incidents first")
    listing.add_argument("--status", choices=["open", "acknowledged", "resolved"])
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(handler=cmd_incidents_list)
    show = inc_sub.add_parser("show", help="one incident with its alerts and timeline")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print the same JSON as GET /api/incidents/ID")
    show.set_defaults(handler=cmd_incidents_show)
    model_commands.register(sub, inc_sub)  # `incidents why` and the `model` group

    report = sub.add_parser("report", help="MTTA, MTTR, compression, noisy rules and model agreement")
    report.add_argument("--since", default="7d", help="how far back from now (default 7d)")
    report.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    report.add_argument("--out", type=Path, help="also write the PNG charts into this directory")
    report.set_defaults(handler=cmd_report)
    return parser


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
        app = create_app(settings)
        print(f"sevbot: serving on {where}", file=sys.stderr)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return 0
    # Several processes: migrate and warm the model cache once here, then each process builds its own app
    # from the same environment. They share the database exactly as replicas behind a load balancer do.
    from bot.bootstrap import build_services

    build_services(settings).close()
    print(f"sevbot: serving on {where} with {workers} processes", file=sys.stderr)
    uvicorn.run(
        "bot.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services, outbox_sinks
    from bot.outbox.worker import OutboxWorker

    services = build_services(settings)
    worker = OutboxWorker(
        db=services.db,
        sink=outbox_sinks(services),
        metrics=services.metrics,
        poll_seconds=settings.outbox_poll_seconds,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await worker.run(stop)

    asyncio.run(run())
    services.close()
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import create_database
    from storage.migrate import current_revision, upgrade

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = create_database(settings.resolved_database_url)
    upgrade(db.engine)
    print(f"database {_safe_url(settings)} is at revision {current_revision(db.engine)}")
    db.dispose()
    return 0


@dataclass(frozen=True, slots=True)
class ReplayLine:
    number: int
    source: str
    body: bytes
    action: ActionRecord | None = None


def read_replay(path: Path) -> tuple[list[ReplayLine], list[str]]:
    """Every line of a replay file, and a message for each line that is not ``{source, payload}``
    or a valid action record (``{"source": "action", …}``, see ``bot.incidents.replay``)."""
    from bot.incidents.replay import ACTION_SOURCE, parse_action

    lines: list[ReplayLine] = []
    errors: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError as exc:
                errors.append(f"line {number}: not JSON ({exc})")
                continue
            if isinstance(entry, dict) and entry.get("source") == ACTION_SOURCE:
                try:
                    lines.append(ReplayLine(number, ACTION_SOURCE, b"", action=parse_action(entry)))
                except PayloadError as exc:
                    errors.append(f"line {number}: action: {exc}")
                continue
            if not isinstance(entry, dict) or entry.get("source") not in SOURCES or "payload" not in entry:
                errors.append(
                    f'line {number}: needs "source" (one of {", ".join(SOURCES)}) and "payload", '
                    f'or "source": "{ACTION_SOURCE}"'
                )
                continue
            lines.append(ReplayLine(number, entry["source"], json.dumps(entry["payload"]).encode()))
    return lines, errors


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from bot.errors import NoMatchingIncident
    from bot.incidents.replay import apply_action
    from bot.normalize import Batch, normalize

    try:
        lines, errors = read_replay(args.file)
    except OSError as exc:
        print(f"sevbot: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    services = build_services(settings)
    steps: list[tuple[int, Batch | ActionRecord]] = []
    for line in lines:
        if line.action is not None:
            steps.append((line.number, line.action))
            continue
        try:
            steps.append((line.number, normalize(line.source, line.body, services.config.grouping.by)))
        except PayloadError as exc:
            errors.append(f"line {line.number}: {exc}")
    if errors:
        for message in errors[:50]:
            print(f"sevbot: {args.file}: {message}", file=sys.stderr)
        print(f"sevbot: {len(errors)} bad line(s); nothing was replayed", file=sys.stderr)
        services.close()
        return 1
    accepted = duplicates = payloads = applied = 0
    opened: set[int] = set()
    unmatched: list[str] = []
    for number, step in steps:
        if isinstance(step, Batch):
            result = services.ingestor.ingest(step)
            payloads += 1
            accepted += result.accepted
            duplicates += result.duplicates
            opened.update(result.opened)
            continue
        try:
            applied += apply_action(services.db, step, now=services.ingestor.clock).changed
        except NoMatchingIncident as exc:
            unmatched.append(f"line {number}: {exc}")
    services.close()
    actions = len(steps) - payloads
    print(
        f"replayed {payloads} payload(s): {accepted} alert(s) accepted, {duplicates} duplicate(s), "
        f"{len(opened)} incident(s) opened"
        + (f"; {actions} action(s), {applied} changed an incident" if actions else "")
    )
    for message in unmatched[:50]:
        print(f"sevbot: {args.file}: {message}; skipped", file=sys.stderr)
    return 1 if unmatched else 0


def cmd_incidents_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from storage.incident_reads import IncidentFilter, IncidentReads

    services = build_services(settings)
    with services.db.read() as conn:
        items, total = IncidentReads(conn).search(
            IncidentFilter(status=args.status), limit=args.limit, offset=0
        )
    services.close()
    print(f"{'ID':>6}  {'SEV':4}  {'STATUS':12}  {'ALERTS':>6}  {'OPENED (UTC)':16}  {'SERVICE':16}  TITLE")
    for i in items:
        print(
            f"{i.id:>6}  {i.severity:4}  {i.status:12}  {i.alert_count:>6}  {i.opened_at:%Y-%m-%d %H:%M}  "
            f"{(i.service or '-')[:16]:16}  {i.title[:60]}"
        )
    print(f"({len(items)} of {total})")
    return 0


def cmd_incidents_show(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.explain import signed
    from bot.bootstrap import build_services
    from bot.http.api import alert_json, event_json, incident_json
    from storage.incident_reads import IncidentReads

    services = build_services(settings)
    with services.db.read() as conn:
        repo = IncidentReads(conn)
        incident = repo.get(args.id)
        alerts = repo.alerts_of(args.id) if incident else []
        timeline = repo.timeline_of(args.id) if incident else []
    services.close()
    if incident is None:
        print(f"sevbot: no incident {args.id}", file=sys.stderr)
        return 1
    doc: dict[str, Any] = {
        "incident": incident_json(incident),
        "alerts": [alert_json(a) for a in alerts],
        "timeline": [event_json(e) for e in timeline],
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    inc = doc["incident"]
    print(f"Incident #{inc['id']}: {inc['title']}")
    print(
        f"  {inc['severity']['level']} ({inc['severity']['source']}, "
        f"confidence {inc['severity']['confidence']:.2f})"
        f" · {inc['status']} · service {inc['service'] or '-'} · {inc['alert_count']} alert(s)"
        f"{' · FLAPPING' if inc['flapping'] else ''}"
    )
    print(
        f"  opened {inc['opened_at']}" + (f" · resolved {inc['resolved_at']}" if inc["resolved_at"] else "")
    )
    for reason in inc["severity"]["explanation"]:
        print(f"  why: {reason['text']} {signed(reason['weight'])}")
    print("Alerts:")
    for a in doc["alerts"]:
        print(
            f"  [{a['status']}] {a['alertname']} {a['severity']['level']} since {a['starts_at']}"
            f"{' (+' + str(a['duplicates']) + ' duplicates)' if a['duplicates'] else ''}"
        )
    print("Timeline:")
    for e in doc["timeline"]:
        print(f"  {e['at']}  {e['kind']}")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import utcnow
    from bot.reporting import build_report, write_charts
    from bot.settings import parse_duration
    from storage.db import create_database
    from storage.migrate import is_current, upgrade

    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        print(f"sevbot: --since: {exc}", file=sys.stderr)
        return 2
    if since.total_seconds() <= 0:
        print("sevbot: --since: must be a positive duration such as 7d", file=sys.stderr)
        return 2
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = create_database(settings.resolved_database_url)  # reports need the database only, no scorer
    try:
        if not is_current(db.engine):
            upgrade(db.engine)
        report = build_report(db, since=since, now=utcnow())
    finally:
        db.dispose()
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.as_markdown() if args.format == "markdown" else report.as_text())
    if args.out is not None:
        for path in write_charts(report, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
