"""The ``sevbot`` command line: one module per command group, each with its ``register(sub)``.

``serve``/``worker``/``db`` (bot.cli.serve), ``replay`` (bot.cli.replay), ``incidents`` (bot.cli.incidents),
``outbox`` (bot.cli.outbox), ``model`` (bot.cli.model) and ``report`` (bot.cli.report).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.cli import incidents, model, outbox, replay, report, serve
from bot.cli.replay import read_replay
from bot.errors import ConfigError
from bot.logs import configure_logging
from bot.settings import load_settings

__all__ = ["main", "read_replay"]

log = logging.getLogger("sevbot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format)
        code: int = args.handler(args, settings)
        return code
    except ConfigError as exc:
        print(f"sevbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # SEVBOT_DATABASE_URL unreadable, its driver missing, its server down
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        print(f"sevbot: cannot use the database of SEVBOT_DATABASE_URL: {cause}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sevbot", description="Self-hosted Slack incident bot.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (serve, replay, incidents, outbox, model, report):
        group.register(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
