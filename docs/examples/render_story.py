"""Render the root messages the README shows for a storm and a flapping alert, by running sevbot's real
ingestion and Slack sink against the fake Slack of the tests (over real HTTP, in a temporary SQLite).

    .venv/bin/python docs/examples/render_story.py            # both, as Block Kit JSON
    .venv/bin/python docs/examples/render_story.py flapping   # one of them
    .venv/bin/python docs/examples/render_story.py --full     # every block in full

What is printed is the last version of the root message (``chat.update`` after ``chat.postMessage``), with
the blocks that carry text: the header, the fields, the "Related" line and the buttons.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.bootstrap import build_services
from tests.support.clock import Clock
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import T0, am_alert, iso
from tests.support.settings import make_settings
from tests.support.slack import fire, make_delivery

STORM = [
    ("SearchLatencyHigh", "warning"),
    ("SearchErrorsHigh", "critical"),
    ("SearchQueueBacklog", "warning"),
    ("SearchIndexerDown", "critical"),
    ("SearchCacheMisses", "info"),
]


def storm(services: Any) -> None:
    for rule, (name, severity) in enumerate(STORM):
        start = T0 + timedelta(seconds=3 * rule)
        alerts = [
            am_alert(name, instance=f"search-{i}:9200", severity=severity, service="search", starts_at=start)
            for i in range(10)
        ]
        fire(services, *alerts)


def flapping(services: Any) -> None:
    pod = am_alert(
        "KubePodCrashLooping", instance="search-indexer-6c9f7b8d4-x2kqp", severity="warning", service="search"
    )
    for cycle in range(8):  # fires every 8 minutes, resolves after 2; the eighth firing is still on
        starts = T0 + timedelta(minutes=8 * cycle)
        firing = {**pod, "startsAt": iso(starts), "endsAt": iso(starts + timedelta(minutes=5))}
        fire(services, firing)
        if cycle < 7:
            fire(services, {**firing, "status": "resolved", "endsAt": iso(starts + timedelta(minutes=2))})


def render(case: str) -> dict[str, Any]:
    clock = Clock(T0 + timedelta(hours=2))
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        # The service's default scorer (the tests' settings use the fixed-word "rules" scorer).
        settings = make_settings(Path(tmp), f"sqlite:///{tmp}/sevbot.db", scorer="model")
        services = build_services(settings, clock=clock)
        try:
            delivery = make_delivery(services, slack, clock, mention="<!subteam^S0SEARCH>")
            {"storm": storm, "flapping": flapping}[case](services)
            delivery.drain(step=timedelta(seconds=31))
            [root] = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]
            edits = [c for c in slack.calls_to("chat.update") if c.args["ts"] == root.response["ts"]]
            latest = (edits or [root])[-1]
            blocks = latest.args["blocks"]
            blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
            threaded = sum(1 for c in slack.calls_to("chat.postMessage") if "thread_ts" in c.args)
            return {"case": case, "channel_messages": 1, "thread_replies": threaded, "blocks": blocks}
        finally:
            services.close()


def compact(rendered: dict[str, Any]) -> str:
    """One block a line; the actions block shortened to its elements' action ids (the README's form)."""
    lines = [
        f"// {rendered['case']}: {rendered['channel_messages']} channel message,"
        f" {rendered['thread_replies']} thread replies"
    ]
    for block in rendered["blocks"]:
        if block["type"] == "actions":
            block = {"type": "actions", "elements": [e["action_id"] for e in block["elements"]]}
        lines.append(json.dumps(block, ensure_ascii=False))
    return "\n".join(lines)


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the example runs no LLM sink: its draft rows fail, unseen
    for name in [a for a in sys.argv[1:] if not a.startswith("--")] or ["storm", "flapping"]:
        rendered = render(name)
        print(
            json.dumps(rendered, indent=1, ensure_ascii=False) if "--full" in sys.argv else compact(rendered)
        )
