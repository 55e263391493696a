"""``sevbot replay FILE``: JSON lines of webhook payloads and people's actions through the same pipeline.

Every line is checked first; if any line is bad, nothing is replayed and each bad line is named.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import PayloadError
from bot.settings import SOURCES, Settings

if TYPE_CHECKING:
    from bot.incidents.replay import ActionRecord


def register(sub: Any) -> None:
    replay = sub.add_parser("replay", help="feed a JSON-lines file of {source, payload} through ingestion")
    replay.add_argument("file", type=Path)
    replay.set_defaults(handler=cmd_replay)


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
