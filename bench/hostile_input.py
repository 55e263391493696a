"""Hostile input: how long the text functions take on crafted alert text, and what a stalling webhook costs.

Two parts, each printing figures (nothing is asserted; the tests assert only generous bounds):

* text: each function that runs regular expressions on alert text (``analytics.text.words``,
  ``analytics.promql.expression_features`` and ``duration_minutes``, the LLM ``Redactor``), on inputs
  shaped to make a backtracking regex engine quadratic, at two sizes: a linear function takes about twice
  as long at twice the size, a quadratic one four times as long;
* webhook: a real ``sevbot serve`` on SQLite gets one ~1 MB Alertmanager body whose text fields are runs
  of random digits, and 0.5 s later a small ordinary webhook; it prints how long each took to answer.

    .venv/bin/python bench/hostile_input.py            # both parts
    .venv/bin/python bench/hostile_input.py --text     # the text functions only (a few seconds)

Measured on the 2-core machine (4 KiB / 8 KiB inputs), before the text functions were made linear and after:
words on a digit run 140 / 883 ms → 0.02 / 0.02 ms (text is now cut at 4,096 characters); unclosed
templates 82 / 680 ms → 0.02 ms; PromQL escaped quotes 81 / 384 ms → 0.6 / 1.2 ms; a duration of digits
852 / 2,787 ms → 0.2 / 0.4 ms; redaction of ``-a-a-a…`` 915 / 2,907 ms → 1.1 / 2.2 ms, of ``a.a.a…``
932 / 5,119 ms → 1.1 / 2.2 ms. The 0.98 MB digit-run webhook: 20.6 s → 0.12 s, and the ordinary webhook
sent 0.5 s after it: answered after 20.1 s → 0.01 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from analytics.promql import duration_minutes, expression_features
from analytics.text import words
from bot.llm.redaction import Redactor
from tests.support.payloads import am_alert, am_payload
from tests.support.processes import start_sevbot

TOKEN = "bench-hostile-token-7f3a"


def _time(function: Callable[[str], Any], text: str, budget: float) -> float:
    """Seconds one call takes (the best of a few, within ``budget`` seconds)."""
    best = float("inf")
    spent = 0.0
    while spent < budget:
        started = time.perf_counter()
        function(text)
        took = time.perf_counter() - started
        best = min(best, took)
        spent += took
        if took > budget / 3:
            break
    return best


def text_cases() -> list[tuple[str, Callable[[str], Any], Callable[[int], str]]]:
    redactor = Redactor()
    fresh = iter(range(10**9))

    def uncached_words(text: str) -> Any:  # words() memoises tokens: vary the text each call
        return words(f"{next(fresh)}{text}")

    def uncached_expr(text: str) -> Any:
        return expression_features(f"{text} # {next(fresh)}")

    return [
        ("words: one digit run", uncached_words, lambda n: "".join(random.choices("0123456789", k=n))),
        ("words: unclosed templates", uncached_words, lambda n: "{{" * (n // 2)),
        ("promql: escaped quotes", uncached_expr, lambda n: '"\\' * (n // 2)),
        ("promql: digit run", uncached_expr, lambda n: "up > 1." + "1" * n + "x"),
        ("duration: digit run", duration_minutes, lambda n: "1" * n),
        ("redaction: -a-a-a", redactor, lambda n: "-a" * (n // 2)),
        ("redaction: a.a.a", redactor, lambda n: "a." * (n // 2)),
        ("redaction: token-names", redactor, lambda n: "x_token" * (n // 7)),
    ]


def run_text(sizes: tuple[int, int], budget: float) -> None:
    small, large = sizes
    print(f"{'function and input':32} {small:>8} chars {large:>8} chars   ratio")
    for name, function, make in text_cases():
        random.seed(7)
        first = _time(function, make(small), budget)
        second = _time(function, make(large), budget)
        print(f"{name:32} {first * 1000:10.2f} ms {second * 1000:10.2f} ms   {second / first:5.1f}x")


def digit_body(target_bytes: int = 1_000_000) -> bytes:
    rng = random.Random(7)

    def digits() -> str:
        return "".join(rng.choices("0123456789", k=4096))

    alerts = []
    while len(json.dumps(am_payload(alerts))) < target_bytes - 25_000:
        i = len(alerts)
        alert = am_alert(
            digits()[:200],
            instance=f"i{i}",
            annotations={"summary": digits(), "description": digits()},
            extra_labels={"note": digits()},
        )
        alert["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + digits()[:2000]
        alerts.append(alert)
    return json.dumps(am_payload(alerts, group_key="hostile-digits")).encode()


def post(url: str, payload: bytes, timeout: float = 300) -> tuple[int, float]:
    request = urllib.request.Request(
        f"{url}/webhooks/alertmanager",
        data=payload,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.perf_counter() - started


def run_webhook() -> None:
    hostile = digit_body()
    ordinary = json.dumps(am_payload([am_alert("Ordinary")])).encode()
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_sevbot(
            data_dir=Path(tmp), token=TOKEN, settings={"scorer": "model", "log_level": "WARNING"}
        ) as sevbot,
    ):
        post(sevbot.url, json.dumps(am_payload([am_alert("Warmup")])).encode())
        answers: dict[str, tuple[int, float]] = {}
        big = threading.Thread(target=lambda: answers.setdefault("hostile", post(sevbot.url, hostile)))
        big.start()
        time.sleep(0.5)
        answers["ordinary"] = post(sevbot.url, ordinary)
        big.join()
    print(f"hostile body: {len(hostile) / 1e6:.2f} MB of digit runs")
    for name in ("hostile", "ordinary"):
        status, took = answers[name]
        print(f"{name:9} webhook: HTTP {status} after {took:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--text", action="store_true", help="only the text functions")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (default 1)")
    args = parser.parse_args()
    run_text((4096, 8192), args.budget)
    if not args.text:
        run_webhook()


if __name__ == "__main__":
    main()
