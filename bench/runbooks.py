"""Runbook retrieval on real data: for each rule in ../shared/data that links a runbook, search the library
by the alert's name and summary (its runbook URL removed) and report how often the linked runbook is first
(recall@1) and in the top three (recall@3), and how long a search takes.

    .venv/bin/python bench/runbooks.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from bot.llm.grounding import MIN_RELEVANCE
from bot.llm.runbooks import RunbookLibrary

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_URL = re.compile(r"https?://\S+")


def load(data: Path) -> tuple[RunbookLibrary, list[tuple[str, str]]]:
    """The library (one document per runbook, named source:path) and (query, expected document) pairs."""
    documents = []
    for line in (data / "runbooks.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        documents.append((record["runbook_id"], record["text"]))
    cases = []
    seen = set()
    for line in (data / "alert_rules.jsonl").read_text(encoding="utf-8").splitlines():
        rule = json.loads(line)
        if not rule.get("runbook_ref"):
            continue
        query = _URL.sub(" ", f"{rule['alertname']} {rule.get('summary') or ''}")
        if (query, rule["runbook_ref"]) in seen:
            continue
        seen.add((query, rule["runbook_ref"]))
        cases.append((query, rule["runbook_ref"]))
    return RunbookLibrary(documents), cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not (args.data / "runbooks.jsonl").exists():
        print(f"skipped: no real data at {args.data}")
        return 0
    started = time.perf_counter()
    library, cases = load(args.data)
    build = time.perf_counter() - started
    first = top3 = strict = 0
    timings = []
    for query, expected in cases:
        t0 = time.perf_counter()
        hits = library.search_documents(query, limit=3)
        timings.append(time.perf_counter() - t0)
        files = [hit.section.file for hit in hits]
        first += bool(files) and files[0] == expected
        top3 += expected in files
        strict += expected in [h.section.file for h in hits if h.relevance >= MIN_RELEVANCE]
    timings.sort()
    n = len(cases)
    print(f"library: {len(library)} sections, built in {build * 1000:.0f} ms")
    print(f"rules linking a runbook (distinct queries): {n}")
    print(f"recall@1: {first / n:.3f} ({first}/{n})")
    print(f"recall@3: {top3 / n:.3f} ({top3}/{n})")
    print(f"recall@3, only matches a draft would cite (relevance >= {MIN_RELEVANCE}): {strict / n:.3f}")
    print(
        f"search time: median {statistics.median(timings) * 1e3:.2f} ms, "
        f"p99 {timings[int(0.99 * (n - 1))] * 1e3:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
