"""Benchmark the serving path: one alert (features + lean model + reasons) and batches of 1,000.

Usage: ``python bench/score.py [--json]``. Prints median and p99 latency per alert on the serving path,
throughput in batches of 1,000, and the plain scikit-learn Pipeline's figures beside them. Context is
assumed already fetched (as in ingestion). Alerts are catalogue variants with per-instance labels and text,
so caches see realistic repetition (same rules, different instances).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.catalogue import catalogue_examples
from analytics.examples import TrainingExample
from analytics.features import FeatureOptions, alert_features
from analytics.records import AlertRecord
from analytics.training import train_default_model, train_model


def instances(examples: list[TrainingExample], n: int, seed: int = 1) -> list[TrainingExample]:
    """Firing instances of the catalogue's alerts: each with its own instance label and rendered text."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        e = rng.choice(examples)
        host = f"10.0.{rng.randrange(256)}.{rng.randrange(256)}:9100"
        alert = AlertRecord(
            **{
                **{name: getattr(e.alert, name) for name in e.alert.__dataclass_fields__},
                "fingerprint": f"fp{i}",
                "labels": {**e.alert.labels, "instance": host, "pod": f"pod-{rng.randrange(10_000)}"},
                "annotations": {
                    k: f"{v} (instance {host}, value {rng.random():.3f})"
                    for k, v in e.alert.annotations.items()
                },
            }
        )
        out.append(TrainingExample(alert=alert, level=e.level, context=e.context))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument(
        "--name-grams",
        type=float,
        default=None,
        help="train the catalogue model with alert-name 4-grams of this value (the default model has none)",
    )
    args = parser.parse_args()

    if args.name_grams is None:
        model = train_default_model(seed=0)
    else:
        options = FeatureOptions(name_grams=args.name_grams)
        model = train_model(catalogue_examples(seed=0), seed=0, options=options)
    scorer = model.scorer()
    # Each phase gets its own firing instances: rendered annotations are unique per instance, so text caches
    # warmed by one phase must not flatter the next.
    examples = catalogue_examples(seed=3)
    alerts = instances(examples, args.alerts, seed=1)
    fresh = instances(examples, args.alerts, seed=2)
    others = instances(examples, 1000, seed=3)
    for e in instances(examples, 500, seed=4):  # warm up (imports, numpy, rule-level caches)
        scorer.score(e.alert, e.context)

    single = []
    for e in alerts:
        start = time.perf_counter()
        scorer.score(e.alert, e.context)
        single.append((time.perf_counter() - start) * 1000.0)

    batches = [fresh[i : i + 1000] for i in range(0, len(fresh), 1000)]
    start = time.perf_counter()
    for batch in batches:
        scorer.score_batch([(e.alert, e.context) for e in batch])
    batch_rate = sum(len(b) for b in batches) / (time.perf_counter() - start)

    pipeline = []
    for e in others:
        start = time.perf_counter()
        model.pipeline.predict_proba([alert_features(e.alert, e.context, options=model.options)])
        pipeline.append((time.perf_counter() - start) * 1000.0)

    result = {
        "p50_ms": round(statistics.median(single), 4),
        "p99_ms": round(percentile(single, 0.99), 4),
        "batch_alerts_per_s": round(batch_rate),
        "pipeline_p50_ms": round(statistics.median(pipeline), 4),
        "pipeline_p99_ms": round(percentile(pipeline, 0.99), 4),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"serving path (features + lean model + reasons), {len(single)} alerts:")
    print(f"  p50 {result['p50_ms']:.4f} ms   p99 {result['p99_ms']:.4f} ms")
    print(f"  batches of 1,000: {result['batch_alerts_per_s']:,} alerts/s")
    print("sklearn Pipeline.predict_proba per alert (features included):")
    print(f"  p50 {result['pipeline_p50_ms']:.4f} ms   p99 {result['pipeline_p99_ms']:.4f} ms")


if __name__ == "__main__":
    main()
