"""Words of alert text: camelCase and snake_case split, templates dropped, stems, 4-grams, a bounded memo."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import text as text_module
from analytics.explain import describe_signal
from analytics.features import FeatureOptions, alert_features
from analytics.text import name_grams, stem, words
from tests.support.alerts import make_alert


def test_words_split_camel_and_snake_case_and_drop_templates() -> None:
    assert words("KubePodCrashLooping") == ("kube", "pod", "crash", "looping")
    assert words("node_filesystem_avail_bytes") == ("node", "filesystem", "avail", "bytes")
    assert words("HTTPServerErrors on {{ $labels.instance }}") == ("http", "server", "errors")


def test_name_grams_and_stems_are_options() -> None:
    assert name_grams("PodDown") == ("<pod", "pod>", "<dow", "down", "own>")
    alert = make_alert(labels={"alertname": "ProcessRestarting"}, annotations={"summary": "It restarted"})
    plain = alert_features(alert)
    assert not any(name.startswith("gram:") for name in plain) and "name:restart" not in plain
    grams = alert_features(alert, options=FeatureOptions(name_grams=0.5))
    assert grams["gram:tart"] == 0.5 and grams["gram:<res"] == 0.5
    assert describe_signal("gram", ["gram:<res", "gram:tart"], alert) == (
        "its name is spelt like names seen in training (2 letter groups)"
    )
    stemmed = alert_features(alert, options=FeatureOptions(stems=True))
    assert {"name:restarting", "name:restart", "text:restarted", "text:restart"} <= stemmed.keys()
    assert [stem(w) for w in ("restarted", "failures", "process", "status", "errors", "up")] == [
        "restart",
        "fail",
        "process",
        "status",
        "error",
        "up",
    ]


def test_words_of_rendered_text_are_those_of_its_tokens_and_the_token_memo_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (
        "KubeAPIDown on node-3: HTTPServer2Errors\tfor {{ $labels.job }} job_name=api_gatewayV2 (value 0.93)"
    )
    expected = ("kube", "api", "down", "node", "http", "server2", "errors", "job", "name", "gateway", "v2")
    assert words(text) == expected
    monkeypatch.setattr(text_module, "_TOKEN_CACHE_LIMIT", 4)
    text_module._TOKEN_WORDS.clear()
    assert words(text) == expected  # the memo was cleared on the way and the answer is the same
    assert len(text_module._TOKEN_WORDS) <= 4


# --- linear time, the same words -------------------------------------------------------------------------
# The patterns words() used before it was made linear: the reference the new code must agree with.
OLD_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
OLD_WORD = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*")


def old_words(text: str) -> tuple[str, ...]:
    """words() as it was before it was made linear (quadratic on runs of digits and unclosed ``{{``)."""
    text = OLD_TEMPLATE.sub(" ", text)
    seen: dict[str, None] = {}
    for token in text.split():
        if token.islower() or (token.isalpha() and token.isupper()):
            pieces = OLD_WORD.findall(token.lower().replace("_", " "))
        else:
            pieces = OLD_WORD.findall(text_module._CAMEL.sub(" ", token).lower().replace("_", " "))
        for word in pieces:
            if len(word) > 1 and word not in text_module.STOPWORDS:
                seen[word] = None
    return tuple(seen)


def test_words_are_unchanged_on_the_real_rules(real_rules: list[dict[str, Any]]) -> None:
    texts = [
        str(rule.get(key) or "") for rule in real_rules for key in ("alertname", "summary", "description")
    ]
    assert len(texts) > 9000

    changed = [text for text in texts if words(text) != old_words(text)]

    assert changed == []


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.text(alphabet="aZ1_ .-{}\n\tÉ", max_size=40))
def test_words_agree_with_the_old_patterns_on_any_short_text(text: str) -> None:
    assert words(text) == old_words(text)
    assert text_module.strip_templates(text) == OLD_TEMPLATE.sub(" ", text)


def test_long_text_and_long_tokens_are_cut_before_any_pattern_reads_them() -> None:
    digits = "7" * 100_000  # the old word pattern needed minutes for this one token
    assert words(f"{digits}disk full") == ()  # the token's first MAX_TOKEN characters are all digits
    assert words("x" * (text_module.MAX_TOKEN - 4) + "DiskFull cpu") == ("x" * 252, "disk", "cpu")
    assert words("disk " * 2000 + "latency") == ("disk",)  # "latency" starts after MAX_TEXT characters
    assert words("{{" * 2000 + " cpu") == ("cpu",)  # unclosed templates are kept as text, read once
