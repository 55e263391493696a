"""Benchmark the team model against the TF-IDF baseline on each visible organisation's own rule files.

Usage: ``python bench/teams.py [--json] [--seeds 0 1 2 3 4] [--prior loso|strict|none|bundled]``.

For each source of ``../shared/data`` with rule files under ``upstream/``, this runs what
``sevbot model evaluate --rules upstream/<source> --seed S`` runs (grouped 5-fold CV by rule group; the
baseline fixed), seeds 0–4, and prints macro-F1 and critical-F1 of both, their gain, and per source the
mean over seeds. The team model may lean on a bundled prior; the shipped one has seen every visible
source, so here the prior is rebuilt without the evaluated one:

* ``loso``: the bundled model built from every other source (the issue's leave-one-source-out);
* ``strict``: the same, and without any rule whose alert name the evaluated source uses (the mixins
  republish kube-prometheus's and thanos's rules, so ``loso`` still knows many of them): the honest
  stand-in for an organisation never seen;
* ``none``: no prior; ``bundled``: the shipped model (leaks on visible data: for reference only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.artifact import bundled_model
from analytics.bundled import build_bundled
from analytics.evaluate import evaluate
from bot.model.bundle import read_rule_rows
from bot.model.rulefiles import load_rule_paths, rule_examples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run(source: str, prior_mode: str, seeds: list[int]) -> dict[str, Any]:
    rows = read_rule_rows(DATA)
    folder = DATA / "upstream" / source.replace("/", "__")
    examples = list(rule_examples(load_rule_paths([folder])).examples)
    names = {e.alert.alertname for e in examples} | {r["alertname"] for r in rows if r["source"] == source}
    if prior_mode == "none":
        prior = None
    elif prior_mode == "bundled":
        prior = bundled_model().content
    else:
        exclude_names = names if prior_mode == "strict" else ()
        prior = build_bundled(rows, exclude=[source], exclude_names=exclude_names).content
    out = []
    for seed in seeds:
        e = evaluate(examples, folds=5, seed=seed, prior=prior)
        out.append(
            {
                "seed": seed,
                "n": e.n,
                "macro_f1": e.model.macro_f1,
                "baseline_macro_f1": e.baseline.macro_f1,
                "critical_f1": e.model.critical_f1,
                "baseline_critical_f1": e.baseline.critical_f1,
                "chosen": list(e.chosen),
            }
        )
    return {"source": source, "prior": prior_mode, "runs": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--prior", default="strict", choices=["loso", "strict", "none", "bundled"])
    parser.add_argument("--sources", nargs="*")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = read_rule_rows(DATA)
    sources = args.sources or sorted(
        {r["source"] for r in rows if (DATA / "upstream" / r["source"].replace("/", "__")).is_dir()}
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run, sources, [args.prior] * len(sources), [args.seeds] * len(sources)))
    table = []
    for result in results:
        runs = result["runs"]
        mean = {k: statistics.mean(r[k] for r in runs) for k in runs[0] if k not in ("seed", "n", "chosen")}
        table.append({"source": result["source"], "n": runs[0]["n"], **mean, "runs": runs})
    summary = {
        "prior": args.prior,
        "seeds": args.seeds,
        "mean_gain_macro_f1": statistics.mean(t["macro_f1"] - t["baseline_macro_f1"] for t in table),
        "mean_critical_f1": statistics.mean(t["critical_f1"] for t in table),
        "mean_baseline_critical_f1": statistics.mean(t["baseline_critical_f1"] for t in table),
        "sources_not_worse": sum(t["macro_f1"] >= t["baseline_macro_f1"] - 1e-12 for t in table),
        "worst_run_gain": min(r["macro_f1"] - r["baseline_macro_f1"] for t in table for r in t["runs"]),
        "sources": table,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"team model vs TF-IDF baseline, grouped 5-fold CV, seeds {args.seeds}, prior {args.prior}")
    print(
        f"{'source':40}{'n':>6}{'macro-F1':>10}{'base':>7}{'gain':>8}{'crit-F1':>9}{'base':>7}  per seed gain"
    )
    for t in table:
        gains = " ".join(f"{r['macro_f1'] - r['baseline_macro_f1']:+.3f}" for r in t["runs"])
        print(
            f"{t['source']:40}{t['n']:>6}{t['macro_f1']:>10.3f}{t['baseline_macro_f1']:>7.3f}"
            f"{t['macro_f1'] - t['baseline_macro_f1']:>+8.3f}{t['critical_f1']:>9.3f}"
            f"{t['baseline_critical_f1']:>7.3f}  {gains}"
        )
    print(
        f"mean gain {summary['mean_gain_macro_f1']:+.3f} macro-F1;"
        f" mean critical-F1 {summary['mean_critical_f1']:.3f}"
        f" (baseline {summary['mean_baseline_critical_f1']:.3f});"
        f" not worse on {summary['sources_not_worse']}/{len(table)} sources;"
        f" worst single run {summary['worst_run_gain']:+.3f}"
    )


if __name__ == "__main__":
    main()
