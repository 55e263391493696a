"""The runbook library: Markdown cut into sections that can be cited, BM25F search for an alert that says why
each runbook matched (linked, named after the alert, the service's document, the fields' words), and recall
on real data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.runbooks import cases_of, write_service_level
from bot.llm.grounding import MIN_RELEVANCE
from bot.llm.runbook_query import AlertQuery
from bot.llm.runbook_text import split_sections, tokens, without_templates
from bot.llm.runbooks import MatchKind, RunbookLibrary

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


def test_closing_hashes_go_only_after_a_space_and_a_long_line_of_them_is_read_at_once() -> None:
    sections = split_sections("lang.md", "# C# services ##\n\nbody\n\n## Build C#\n\nmore\n")
    assert [(s.title, s.heading) for s in sections] == [
        ("C# services", "C# services"),
        ("C# services", "Build C#"),
    ]
    # Python's re took 6 s on a 20 kB line of this shape, and longer by the square of its length
    line = "# a" + "#" * (512 * 1024) + "x"
    started = time.monotonic()
    split_sections("long.md", line + "\n\nbody\n")
    assert time.monotonic() - started < 10.0


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


# --- an alert: a small organisation's library, organised per service -----------------------------------

SERVICE_LIBRARY = {
    # A service's general document: it names no alert, only the service.
    "web-pages/README.md": """# Web Pages

Serves the static sites that projects publish.

## Architecture

Requests reach the pages daemon behind the load balancer; sites are read from object storage.

## Dashboards

The overview dashboard shows request rates per node.
""",
    "web-pages/object-storage.md": """# Reading sites from object storage

## Slow reads

Check the storage bucket's latency panel; a slow bucket makes every site slow.
""",
    # A document about apdex in general: its words are the alert's, yet it is no runbook for the service.
    "observability/apdex.md": """# Apdex and SLO violations

## What an apdex SLO violation means

The apdex score is the share of requests served fast enough. A violation of the apdex SLO means the
service's score fell below its objective over the alerting window; burn rates say how fast.
""",
    "patroni/README.md": """# Patroni

The PostgreSQL cluster manager.

## Failover

Run `patronictl switchover` from a healthy member.
""",
    "patroni/replication.md": """# Replication

## Lag

Compare the replay position of each replica.

## Failover

Promote the replica with the least lag.
""",
    "kubernetes/KubePodCrashLooping.md": """# KubePodCrashLooping

## Diagnosis

Read the previous container's logs.
""",
    "kube-state-metrics/README.md": """# kube-state-metrics

The exporter of Kubernetes object state.

## Restarting it

Delete its pod; the deployment recreates it.
""",
}

APDEX_ALERT = AlertQuery(
    alertname="ServerApdexSLOViolation",
    summary="The server SLI has an apdex violating SLO",
    description="The apdex score fell below the objective; burn rate above 14.4.",
    expression='component_apdex:ratio_1h{type="web-pages", component="server"} < 0.995',
)


@pytest.fixture
def services() -> RunbookLibrary:
    return RunbookLibrary(SERVICE_LIBRARY.items())


def test_the_service_document_is_found_for_an_alert_about_the_service_though_no_section_names_it(
    services: RunbookLibrary,
) -> None:
    [first, *rest] = services.suggest(APDEX_ALERT, limit=3)

    assert first.file == "web-pages/README.md" and first.kind is MatchKind.SERVICE
    assert first.relevance == 1.0
    assert first.why.startswith("runbook for service web-pages (PromQL matcher type)")
    # Without the matcher naming the service, the general apdex document, which holds the alert's words,
    # would be first.
    unnamed = AlertQuery(alertname=APDEX_ALERT.alertname, summary=APDEX_ALERT.summary)
    assert services.suggest(unnamed, limit=1)[0].file == "observability/apdex.md"
    assert "observability/apdex.md" in [s.file for s in rest]


def test_a_service_label_finds_its_document_and_says_which_label(services: RunbookLibrary) -> None:
    alert = AlertQuery(
        alertname="ReplicaBehind", summary="A replica is behind", labels={"service": "patroni"}
    )

    [first, second, *_] = services.suggest(alert, limit=3)

    assert (first.file, first.kind) == ("patroni/README.md", MatchKind.SERVICE)
    assert first.why.startswith("runbook for service patroni (label service)")
    assert second.file == "patroni/replication.md"  # the same folder, and "replica" in its text


def test_a_runbook_named_after_the_alert_comes_before_its_services_document(services: RunbookLibrary) -> None:
    alert = AlertQuery(
        alertname="KubePodCrashLooping",
        summary="Pod is crash looping.",
        labels={"service": "kube-state-metrics"},
    )

    [first, second, *_] = services.suggest(alert, limit=3)

    assert (first.file, first.kind) == ("kubernetes/KubePodCrashLooping.md", MatchKind.NAMED)
    assert first.why.startswith("named after the alert KubePodCrashLooping")
    assert (second.file, second.kind) == ("kube-state-metrics/README.md", MatchKind.SERVICE)


def test_a_job_that_names_the_exporter_is_not_taken_for_the_service(services: RunbookLibrary) -> None:
    """``job="kube-state-metrics"`` says where the metric came from; the alert is about a deployment."""
    alert = AlertQuery(
        alertname="DeploymentReplicasMismatch",
        summary="Deployment has not matched the expected number of replicas.",
        expression='kube_deployment_spec_replicas{job="kube-state-metrics"} != 1',
    )
    confirmed = AlertQuery(
        alertname="KubeStateMetricsListErrors",
        summary="kube-state-metrics is failing to list objects.",
        expression='kube_state_metrics_list_total{job="kube-state-metrics",result="error"} > 0',
    )

    assert all(s.kind is not MatchKind.SERVICE for s in services.suggest(alert, limit=3))
    [first, *_] = services.suggest(confirmed, limit=3)
    assert (first.file, first.kind) == ("kube-state-metrics/README.md", MatchKind.SERVICE)
    assert first.why.startswith("runbook for service kube-state-metrics (PromQL matcher job)")


def test_the_document_an_alert_links_comes_first_at_the_linked_section(services: RunbookLibrary) -> None:
    alert = AlertQuery(
        alertname="ServerApdexSLOViolation",
        summary="The server SLI has an apdex violating SLO",
        runbook_url="https://git.example.com/ops/runbooks/-/blob/main/patroni/replication.md#failover",
    )

    [first, *_] = services.suggest(alert, limit=3)

    assert (first.file, first.kind, first.relevance) == ("patroni/replication.md", MatchKind.LINKED, 1.0)
    assert first.section.citation == "patroni/replication.md § Failover"
    assert first.why.startswith("linked from the alert's runbook_url")


@pytest.mark.parametrize(
    ("url", "file"),
    [
        (
            "https://runbooks.example.dev/runbooks/kubernetes/kubepodcrashlooping",
            "kubernetes/KubePodCrashLooping.md",
        ),
        ("https://github.com/acme/ops/blob/9f1c2e/docs/web-pages/README.md", "web-pages/README.md"),
        ("https://wiki.example/runbooks/web-pages/", "web-pages/README.md"),
        ("web-pages/object-storage.md", "web-pages/object-storage.md"),
        ("https://wiki.example/runbooks/checkout/README.md", None),  # a folder the library does not hold
        ("https://wiki.example/README.md", None),  # which README? any of them equally
        ("https://wiki.example/runbooks/Failover.md", None),  # a heading, not a document
        ("https://wiki.example/mysql/replication.md", None),  # another folder's replication.md
    ],
)
def test_links_are_matched_to_library_documents_by_their_path(
    services: RunbookLibrary, url: str, file: str | None
) -> None:
    linked = services.resolve(url)

    assert (linked.file if linked else None) == file


def test_a_link_two_documents_match_equally_is_not_followed() -> None:
    library = RunbookLibrary([("a/failover.md", "# A\n\nx\n"), ("b/failover.md", "# B\n\ny\n")])

    assert library.resolve("https://wiki.example/failover.md") is None
    assert library.resolve("https://wiki.example/b/failover.md") is not None


def test_a_label_naming_the_service_outranks_the_alerts_name(services: RunbookLibrary) -> None:
    """The name's first part (Patroni…) is only a guess at the service; the label says which it is."""
    alert = AlertQuery(
        alertname="PatroniClientErrors", summary="Database client errors", labels={"type": "web-pages"}
    )
    guessed = AlertQuery(alertname="PatroniClientErrors", summary="Database client errors")

    assert [s.file for s in services.suggest(alert, limit=5) if s.kind is MatchKind.SERVICE] == [
        "web-pages/README.md"
    ]
    [first, *_] = services.suggest(guessed, limit=5)
    assert (first.file, first.kind) == ("patroni/README.md", MatchKind.SERVICE)
    assert first.why.startswith("runbook for service patroni (the alert name)")


def test_a_link_outside_the_library_is_not_followed(services: RunbookLibrary) -> None:
    alert = AlertQuery(
        alertname="CheckoutLatencyHigh", runbook_url="https://wiki.example/checkout/latency.md"
    )

    assert all(s.kind is not MatchKind.LINKED for s in services.suggest(alert, limit=5))


def test_an_alert_about_nothing_in_the_library_finds_nothing_to_cite(services: RunbookLibrary) -> None:
    alert = AlertQuery(
        alertname="CheckoutPaymentLatencyHigh",
        summary="Checkout payments take above two seconds",
        labels={"service": "checkout", "job": "checkout-api"},
        expression='histogram_quantile(0.99, rate(payment_seconds_bucket{job="checkout-api"}[5m])) > 2',
    )

    assert services.suggest(alert, min_relevance=MIN_RELEVANCE) == []


def test_a_readme_of_headings_and_links_only_is_still_its_services_document() -> None:
    library = RunbookLibrary(
        [("search/README.md", "# Search\n\n## Dashboards\n"), ("other.md", "# Other\n\nx\n")]
    )
    alert = AlertQuery(alertname="QueryErrors", labels={"type": "search"})

    [first, *_] = library.suggest(alert)

    assert (first.file, first.kind) == ("search/README.md", MatchKind.SERVICE)


def test_templates_are_removed_from_alert_text_without_a_regex() -> None:
    assert without_templates("lag on {{ $labels.instance }} is {{ $value }}s").split() == [
        "lag",
        "on",
        "is",
        "s",
    ]
    assert without_templates("unclosed {{ $labels.x and more") == "unclosed "
    assert without_templates("{{{{{{") == ""


# --- real data ------------------------------------------------------------------------------------------


def _recall(data: Path) -> tuple[float, float, int]:
    library = RunbookLibrary(
        (r["runbook_id"], r["text"])
        for r in (
            json.loads(line) for line in (data / "runbooks.jsonl").read_text(encoding="utf-8").splitlines()
        )
    )
    cases = cases_of(data)
    top3 = citeable = 0
    for case in cases:
        suggestions = library.suggest(case.alert, limit=3)
        top3 += case.expected in [s.file for s in suggestions]
        citeable += case.expected in [s.file for s in suggestions if s.relevance >= MIN_RELEVANCE]
    return top3 / len(cases), citeable / len(cases), len(cases)


def test_recall_on_real_rules_that_link_a_runbook(shared_data: Path) -> None:
    """With its link withheld, an alert finds the runbook it links in the top 3 (≥ 95%), citeable (≥ 85%)."""
    recall, citeable, n = _recall(shared_data)

    assert n > 200
    assert recall >= 0.95 and citeable >= 0.85


def test_recall_on_a_service_level_library_built_from_real_runbooks(
    shared_data: Path, tmp_path: Path
) -> None:
    """Each component's runbooks merged into one README with their alerts' names removed, and half of them
    left out, so the README holds nothing written for the alerts measured (see bench/runbooks.py)."""
    write_service_level(shared_data, tmp_path, unseen=True)

    recall, _, n = _recall(tmp_path)

    assert n > 80
    assert recall >= 0.8
