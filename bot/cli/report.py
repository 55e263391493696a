"""``sevbot report``: MTTA, MTTR, compression, the noisiest rules and model agreement over a period."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings


def register(sub: Any) -> None:
    report = sub.add_parser("report", help="MTTA, MTTR, compression, noisy rules and model agreement")
    report.add_argument("--since", default="7d", help="how far back from now (default 7d)")
    report.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    report.add_argument("--out", type=Path, help="also write the PNG charts into this directory")
    report.set_defaults(handler=cmd_report)


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
