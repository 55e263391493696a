"""Benchmark of sevbot's Slack latencies against the fake Slack Web API: p50 and p99.

Two figures, each measured twice: against a whole ``sevbot serve`` process (``process``) and against the
app served by uvicorn inside this process (``in-process``, same code path minus process start-up):

* **ack**: a signed ``/incident list`` slash command posted to ``POST /slack/events`` until its HTTP
  answer (Slack's 3-second budget is about this); sequential requests.
* **delivery**: a new incident per Alertmanager webhook, sent open-loop at 1, 10 and 100 incidents per
  second; from the webhook's ``202`` (committed) until the fake Slack receives the incident's root
  ``chat.postMessage`` (the outbox worker woken by the commit, the Slack sink, slack_sdk over HTTP).

Each incident has its own service, and services are routed over ``4 × rate`` channels (``SEVBOT_CONFIG``
routes). Every incident makes two posts (its root, then the template draft in its thread), so each channel
runs at half of the one-post-per-second pacing (kept on, at its default of 1 s): the pipeline is measured,
not Slack's rate limit. ``--channels N`` shows what pacing does when channels are busier. The LLM
drafting is on (template drafts, no LLM key) as in the embedded default, so drafts compete for the worker.

    .venv/bin/python bench/slack_latency.py            # ~1 minute, SQLite
    .venv/bin/python bench/slack_latency.py --json     # one JSON object
    .venv/bin/python bench/slack_latency.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from tests.support.fake_slack import FORM, FakeSlack, signed_headers, slash_command_body
from tests.support.payloads import am_alert, am_payload
from tests.support.processes import start_sevbot

BOT_TOKEN = "xoxb-bench-slack-latency"
SIGNING_SECRET = "bench-signing-secret-5f1e0c2a9b"
WEBHOOK_TOKEN = "bench-webhook-token-7d3a"
RATES = (1, 10, 100)
VERBOSE = False


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def write_config(path: Path, channels: int, services: int) -> Path:
    """Each incident has a service of its own (one incident of a service within ten minutes of another is
    a related one, posted in the first one's thread: no root post to time), routed over ``channels``."""
    routes = [{"match": {"service": f"svc{i}"}, "channel": f"#bench-{i % channels}"} for i in range(services)]
    path.write_text(yaml.safe_dump({"slack": {"routes": routes}}), encoding="utf-8")
    return path


def settings_for(slack: FakeSlack, config: Path) -> dict[str, str]:
    return {
        "slack_api_url": slack.api_url,
        "slack_channel": "#bench",
        "config": str(config),
        "log_level": "WARNING",
    }


def measure_ack(url: str, slack: FakeSlack, samples: int) -> dict[str, float]:
    latencies = []
    with httpx.Client(timeout=10) as client:
        for i in range(samples):
            body = slash_command_body("list open", response_url=slack.response_url(f"ack{i}"))
            headers = signed_headers(SIGNING_SECRET, body, content_type=FORM)
            start = time.perf_counter()
            response = client.post(f"{url}/slack/events", content=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"slash command answered {response.status_code}: {response.text}")
    return percentiles(latencies)


async def _send_incidents(
    url: str, rate: int, seconds: float, prefix: str, channels: int
) -> dict[str, float]:
    """Post one new incident every 1/rate s (open loop); return alertname → monotonic time of its 202."""
    accepted: dict[str, float] = {}
    total = max(1, int(rate * seconds))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(i: int) -> None:
            name = f"{prefix}{i}"
            payload = am_payload([am_alert(name=name, service=f"svc{i}", instance=f"{name}:9100")])
            headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
            try:
                response = await client.post(f"{url}/webhooks/alertmanager", json=payload, headers=headers)
            except httpx.TransportError:  # a kept-alive connection the server closed meanwhile: send again
                response = await client.post(f"{url}/webhooks/alertmanager", json=payload, headers=headers)
            if response.status_code != 202:
                raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
            accepted[name] = time.monotonic()

        start = time.monotonic()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return accepted


def measure_delivery(
    url: str, slack: FakeSlack, rate: int, seconds: float, channels: int
) -> dict[str, float]:
    prefix = f"Bench{rate}x"
    accepted = asyncio.run(_send_incidents(url, rate, seconds, prefix, channels))

    def root_of(call: Any) -> bool:
        return call.ok and "thread_ts" not in call.args and prefix in str(call.args.get("text", ""))

    calls = slack.wait_for("chat.postMessage", len(accepted), where=root_of, timeout=120 + len(accepted))
    latencies = []
    for call in calls:
        name = str(call.args["text"]).split(": ", 1)[1].split(" on ", 1)[0]
        if name in accepted:
            latencies.append(call.at - accepted[name])
    if VERBOSE:
        print(
            f"  {rate}/s latencies in send order (ms):", [round(x * 1000) for x in latencies], file=sys.stderr
        )
    return percentiles(latencies)


@contextmanager
def in_process(slack: FakeSlack, data_dir: Path, config: Path, database_url: str | None) -> Iterator[str]:
    from bot.app import create_app
    from bot.settings import Settings
    from tests.support.asgi_server import serve

    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        webhook_token=WEBHOOK_TOKEN,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        **settings_for(slack, config),  # type: ignore[arg-type]
    )
    with serve(create_app(settings)) as url:
        yield url


@contextmanager
def whole_process(slack: FakeSlack, data_dir: Path, config: Path, database_url: str | None) -> Iterator[str]:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    with start_sevbot(
        data_dir=data_dir,
        token=WEBHOOK_TOKEN,
        database_url=database_url,
        settings=settings_for(slack, config),
        env=env,
    ) as running:
        yield running.url


def run(mode: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"ack": {}, "delivery": {}}
    start = whole_process if mode == "process" else in_process
    for rate in args.rates:
        channels = args.channels or 4 * rate
        with FakeSlack() as slack:
            data_dir = root / f"{mode}-{rate}"
            data_dir.mkdir()
            seconds = max(args.seconds, 20 / rate)  # at least 20 incidents per rate
            config = write_config(root / f"{mode}-{rate}.yml", channels, max(1, int(rate * seconds)))
            database_url = _fresh_database(args.database_url, f"{mode}_{rate}")
            try:
                with start(slack, data_dir, config, database_url) as url:
                    if not results["ack"]:
                        results["ack"] = measure_ack(url, slack, args.ack_samples)
                    figures = measure_delivery(url, slack, rate, seconds, channels)
                    results["delivery"][f"{rate}/s"] = {**figures, "channels": channels}
            finally:
                _drop_database(database_url)
    return results


def _fresh_database(url: str | None, name: str) -> str | None:
    if not url:
        return None
    import psycopg
    from sqlalchemy.engine import make_url

    database = f"sevbot_slackbench_{name}"
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _drop_database(url: str | None) -> None:
    if not url:
        return
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin_url = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(
        admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES), help="incidents per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each rate is sent")
    parser.add_argument("--ack-samples", type=int, default=200)
    parser.add_argument("--channels", type=int, default=0, help="channels to route over (default 4 × rate)")
    parser.add_argument("--mode", choices=("both", "process", "in-process"), default="both")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default: SQLite files)")
    parser.add_argument("--verbose", action="store_true", help="also print every latency (stderr)")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    modes = ("process", "in-process") if args.mode == "both" else (args.mode,)
    report: dict[str, Any] = {"database": "postgresql" if args.database_url else "sqlite", "pacing_s": 1.0}
    with tempfile.TemporaryDirectory(prefix="sevbot-slackbench-") as tmp:
        for mode in modes:
            mode_dir = Path(tmp) / mode
            mode_dir.mkdir()
            report[mode] = run(mode, args, mode_dir)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"sevbot Slack latency ({report['database']}, pacing 1 post/s per channel)")
    for mode in modes:
        ack = report[mode]["ack"]
        print(f"\n[{mode}] slash command ack: p50 {ack['p50_ms']} ms  p99 {ack['p99_ms']} ms  (n={ack['n']})")
        for rate, figures in report[mode]["delivery"].items():
            print(
                f"[{mode}] webhook 202 → chat.postMessage at {rate:>6} over {figures['channels']} channels:"
                f" p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms"
                f"  (n={figures['n']})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
