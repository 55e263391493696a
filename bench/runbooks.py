"""Runbook retrieval measured on real data, today's ranking beside the new one in the same run (a bench: reads
files, prints figures).

For each rule that links a runbook (``runbook_ref``), the library is searched with what the alert says about
itself, its runbook link withheld, and we count how often the linked runbook is the first document (recall@1),
in the first three (recall@3), and in the first three AND good enough for a draft to cite (citeable@3: its
relevance is at least ``MIN_RELEVANCE``, the threshold the grounding applies; the same definition as before,
applied to each ranking's own relevance: the baseline's is its BM25 score over a full match of "alertname
summary", 1.0 for a runbook named after a word of it; the new one's is 1.0 for a linked, named or service
document, else the same share over the alert's name, service labels and summary). Search time is per rule,
both rankings timed on the same rule one after the other. ``--json`` prints the new ranking's figures at the
top level, the baseline's under ``baseline`` and new/baseline time under ``ratio_new_over_baseline``.

- baseline: the ranking as of commit 574b88e (BM25 over one field, the query "alertname summary"), kept
  below verbatim so it can be called beside the new one;
- new: ``RunbookLibrary.suggest`` with every field of the alert (name, service labels and PromQL matchers,
  summary, description, metrics) and of the runbook (path, title, headings, text).

Cases (rules deduplicated by the baseline's query and the linked runbook, as before):

- ``shared``: ../shared/data as it is;
- ``service-level``: built from it into a temporary folder at run time (never committed): one general
  document per component, ``docs/<component>/README.md``, holding its runbooks' sections with every alert
  name removed, the component's helper documents as ``docs/<component>/<topic>.md``, and the rules that link
  any runbook of the component, now linking its README;
- ``service-level, alerts unseen``: the same with half of each component's runbooks left out of its README
  and only the rules linking those kept, so no section was written for the alerts measured;
- ``2,500 sections``: the shared library padded with copies of its documents to 2,500 sections, for time.

    .venv/bin/python bench/runbooks.py                     # every case
    .venv/bin/python bench/runbooks.py --data DIR --json   # a folder with runbooks.jsonl, alert_rules.jsonl
    .venv/bin/python bench/runbooks.py --write-service-level DIR   # keep the generated cases
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bot.llm.grounding import MIN_RELEVANCE
from bot.llm.runbook_query import AlertQuery
from bot.llm.runbook_text import Section, split_sections
from bot.llm.runbooks import RunbookLibrary

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCALE_SECTIONS = 2500
_URL = re.compile(r"https?://\S+")
_PATHLIKE = re.compile(r"\S*/\S*")  # a path in free text ("see docs/x/README.md") could name the runbook
_RUNBOOK_LABELS = ("runbook", "runbook_url", "playbook", "runbook_link")


# --- the baseline: bot/llm/runbooks.py's ranking as of 574b88e, unchanged -----------------------------

_B_WORD = re.compile(r"[A-Za-z0-9]+")
_B_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_B_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "when",
        "which",
        "than",
        "then",
        "there",
        "these",
        "those",
        "not",
        "no",
        "can",
        "may",
        "been",
        "into",
        "per",
    ]
)
_B_NAME_BONUS = 10.0


def _b_tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in _B_WORD.findall(text):
        lower = word.lower()
        parts = [p.lower() for p in _B_CAMEL.findall(word)]
        if lower not in _B_STOP:
            out.append(lower)
        if len(parts) > 1:
            out.extend(p for p in parts if p not in _B_STOP and len(p) > 1)
    return out


def _b_name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True, slots=True)
class BaselineHit:
    section: Section
    score: float
    relevance: float


class BaselineLibrary:
    """BM25 (k1=1.2, b=0.75) over sections; a section's document title and file name are part of it."""

    def __init__(self, documents: Iterable[tuple[str, str]]) -> None:
        self.sections: list[Section] = []
        for file, markdown in documents:
            self.sections.extend(split_sections(file, markdown))
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths: list[int] = []
        for index, section in enumerate(self.sections):
            words = _b_tokens(section.text) + 3 * _b_tokens(f"{section.title} {Path(section.file).stem}")
            words += 2 * _b_tokens(section.heading)
            self._lengths.append(len(words))
            for word, count in Counter(words).items():
                self._postings[word].append((index, count))
        self._average = sum(self._lengths) / len(self._lengths) if self._lengths else 0.0
        self._named: dict[str, set[int]] = defaultdict(set)
        for index, section in enumerate(self.sections):
            for name in (section.title, Path(section.file.split("#")[0]).stem):
                key = _b_name_key(name)
                if len(key) >= 6:
                    self._named[key].add(index)

    def search(self, query: str, *, limit: int = 5, min_relevance: float = 0.0) -> list[BaselineHit]:
        scores: dict[int, float] = defaultdict(float)
        total = len(self.sections)
        ideal = 0.0
        for word in set(_b_tokens(query)):
            postings = self._postings.get(word, [])
            idf = math.log(1 + (total - len(postings) + 0.5) / (len(postings) + 0.5))
            ideal += idf
            for index, count in postings:
                norm = 1.2 * (0.25 + 0.75 * self._lengths[index] / self._average)
                scores[index] += idf * count * 2.2 / (count + norm)
        named: set[int] = set()
        for word in {_b_name_key(word) for word in _B_WORD.findall(query)}:
            named.update(self._named.get(word, ()))
        hits = []
        for index, score in scores.items():
            relevance = 1.0 if index in named else min(1.0, score / ideal) if ideal else 0.0
            total_score = score + (_B_NAME_BONUS if index in named else 0.0)
            if relevance >= min_relevance:
                hits.append(BaselineHit(self.sections[index], total_score, relevance))
        hits.sort(key=lambda hit: -hit.score)
        return hits[:limit]

    def search_documents(self, query: str, *, limit: int = 3) -> list[BaselineHit]:
        best: dict[str, BaselineHit] = {}
        for hit in self.search(query, limit=limit * 20):
            best.setdefault(hit.section.file, hit)
            if len(best) == limit:
                break
        return list(best.values())


# --- cases ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    baseline_query: str  # "alertname summary", URLs removed: what the baseline searched by
    alert: AlertQuery  # everything the rule says, its runbook link withheld
    runbook_url: str  # the withheld link, for the link-resolution count
    expected: str


@dataclass(frozen=True, slots=True)
class Figures:
    recall_at_1: float
    recall_at_3: float
    citeable_at_3: float
    search_p50_ms: float
    search_p99_ms: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "recall_at_1": round(self.recall_at_1, 3),
            "recall_at_3": round(self.recall_at_3, 3),
            "citeable_at_3": round(self.citeable_at_3, 3),
            "search_p50_ms": round(self.search_p50_ms, 3),
            "search_p99_ms": round(self.search_p99_ms, 3),
            "n": self.n,
        }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def documents_of(data: Path) -> list[tuple[str, str]]:
    return [(r["runbook_id"], r["text"]) for r in read_jsonl(data / "runbooks.jsonl")]


def _free_text(text: str | None) -> str:
    return _PATHLIKE.sub(" ", _URL.sub(" ", text or ""))


def cases_of(data: Path) -> list[Case]:
    cases = []
    seen = set()
    for rule in read_jsonl(data / "alert_rules.jsonl"):
        if not rule.get("runbook_ref"):
            continue
        query = _URL.sub(" ", f"{rule['alertname']} {rule.get('summary') or ''}")
        if (query, rule["runbook_ref"]) in seen:
            continue
        seen.add((query, rule["runbook_ref"]))
        labels = {
            str(k): str(v)
            for k, v in (rule.get("labels") or {}).items()
            if k not in _RUNBOOK_LABELS and not _URL.search(str(v))
        }
        annotations = rule.get("annotations") or {}
        # What the bot reads as the summary: the summary annotation, else title, else message (records.py).
        summary = rule.get("summary") or annotations.get("title") or annotations.get("message") or ""
        alert = AlertQuery(
            alertname=rule["alertname"],
            summary=_free_text(str(summary)),
            description=_free_text(rule.get("description")),
            labels=labels,
            expression=rule.get("expr") or None,
        )
        cases.append(Case(query, alert, rule.get("runbook_url") or "", rule["runbook_ref"]))
    return cases


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def measure(documents: list[tuple[str, str]], cases: list[Case]) -> tuple[Figures, Figures, dict[str, int]]:
    """(baseline, new, link counts) on the same cases, each search timed beside the other's."""
    old, new = BaselineLibrary(documents), RunbookLibrary(documents)
    for case in cases[:20]:  # warm both (caches, branch predictors) before timing
        old.search_documents(case.baseline_query, limit=3)
        new.suggest(case.alert, limit=3)
    counts = dict.fromkeys(("old1", "old3", "oldc", "new1", "new3", "newc"), 0)
    links = {"with_url": 0, "resolved_to_expected": 0, "resolved_elsewhere": 0}
    old_times, new_times = [], []
    for case in cases:
        t0 = time.perf_counter()
        old_hits = old.search_documents(case.baseline_query, limit=3)
        t1 = time.perf_counter()
        new_hits = new.suggest(case.alert, limit=3)
        t2 = time.perf_counter()
        old_times.append(t1 - t0)
        new_times.append(t2 - t1)
        old_files = [h.section.file for h in old_hits]
        counts["old1"] += old_files[:1] == [case.expected]
        counts["old3"] += case.expected in old_files
        counts["oldc"] += case.expected in [h.section.file for h in old_hits if h.relevance >= MIN_RELEVANCE]
        new_files = [s.file for s in new_hits]
        counts["new1"] += new_files[:1] == [case.expected]
        counts["new3"] += case.expected in new_files
        counts["newc"] += case.expected in [s.file for s in new_hits if s.relevance >= MIN_RELEVANCE]
        if case.runbook_url:
            links["with_url"] += 1
            linked = new.resolve(case.runbook_url)
            if linked is not None:
                links["resolved_to_expected" if linked.file == case.expected else "resolved_elsewhere"] += 1
    n = len(cases) or 1

    def figures(prefix: str, times: list[float]) -> Figures:
        return Figures(
            recall_at_1=counts[f"{prefix}1"] / n,
            recall_at_3=counts[f"{prefix}3"] / n,
            citeable_at_3=counts[f"{prefix}c"] / n,
            search_p50_ms=statistics.median(times) * 1e3 if times else 0.0,
            search_p99_ms=_percentile(times, 0.99) * 1e3 if times else 0.0,
            n=len(cases),
        )

    return figures("old", old_times), figures("new", new_times), links


def report(name: str, documents: list[tuple[str, str]], cases: list[Case]) -> dict[str, Any]:
    baseline, new, links = measure(documents, cases)
    sections = len(RunbookLibrary(documents))
    return {
        **new.as_dict(),
        "sections": sections,
        "documents": len(documents),
        "baseline": baseline.as_dict(),
        "ratio_new_over_baseline": {
            "search_p50": round(new.search_p50_ms / baseline.search_p50_ms, 2)
            if baseline.search_p50_ms
            else None,
            "search_p99": round(new.search_p99_ms / baseline.search_p99_ms, 2)
            if baseline.search_p99_ms
            else None,
        },
        "links": links,
        "case": name,
    }


def print_report(result: dict[str, Any]) -> None:
    base = result["baseline"]
    print(
        f"\n{result['case']}: {result['documents']} documents, {result['sections']} sections, n={result['n']}"
    )
    print(f"  {'':14} {'baseline':>9} {'new':>9}")
    for key in ("recall_at_1", "recall_at_3", "citeable_at_3", "search_p50_ms", "search_p99_ms"):
        print(f"  {key:14} {base[key]:>9.3f} {result[key]:>9.3f}")
    ratio = result["ratio_new_over_baseline"]
    print(f"  search time new/baseline: median ×{ratio['search_p50']}, p99 ×{ratio['search_p99']}")
    links = result["links"]
    if links["with_url"]:
        print(
            f"  runbook_url in the library: {links['resolved_to_expected']}/{links['with_url']} resolve to "
            f"the linked runbook, {links['resolved_elsewhere']} elsewhere"
        )


# --- the service-level case, built from the shared data ------------------------------------------------

# Sources that hold one product: their component is the product, not a folder named "runbooks" or "docs".
_PRODUCT_OF_SOURCE = {
    "kubevirt/monitoring": "kubevirt",
    "cloudnative-pg/charts": "cloudnative-pg",
    "cortexproject/cortex-jsonnet": "cortex",
}
_GENERIC_FOLDERS = frozenset({"runbooks", "docs", "alerts", "content", "playbooks", "helpers", "hierarchy"})


def component_of(record: dict[str, Any]) -> str:
    """The component a runbook belongs to: its source's product, else its nearest folder that names one."""
    if record["source"] in _PRODUCT_OF_SOURCE:
        return _PRODUCT_OF_SOURCE[record["source"]]
    folders = [
        p for p in PurePosixPath(record["path"].split("#")[0]).parent.parts if p not in _GENERIC_FOLDERS
    ]
    return folders[-1] if folders else record["source"].split("/")[-1]


def _scrub(text: str, names: Iterable[str]) -> str:
    for name in sorted({n for n in names if len(n) >= 4}, key=len, reverse=True):
        text = re.sub(re.escape(name), "this alert", text, flags=re.IGNORECASE)
    return text


def write_service_level(data: Path, out: Path, *, unseen: bool = False) -> None:
    """The service-level case in the shared data's format (see the module docstring).

    With ``unseen``, half of each component's runbooks (by a hash of their id, keeping at least one) are left
    out of its README, and only the rules linking those are kept: their README holds nothing written for
    their alert, only what the component's other runbooks say.
    """
    records = read_jsonl(data / "runbooks.jsonl")
    by_id = {r["runbook_id"]: r for r in records}
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    topics: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: r["runbook_id"]):
        if record["alertname"] or record["linked_alertnames"]:
            members[component_of(record)].append(record)
        elif record["text"].strip():
            stem = PurePosixPath(record["path"]).stem
            topics.append({**record, "path": f"docs/{component_of(record)}/{stem}.md"})
    held_out: set[str] = set()
    if unseen:
        for runbooks in members.values():
            out_here = [r["runbook_id"] for r in runbooks if zlib.crc32(r["runbook_id"].encode()) % 2]
            held_out.update(out_here[: len(runbooks) - 1])
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "runbooks.jsonl", "w", encoding="utf-8") as handle:
        for component, runbooks in sorted(members.items()):
            path = f"docs/{component}/README.md"
            bodies = [_scrubbed_body(r) for r in runbooks if r["runbook_id"] not in held_out]
            text = f"# {component}\n\n" + "\n".join(bodies)
            handle.write(json.dumps(_service_record(path, component, text)) + "\n")
        for topic in topics:
            handle.write(json.dumps(_service_record(topic["path"], topic["title"], topic["text"])) + "\n")
    with open(out / "alert_rules.jsonl", "w", encoding="utf-8") as handle:
        for rule in read_jsonl(data / "alert_rules.jsonl"):
            ref = by_id.get(rule.get("runbook_ref") or "")
            if ref is None or (unseen and ref["runbook_id"] not in held_out):
                continue
            path = f"docs/{component_of(ref)}/README.md"
            link = f"https://runbooks.example/{path}"
            annotations = {**rule.get("annotations", {}), "runbook_url": link}
            changed = {"runbook_url": link, "annotations": annotations, "runbook_ref": path}
            handle.write(json.dumps(rule | changed | {"runbook_ref_via": "component"}) + "\n")


def _scrubbed_body(record: dict[str, Any]) -> str:
    """A runbook's sections as part of its component's README, every spelling of its alert's name removed."""
    names = [record["alertname"], *record["linked_alertnames"], PurePosixPath(record["path"]).stem]
    if record["title"] and " " not in record["title"].strip():
        names.append(record["title"].strip())
    return "\n".join(
        f"#{'#' * min(5, s.heading.count(' › ') + 1)} {_scrub(s.heading, names)}\n\n{_scrub(s.text, names)}\n"
        for s in split_sections(record["runbook_id"], record["text"])
        if s.heading and s.heading != s.title
    )


def _service_record(path: str, title: str, text: str) -> dict[str, Any]:
    return {
        "source": "sevbot-bench/service-level",
        "path": path,
        "license": "Apache-2.0",
        "alertname": "",
        "title": title,
        "text": text,
        "url": "",
        "kind": "service" if path.endswith("README.md") else "topic",
        "runbook_id": path,
        "linked_alertnames": [],
    }


def padded(documents: list[tuple[str, str]], sections: int) -> list[tuple[str, str]]:
    """The library with copies of its documents (under ``copy-N/``) until it holds ``sections`` sections."""
    out = list(documents)
    count = sum(len(split_sections(f, t)) for f, t in out)
    copy = 0
    while count < sections and documents:
        copy += 1
        for file, text in documents:
            if count >= sections:
                break
            out.append((f"copy-{copy}/{file}", text))
            count += len(split_sections(file, text))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="one folder holding runbooks.jsonl and alert_rules.jsonl")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--write-service-level", type=Path, metavar="DIR", help="write the generated case")
    args = parser.parse_args()
    if args.data is not None:
        if not (args.data / "runbooks.jsonl").exists():
            print(f"no runbooks.jsonl in {args.data}", file=sys.stderr)
            return 2
        result = report(str(args.data), documents_of(args.data), cases_of(args.data))
        if args.json:
            print(json.dumps(result))
        else:
            print_report(result)
        return 0
    if not (DEFAULT_DATA / "runbooks.jsonl").exists():
        print(f"skipped: no real data at {DEFAULT_DATA}")
        return 0
    if args.write_service_level:
        write_service_level(DEFAULT_DATA, args.write_service_level / "service-level")
        write_service_level(DEFAULT_DATA, args.write_service_level / "service-level-unseen", unseen=True)
        print(f"wrote the service-level cases to {args.write_service_level}")
        return 0
    results = [report("shared", documents_of(DEFAULT_DATA), cases_of(DEFAULT_DATA))]
    for name, unseen in (("service-level", False), ("service-level, alerts unseen", True)):
        with tempfile.TemporaryDirectory(prefix="sevbot-service-level-") as folder:
            write_service_level(DEFAULT_DATA, Path(folder), unseen=unseen)
            results.append(report(name, documents_of(Path(folder)), cases_of(Path(folder))))
    scaled = padded(documents_of(DEFAULT_DATA), SCALE_SECTIONS)
    results.append(report(f"{SCALE_SECTIONS} sections (for time)", scaled, cases_of(DEFAULT_DATA)))
    if args.json:
        print(json.dumps({r["case"]: r for r in results}))
    else:
        for result in results:
            print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
