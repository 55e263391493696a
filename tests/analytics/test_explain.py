"""Explanations: signals in plain words, each once, that add up to the score, rendered with signs."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.explain import describe_signal, merge_signals, render_reason, signal_of, signed
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import Reason


def make_alert(name: str = "NodeDown") -> AlertRecord:
    return AlertRecord(
        source="alertmanager",
        fingerprint="f1",
        status=AlertStatus.FIRING,
        labels={"alertname": name, "team": "sre"},
        annotations={"summary": "Node is down", "description": "The node stopped answering."},
        starts_at=datetime(2025, 3, 8, 2, 30, tzinfo=UTC),
        ends_at=None,
        group_key="g",
    )


def test_features_that_say_the_same_thing_are_one_signal() -> None:
    assert {signal_of(n) for n in ("name:down", "text:down", "topic:down", "mword:down", "tok:down")} == {
        "word:down"
    }
    assert {signal_of(n) for n in ("cmp:>", "thr:pct90", "check:>pct90")} == {"check"}
    assert {signal_of(n) for n in ("has:team", "label:team=sre")} == {"label:team"}
    assert signal_of("fn:absent") == "fn:absent"


def test_a_signal_reads_as_a_sentence_about_the_alert() -> None:
    alert = make_alert()
    assert describe_signal("word:down", ["name:down", "text:down", "topic:down"], alert) == (
        "its name and text say “down”"
    )
    assert describe_signal("word:down", ["tok:down"], alert) == "its name says “down”"
    assert describe_signal("word:stopped", ["tok:stopped"], alert) == "its text says “stopped”"
    assert describe_signal("check", ["cmp:>", "thr:pct90", "check:>pct90"], alert) == (
        "it fires when its query is > 90–94%"
    )
    assert describe_signal("label:team", ["has:team", "label:team=sre"], alert) == "it has the label team=sre"
    assert describe_signal("fn:absent", ["fn:absent"], alert) == "its query uses absent()"
    assert describe_signal("for:le5m", ["for:le5m"], alert) == "it must hold 1–5 min before firing"


def test_merged_signals_add_up_to_the_features_terms() -> None:
    names = ["name:down", "text:down", "topic:down", "fn:absent", "has:team", "label:team=sre"]
    weights = [0.5, 0.25, 0.125, -0.3, 0.01, 0.02]
    merged = merge_signals(names, weights, make_alert())
    assert [c.feature for c in merged] == ["word:down", "fn:absent", "label:team"]
    assert abs(sum(c.weight for c in merged) - sum(weights)) < 1e-15
    assert merged[0].weight == 0.875 and merged[0].value == 3.0


def test_reasons_render_in_plain_words_with_signs() -> None:
    assert render_reason(Reason("source says critical", 4.0)) == "source says critical +4.0"
    assert render_reason(Reason("it is flapping", -0.75)) == "it is flapping \u22120.8"
    assert render_reason(Reason("its name says “disk”", 0.04)) == "its name says “disk” +0.04"
    assert signed(-0.001) == "±0"
