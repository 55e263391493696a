"""Benchmark the cold start: real published rules as alerts to a fresh sevbot, with and without their word.

Usage: ``python bench/coldstart.py [--json] [--skip-loso]``.

1. **With the word.** Every visible rule of ``../shared/data/alert_rules.jsonl`` is rendered as the alert it
   raises (its labels and severity word, its summary and description, its PromQL in ``generatorURL``, an
   instance label) and posted, one Alertmanager webhook per rule group, through the real ingestion
   pipeline of a fresh service (SQLite, no team data, the bundled model). Per source and overall: page
   recall (critical → SEV1/SEV2), exact agreement with the level the word maps to, no false pages
   (warning/info not SEV1/SEV2), and how many alerts moved away from their word without a context reason.
2. **Without the word.** Leave-one-source-out: for each source, the bundled model is rebuilt from the other
   sources (as ``sevbot model bundle`` builds it, its choices made inside those sources) and scores the
   held-out rules with the word removed; page-worthy (SEV1/SEV2) F1 beside a TF-IDF + logistic
   regression (C=1, balanced; critical vs not) trained on the same rules. ``strict`` also removes from
   training every rule whose alert name the held-out source uses (mixins republish other sources' rules).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.bundled import PAGE_LEVELS, build_bundled, page_f1, rule_examples_from_rows, training_rules
from analytics.records import Severity
from analytics.scoring import map_severity
from analytics.tfidf import alert_text
from bot.model.bundle import read_rule_rows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAGES = {Severity.SEV1.value, Severity.SEV2.value}
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday morning


def render(row: dict[str, Any], i: int) -> dict[str, Any]:
    """The Alertmanager alert a rule raises: its labels and word, annotations, PromQL, an instance."""
    labels = {str(k): str(v) for k, v in (row.get("labels") or {}).items()}
    labels.update({"alertname": row["alertname"], "severity": row["severity"], "instance": f"host-{i}:9100"})
    annotations = {k: str(row[k]) for k in ("summary", "description") if row.get(k)}
    return {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": NOW.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(str(row.get("expr") or "")),
        "fingerprint": f"{i:016x}",
    }


def with_word(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Post every rule through a fresh service's ingestion and read back each alert's level and reasons."""
    from sqlalchemy import select

    from bot.bootstrap import build_services
    from bot.normalize import normalize
    from storage.models import Alert
    from tests.support.settings import make_settings

    by_group: defaultdict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_group[(row["source"], row.get("path", ""), row.get("group", ""))].append(i)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), None, scorer="model")
        services = build_services(settings)
        try:
            for (source, path, group), members in by_group.items():
                payload = {
                    "receiver": "sevbot",
                    "status": "firing",
                    "alerts": [render(rows[i], i) for i in members],
                    "groupLabels": {},
                    "commonLabels": {},
                    "commonAnnotations": {},
                    "externalURL": "http://alertmanager:9093",
                    "version": "4",
                    "groupKey": f"{source}/{path}/{group}",
                    "truncatedAlerts": 0,
                }
                batch = normalize("alertmanager", json.dumps(payload).encode(), ["alertname"])
                services.ingestor.ingest(batch)
            with services.db.read() as conn:
                stored = {
                    int(r.fingerprint, 16): (r.severity, r.reasons, r.model_version)
                    for r in conn.execute(
                        select(Alert.fingerprint, Alert.severity, Alert.reasons, Alert.model_version)
                    )
                }
            version = services.scorer.current.version
        finally:
            services.close()
    per: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for i, row in enumerate(rows):
        wanted = map_severity(row["severity"])
        level, reasons, _ = stored[i]
        counts = per[row["source"]]
        counts["alerts"] += 1
        if wanted is None:
            counts["unknown_word"] += 1
            continue
        counts["exact"] += level == wanted.value
        if wanted is Severity.SEV1:
            counts["critical"] += 1
            counts["paged"] += level in PAGES
        else:
            counts["not_critical"] += 1
            counts["false_page"] += level in PAGES
        if level != wanted.value:
            counts["moved"] += 1
            texts = [r["text"] for r in reasons]
            counts["moved_with_reason"] += any(not t.startswith("source says") for t in texts)
        counts["first_reason_is_word"] += bool(reasons) and reasons[0]["text"].startswith("source says")
    table = {source: _word_figures(c) for source, c in sorted(per.items())}
    total: Counter[str] = Counter()
    for c in per.values():
        total.update(c)
    return {"model_version": version, "sources": table, "overall": _word_figures(total)}


def _word_figures(c: Counter[str]) -> dict[str, Any]:
    known = c["alerts"] - c["unknown_word"]
    return {
        "alerts": c["alerts"],
        "unknown_word": c["unknown_word"],
        "page_recall": c["paged"] / c["critical"] if c["critical"] else None,
        "exact_agreement": c["exact"] / known if known else None,
        "no_false_pages": 1 - c["false_page"] / c["not_critical"] if c["not_critical"] else None,
        "moved": c["moved"],
        "moved_with_reason": c["moved_with_reason"],
        "first_reason_is_word": c["first_reason_is_word"] / known if known else None,
    }


def without_word(rows: Sequence[dict[str, Any]], *, strict: bool) -> dict[str, Any]:
    """Leave-one-source-out page-worthy F1 of the bundled model and of the TF-IDF baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    sources = sorted({r["source"] for r in rows})
    table: dict[str, Any] = {}
    truth_all: list[int] = []
    model_all: list[int] = []
    base_all: list[int] = []
    for source in sources:
        test = rule_examples_from_rows([r for r in rows if r["source"] == source])
        names = {e.alert.alertname for e in test} if strict else set()
        model = build_bundled(rows, exclude=[source], exclude_names=names)
        train = training_rules(rows, exclude=[source], exclude_names=names)
        baseline = make_pipeline(
            TfidfVectorizer(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000)
        )
        baseline.fit([alert_text(e.alert) for e in train], [int(e.level in PAGE_LEVELS) for e in train])
        truth = [int(e.level in PAGE_LEVELS) for e in test]
        predicted = [int(level in PAGE_LEVELS) for level in model.content.levels([e.alert for e in test])]
        base = [int(v) for v in baseline.predict([alert_text(e.alert) for e in test])]
        table[source] = {
            "rules": len(test),
            "critical": sum(truth),
            "model_f1": page_f1(truth, predicted),
            "baseline_f1": page_f1(truth, base),
            "chosen": {k: model.provenance[k] for k in ("c", "page_probability")},
        }
        truth_all += truth
        model_all += predicted
        base_all += base
    mean_model = sum(t["model_f1"] for t in table.values()) / len(table)
    mean_base = sum(t["baseline_f1"] for t in table.values()) / len(table)
    return {
        "strict": strict,
        "sources": table,
        "mean_model_f1": mean_model,
        "mean_baseline_f1": mean_base,
        "pooled_model_f1": page_f1(truth_all, model_all),
        "pooled_baseline_f1": page_f1(truth_all, base_all),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-loso", action="store_true", help="only the with-word evaluation")
    args = parser.parse_args()
    if not (DATA / "alert_rules.jsonl").exists():
        sys.exit(f"no shared data at {DATA}")
    rows = read_rule_rows(DATA)
    result: dict[str, Any] = {"with_word": with_word(rows)}
    if not args.skip_loso:
        result["without_word"] = {
            "loso": without_word(rows, strict=False),
            "strict": without_word(rows, strict=True),
        }
    if args.json:
        print(json.dumps(result))
        return
    word = result["with_word"]
    print(f"With the word: every visible rule posted to a fresh sevbot ({word['model_version']})")
    print(f"{'source':40}{'alerts':>7}{'page rec':>9}{'exact':>7}{'no FP':>7}{'moved':>7}{'w/ why':>7}")
    for source, f in [*word["sources"].items(), ("overall", word["overall"])]:
        print(
            f"{source:40}{f['alerts']:>7}{_pct(f['page_recall']):>9}{_pct(f['exact_agreement']):>7}"
            f"{_pct(f['no_false_pages']):>7}{f['moved']:>7}{f['moved_with_reason']:>7}"
        )
    for mode, block in result.get("without_word", {}).items():
        print(
            f"\nWithout the word, leave-one-source-out ({mode}): page-worthy F1, bundled model vs TF-IDF + LR"
        )
        print(f"{'held-out source':40}{'rules':>6}{'crit':>6}{'model':>7}{'base':>7}{'gain':>7}")
        for source, t in block["sources"].items():
            gain = t["model_f1"] - t["baseline_f1"]
            print(
                f"{source:40}{t['rules']:>6}{t['critical']:>6}{t['model_f1']:>7.3f}"
                f"{t['baseline_f1']:>7.3f}{gain:>+7.3f}"
            )
        print(
            f"{'mean over sources':52}{block['mean_model_f1']:>7.3f}{block['mean_baseline_f1']:>7.3f}"
            f"{block['mean_model_f1'] - block['mean_baseline_f1']:>+7.3f}"
        )
        print(
            f"{'pooled':52}{block['pooled_model_f1']:>7.3f}{block['pooled_baseline_f1']:>7.3f}"
            f"{block['pooled_model_f1'] - block['pooled_baseline_f1']:>+7.3f}"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
