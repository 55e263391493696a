"""Block Kit builders: what the root message, replies and drafts say, always within Slack's limits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.slack import blocks
from bot.slack.root_blocks import root_message
from storage.models import Alert, Incident
from tests.support.fake_slack import block_problem
from tests.support.payloads import T0


def incident(**overrides: Any) -> Incident:
    values: dict[str, Any] = {
        "id": 7,
        "group_key": "g",
        "title": "CheckoutHighErrorRate on checkout-1",
        "alertname": "CheckoutHighErrorRate",
        "service": "checkout",
        "source": "alertmanager",
        "status": "open",
        "severity": "SEV1",
        "severity_source": "model",
        "confidence": 0.87,
        "model_version": "m-3",
        "reasons": [
            {"text": "source says critical", "weight": 0.61},
            {"text": "checkout is a critical service", "weight": 0.2},
            {"text": "error rate far above normal", "weight": 0.1},
            {"text": "fourth reason", "weight": 0.01},
        ],
        "labels": {"team": "payments"},
        "alert_count": 3,
        "firing_count": 2,
        "flapping": False,
        "opened_at": T0,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "last_alert_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return Incident(**values)


def alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "links": {
            "source": "http://prometheus.internal:9090/graph?g0.expr=up",
            "dashboard": "https://grafana.internal/d/x",
        },
        "annotations": {"runbook_url": "https://runbooks.internal/checkout"},
        "generator_url": None,
    }
    values.update(overrides)
    return Alert(**values)


def within_limits(message: blocks.SlackMessage) -> None:
    assert block_problem(message.blocks) is None, block_problem(message.blocks)
    assert len(message.text) <= blocks.FALLBACK_TEXT
    json.dumps(message.blocks)  # serializable as it will be sent


def test_the_root_message_has_everything_on_call_needs() -> None:
    links = blocks.incident_links(incident(), alert(), "https://sevbot.internal/")
    message = root_message(incident(), links=links)
    text = json.dumps(message.blocks, ensure_ascii=False)

    within_limits(message)
    assert message.blocks[0]["text"]["text"] == "SEV1 · #7 · CheckoutHighErrorRate on checkout-1"
    for expected in (
        "87% confident",
        "*Status*\\nOpen",
        "checkout",
        "3 (2 firing)",
        "<!date^1795161600^",
        "*Owner*",
    ):
        assert expected in text
    assert "model m-3" not in text  # the model's version is in "why", not on the root
    assert "source says critical +0.6" in text and "error rate far above normal" in text
    assert "fourth reason" not in text  # the top three only
    assert "<https://runbooks.internal/checkout|Runbook>" in text
    assert "<https://sevbot.internal/incidents/7|Details>" in text
    assert "<!here>" not in text and "<!channel>" not in text


def test_buttons_follow_the_status_and_the_select_shows_the_level() -> None:
    def action_ids(inc: Incident) -> list[str]:
        [actions] = [b for b in root_message(inc).blocks if b["type"] == "actions"]
        return [e["action_id"] for e in actions["elements"]]

    silence = "incident_silence"  # always: a resolved incident's alerts may come back
    assert action_ids(incident()) == [
        "incident_ack",
        "incident_resolve",
        "incident_why",
        "incident_severity",
        silence,
    ]
    acked = incident(
        status="acknowledged", acknowledged_at=T0 + timedelta(minutes=3), acknowledged_by="U0ALICE"
    )
    assert action_ids(acked) == ["incident_resolve", "incident_why", "incident_severity", silence]
    assert "Acknowledged by <@U0ALICE> <!date^" in json.dumps(root_message(acked).blocks)
    resolved = incident(status="resolved", resolved_at=T0)
    assert action_ids(resolved) == ["incident_why", "incident_severity", silence]
    [actions] = [b for b in root_message(incident(severity="SEV3")).blocks if b["type"] == "actions"]
    [select] = [e for e in actions["elements"] if e["action_id"] == "incident_severity"]
    assert select["initial_option"]["value"] == "SEV3"
    [button] = [e for e in actions["elements"] if e["action_id"] == silence]
    assert button["value"] == "7" and "confirm" in button


def test_sev1_mention_only_where_configured_and_only_for_sev1() -> None:
    assert root_message(incident(), mention="<!here>").text.startswith("<!here> SEV1")
    assert "<!here>" in json.dumps(root_message(incident(), mention="<!here>").blocks)
    assert "<!here>" not in json.dumps(root_message(incident(severity="SEV2"), mention="<!here>").blocks)
    assert "<!here>" not in root_message(incident(status="resolved"), mention="<!here>").text


def test_alert_text_cannot_mention_the_channel_or_forge_links() -> None:
    evil = incident(
        title="<!channel> pay me <https://evil.example|click>", reasons=[{"text": "<!everyone>", "weight": 1}]
    )
    message = root_message(evil)
    # Mentions and links only work in mrkdwn (plain_text, as in the header, is shown literally).
    text = json.dumps(_mrkdwn(message.blocks)) + message.text

    assert "<!channel>" not in text and "<!everyone>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text


def test_very_long_texts_and_many_alerts_stay_within_limits_and_link_to_the_rest() -> None:
    huge = "x" * 10_000
    long_incident = incident(
        title=huge,
        service="s" * 5000,
        reasons=[{"text": huge, "weight": 0.5}] * 3,
        alert_count=100_000,
        firing_count=99_999,
    )
    link = "https://sevbot.internal/incidents/7"
    root = root_message(long_incident, links={"incident": link})
    within_limits(root)
    assert any(link in json.dumps(b) and "full text" in json.dumps(b) for b in root.blocks)

    many = [{"kind": "alert.joined", "alertname": f"Alert{i}-" + "y" * 300} for i in range(50)]
    lines = blocks.changes_text(many, incident=long_incident, total=5000)
    reply = blocks.reply_message(lines, link=link)
    within_limits(reply)
    assert reply.text.startswith(":heavy_plus_sign: 5000 more alerts joined: Alert0-")
    assert reply.blocks[0]["text"]["text"].endswith(f"… <{link}|full text>")

    draft = blocks.draft_message(
        kind="summary", source="llm", model="gpt-4o-mini", text=("para " * 200 + "\n\n") * 200, link=link
    )
    within_limits(draft)
    assert len(draft.blocks) == blocks.MAX_BLOCKS and "left out" in json.dumps(draft.blocks[-1])
    assert draft.blocks[0]["elements"][0]["text"].startswith("*AI draft (gpt-4o-mini)*")

    why = blocks.explanation_blocks(7, ["z" * 5000] * 100, link=link)
    within_limits(why)


def test_cutting_never_leaves_half_an_escape_or_half_a_link() -> None:
    assert blocks.cut("a" * 10, 20) == "a" * 10
    assert blocks.cut("ab &amp; cd", 9) == "ab &amp;…"
    assert blocks.cut("ab &amp; cd", 7) == "ab …"
    assert blocks.cut("see <https://x.example/very/long|here> now", 25) == "see …"
    assert blocks.cut("z" * 100, 50, "https://l.example").endswith("… <https://l.example|full text>")
    assert len(blocks.cut("z" * 100, 50, "https://l.example")) <= 50


def test_changes_read_as_sentences_in_the_thread() -> None:
    acked = incident(status="acknowledged", acknowledged_at=T0, acknowledged_by="U0BOB")
    lines = blocks.changes_text(
        [
            {"kind": "alert.joined", "alertname": "A"},
            {"kind": "alert.joined", "alertname": "B"},
            {"kind": "alert.resolved"},
            {"kind": "severity.changed", "from": "SEV3", "to": "SEV2"},
            {
                "kind": "severity.changed",
                "from": "SEV2",
                "to": "SEV1",
                "by": "U0BOB",
                "reason": "customers hit",
            },
            {"kind": "incident.acknowledged", "by": "U0BOB"},
            {"kind": "incident.flapping"},
            {"kind": "incident.resolved"},
            {"kind": "incident.noise", "by": "U0BOB"},
        ],
        incident=acked,
    )
    assert lines[0] == ":heavy_plus_sign: 2 more alerts joined: A, B"
    assert lines[1] == ":large_green_circle: 1 alert resolved."
    assert lines[2] == ":label: Severity SEV3 → SEV2 (from the alerts)."
    assert lines[3] == ":label: Severity SEV2 → SEV1 by <@U0BOB>: customers hit"
    assert lines[4].startswith(":raised_hand: Acknowledged by <@U0BOB> <!date^")
    assert "Flapping" in lines[5] and "all its alerts resolved" in lines[6] and "noise" in lines[7]


def _mrkdwn(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["text"]] if value.get("type") == "mrkdwn" else []
        return found + [t for v in value.values() for t in _mrkdwn(v)]
    if isinstance(value, list):
        return [t for v in value for t in _mrkdwn(v)]
    return []
