"""Benchmark the serving path beside the plain scikit-learn Pipeline, on the same alerts in the same run.

Usage: ``python bench/score.py [--json] [--alerts N]``.

Alerts are catalogue variants with per-instance labels and rendered text (so caches see realistic
repetition: same rules, different instances), with their context already fetched, as in ingestion.

* **serving**: ``ModelScorer.score`` as ingestion calls it: features, the lean linear map, the policy,
  and the reasons put into words. Measured on alerts *without* a severity word (the content path, the
  heavier one) and, separately, on alerts with one (the word path);
* **pipeline**: the same content model computed the plain way, ``alert_features`` then scikit-learn's
  ``Pipeline.decision_function`` on one row (DictVectorizer ─► LogisticRegression), reasons not included.

``pipeline_ratio`` is the pipeline's p50 over the serving path's p50 on the same word-less alerts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# SEVBOT_BENCH_CODE: run another checkout's code (``--old-code`` runs this script that way for the old side).
sys.path.insert(0, os.environ.get("SEVBOT_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))

from analytics.artifact import bundled_model
from analytics.bundled import CATALOGUE, _fit, catalogue_rules
from analytics.catalogue import catalogue_examples
from analytics.examples import TrainingExample
from analytics.features import (
    FeatureOptions,
    alert_features,
)
from analytics.model import SeverityModel
from analytics.records import AlertRecord

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def instances(examples: list[TrainingExample], n: int, *, seed: int, word: bool) -> list[TrainingExample]:
    """Firing instances of the catalogue's alerts: each with its own instance label and rendered text."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        e = rng.choice(examples)
        host = f"10.0.{rng.randrange(256)}.{rng.randrange(256)}:9100"
        labels = {**e.alert.labels, "instance": host, "pod": f"pod-{rng.randrange(10_000)}"}
        if word:
            labels.setdefault("severity", rng.choice(("critical", "warning", "info")))
        else:
            labels.pop("severity", None)
        alert = AlertRecord(
            **{
                **{name: getattr(e.alert, name) for name in e.alert.__dataclass_fields__},
                "fingerprint": f"fp{i}",
                "labels": labels,
                "annotations": {
                    k: f"{v} (instance {host}, value {rng.random():.3f})"
                    for k, v in e.alert.annotations.items()
                },
            }
        )
        out.append(replace(e, alert=alert))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: object, items: list[TrainingExample]) -> list[float]:
    out = []
    call = fn  # a callable of one example
    for e in items:
        start = time.perf_counter()
        call(e)  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def _pipeline(model: SeverityModel) -> tuple[Any, str]:
    p = model.provenance
    if (DATA / "alert_rules.jsonl").exists():
        from analytics.bundled import BundledChoice, build_bundled
        from bot.model.bundle import read_rule_rows

        choice = BundledChoice(
            options=FeatureOptions(**p["options"]),
            c=p["c"],
            page_probability=p["page_probability"],
            info_edge=p["info_edge"],
            scores={},
        )
        return build_bundled(read_rule_rows(DATA), choice=choice).reference.pipeline, "shared data"
    rules = [e for e in catalogue_rules() if e.origin == CATALOGUE]
    return _fit(rules, options=model.content.options, c=float(p.get("c", 1.0)), seed=0), "catalogue"


def batch_rates(scorer: Any, examples: list[TrainingExample], *, rounds: int) -> list[float]:
    """``score_batch`` of 1,000 fresh word-less instances (after a warm-up batch), alerts/s per round."""
    scorer.score_batch([(e.alert, e.context) for e in instances(examples, 500, seed=4, word=False)])
    out = []
    for n in range(rounds):
        batch = instances(examples, 1000, seed=6 + n, word=False)
        gc.collect()
        start = time.perf_counter()
        scorer.score_batch([(e.alert, e.context) for e in batch])
        out.append(len(batch) / (time.perf_counter() - start))
    return out


def old_batch_rate(code: Path) -> float:
    """The batch rate of the checkout at ``code``: this script run with its packages (``--batch-only``)."""
    env = {**os.environ, "SEVBOT_BENCH_CODE": str(code.resolve())}
    done = subprocess.run(
        [sys.executable, __file__, "--batch-only"], env=env, capture_output=True, text=True, check=True
    )
    return float(json.loads(done.stdout)["batch_alerts_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument(
        "--old-code",
        metavar="DIR",
        help="also measure the batch path of another checkout (e.g. a `git worktree add` of main), in turn",
    )
    parser.add_argument("--batch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    model = bundled_model()
    scorer = model.scorer()
    options = model.content.options
    if args.batch_only:
        rate = batch_rates(scorer, catalogue_examples(seed=3), rounds=1)[0]
        print(json.dumps({"batch_alerts_per_s": rate}))
        return
    # The plain Pipeline of the same model: the bundled file keeps only numbers, so it is refitted with the
    # recorded choices from ../shared/data when it is there (the same model up to rounding), else from
    # sevbot's own catalogue (the same vectoriser and regression, a smaller vocabulary).
    pipeline, fitted_on = _pipeline(model)
    examples = catalogue_examples(seed=3)
    # Each phase gets its own firing instances: rendered annotations are unique per instance, so text caches
    # warmed by one phase must not flatter the next.
    warm = instances(examples, 500, seed=4, word=False)
    for e in warm:
        scorer.score(e.alert, e.context)
        pipeline.decision_function([alert_features(e.alert, options=options)])

    # Each phase builds its alerts first and starts from a collected heap, so that neither side pays for
    # the garbage of the other (the p99 is otherwise the garbage collector's, not the scorer's).
    phases = {
        "content": (lambda e: scorer.score(e.alert, e.context), 1, False),
        "plain": (lambda e: pipeline.decision_function([alert_features(e.alert, options=options)]), 2, False),
        "worded": (lambda e: scorer.score(e.alert, e.context), 5, True),
    }
    timings: dict[str, list[float]] = {}
    for name, (call, seed, word) in phases.items():
        items = instances(examples, args.alerts, seed=seed, word=word)
        gc.collect()
        timings[name] = timed(call, items)
        del items
    content, plain, worded = timings["content"], timings["plain"], timings["worded"]

    # The batch path, and with --old-code the old checkout's, taking turns three times (medians).
    rates, old_rates = [], []
    for _ in range(3):
        rates += batch_rates(scorer, examples, rounds=1)
        if args.old_code:
            old_rates.append(old_batch_rate(Path(args.old_code)))
    batch_rate = statistics.median(rates)

    result = {
        "model_version": model.version,
        "pipeline_fitted_on": fitted_on,
        "p50_ms": round(statistics.median(content), 4),
        "p99_ms": round(percentile(content, 0.99), 4),
        "word_p50_ms": round(statistics.median(worded), 4),
        "word_p99_ms": round(percentile(worded, 0.99), 4),
        "batch_alerts_per_s": round(batch_rate),
        "pipeline_p50_ms": round(statistics.median(plain), 4),
        "pipeline_p99_ms": round(percentile(plain, 0.99), 4),
        "pipeline_ratio": round(statistics.median(plain) / statistics.median(content), 2),
        "pipeline_ratio_p99": round(percentile(plain, 0.99) / percentile(content, 0.99), 2),
    }
    if old_rates:
        result["old_batch_alerts_per_s"] = round(statistics.median(old_rates))
        result["batch_speedup"] = round(batch_rate / statistics.median(old_rates), 2)
    if args.json:
        print(json.dumps(result))
        return
    print(f"bundled model {model.version}, {args.alerts} alerts per phase")
    print("serving path, no severity word (features + lean model + policy + reasons in words):")
    print(f"  p50 {result['p50_ms']:.4f} ms   p99 {result['p99_ms']:.4f} ms")
    print("serving path, with a severity word (the word and the context decide):")
    print(f"  p50 {result['word_p50_ms']:.4f} ms   p99 {result['word_p99_ms']:.4f} ms")
    print(f"  score_batch of 1,000 (no word): {result['batch_alerts_per_s']:,} alerts/s")
    if old_rates:
        print(
            f"  old code ({args.old_code}): {result['old_batch_alerts_per_s']:,} alerts/s"
            f" · {result['batch_speedup']:.2f}× now"
        )
    print("plain scikit-learn Pipeline.decision_function per alert (features included, no reasons):")
    print(f"  p50 {result['pipeline_p50_ms']:.4f} ms   p99 {result['pipeline_p99_ms']:.4f} ms")
    print(
        f"pipeline ÷ serving: p50 {result['pipeline_ratio']:.2f}×   p99 {result['pipeline_ratio_p99']:.2f}×"
    )


if __name__ == "__main__":
    main()
