"""The runbook library: Markdown cut into sections that can be cited, BM25 search, and recall on real data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.llm.grounding import MIN_RELEVANCE
from bot.llm.runbooks import RunbookLibrary, split_sections, tokens

DATABASE_MD = """# Database runbook

Owned by the storage team.

## Replication lag

```
# not a heading: a shell comment
SELECT now() - pg_last_xact_replay_timestamp();
```
Check the replica's disk throughput first.

### Failover

Promote the standby with `patronictl failover`.

Disk full
---------

Free space by removing old WAL archives.
"""


@pytest.fixture
def library(tmp_path: Path) -> RunbookLibrary:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "postgres.md").write_text(DATABASE_MD, encoding="utf-8")
    (tmp_path / "KubePodCrashLooping.md").write_text(
        "# KubePodCrashLooping\n\n## Diagnosis\n\nRead the previous container's logs.\n", encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("not markdown: ignored", encoding="utf-8")
    return RunbookLibrary.from_folder(tmp_path)


def test_sections_follow_headings_of_both_styles_and_skip_code_fences() -> None:
    sections = split_sections("db/postgres.md", DATABASE_MD)

    assert [s.citation for s in sections] == [
        "db/postgres.md § Database runbook",
        "db/postgres.md § Replication lag",
        "db/postgres.md § Replication lag › Failover",
        "db/postgres.md § Disk full",
    ]
    assert "# not a heading" in sections[1].text
    assert sections[0].title == "Database runbook"


def test_names_are_split_into_words() -> None:
    assert tokens("KubeAPIDown high_error_rate") == [
        "kubeapidown",
        "kube",
        "api",
        "down",
        "high",
        "error",
        "rate",
    ]


def test_search_finds_and_cites_the_matching_section(library: RunbookLibrary) -> None:
    [best, *_] = library.search("replication lag on the replica", limit=3, min_relevance=MIN_RELEVANCE)
    assert best.section.citation == "db/postgres.md § Replication lag"

    [named, *_] = library.search("KubePodCrashLooping pod restarting", min_relevance=MIN_RELEVANCE)
    assert named.section.file == "KubePodCrashLooping.md" and named.relevance == 1.0


def test_an_unrelated_query_finds_nothing_rather_than_the_least_bad_section(library: RunbookLibrary) -> None:
    assert library.search("checkout payment latency above two seconds", min_relevance=MIN_RELEVANCE) == []


def test_a_missing_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        RunbookLibrary.from_folder(tmp_path / "nowhere")


def test_recall_on_real_rules_that_link_a_runbook(shared_data: Path) -> None:
    """Searching by alert name and summary (URL removed) finds the linked runbook in the top 3 for ≥ 80%."""
    records = [
        json.loads(line) for line in (shared_data / "runbooks.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    library = RunbookLibrary((r["runbook_id"], r["text"]) for r in records)
    cases = set()
    for line in (shared_data / "alert_rules.jsonl").read_text(encoding="utf-8").splitlines():
        rule = json.loads(line)
        if rule.get("runbook_ref"):
            query = re.sub(r"https?://\S+", " ", f"{rule['alertname']} {rule.get('summary') or ''}")
            cases.add((query, rule["runbook_ref"]))
    found = sum(
        expected in [hit.section.file for hit in library.search_documents(query, limit=3)]
        for query, expected in cases
    )

    assert len(cases) > 100
    assert found / len(cases) >= 0.8
