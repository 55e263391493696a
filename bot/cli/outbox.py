"""``sevbot outbox status|retry``: what the outbox holds, and sending parked or backing-off rows again now."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.settings import Settings


def register(sub: Any) -> None:
    outbox = sub.add_parser("outbox", help="the queue of Slack messages and drafts")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    status = outbox_sub.add_parser("status", help="rows by status, and why rows are parked")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=cmd_outbox_status)
    retry = outbox_sub.add_parser(
        "retry", help="make rows that are backing off due now; --parked also queues parked rows again"
    )
    retry.add_argument(
        "--parked",
        action="store_true",
        help="queue parked rows again (after fixing what parked them: the token, the channel invite …)",
    )
    retry.set_defaults(handler=cmd_outbox_retry)


def _open(settings: Settings) -> Any:
    from bot.bootstrap import open_database
    from storage.migrate import upgrade

    db = open_database(settings)
    upgrade(db.engine)
    return db


def cmd_outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    from storage.outbox import OutboxRepository

    db = _open(settings)
    try:
        with db.read() as conn:
            outbox = OutboxRepository(conn)
            counts, parked = outbox.count_by_status(), outbox.parked_reasons()
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"by_status": counts, "parked_reasons": parked}, sort_keys=True))
        return 0
    print(" · ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "the outbox is empty")
    for reason, n in sorted(parked.items()):
        print(f"parked: {n} row(s) on {reason}")
    if parked:
        print("fix the cause, then run `sevbot outbox retry --parked`")
    return 0


def cmd_outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import utcnow
    from storage.outbox import OutboxRepository

    db = _open(settings)
    try:
        with db.write() as conn:
            counts = OutboxRepository(conn).retry_now(now=utcnow(), parked=args.parked)
    finally:
        db.dispose()
    parked = f"; {counts.unparked} parked row(s) queued again" if args.parked else ""
    print(f"{counts.due_now} row(s) due now{parked}")
    return 0
