"""PromQL as features: metrics, functions, windows, the comparison; durations; the generator URL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import promql
from analytics.features import alert_features
from analytics.promql import duration_minutes, expression_features, expression_of
from tests.support.alerts import make_alert


def test_expression_features_name_metrics_functions_and_the_comparison() -> None:
    absent = dict(expression_features('absent(up{job="api"})'))
    assert absent["fn:absent"] > 0 and absent["metric:up"] > 0
    assert "metric:api" not in absent  # label values are not metrics

    ratio = dict(
        expression_features(
            'sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))'
            " / sum by (job) (rate(http_requests_total[5m])) > 0.05"
        )
    )
    assert {"fn:rate", "fn:sum", "metric:http_requests_total", "op:by", "cmp:>", "range:le5m"} <= ratio.keys()
    assert "metric:job" not in ratio
    assert ratio["thr:e-2"] == 1.0

    disk = dict(expression_features("node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < 10"))
    assert disk["thr:pct10"] == 1.0 and disk["check:<pct10"] == 1.0

    forecast = dict(expression_features("predict_linear(node_filesystem_free_bytes[6h], 4 * 3600) < 0"))
    assert {"fn:predict_linear", "range:gt1h", "thr:0"} <= forecast.keys()


def test_durations() -> None:
    assert duration_minutes("5m") == 5
    assert duration_minutes("1h30m") == 90
    assert duration_minutes("30s") == 0.5
    assert duration_minutes("") is None
    assert duration_minutes("soon") is None


def test_expression_comes_from_the_generator_url_when_not_given() -> None:
    alert = make_alert(
        generator_url="http://prom:9090/graph?g0.expr=absent%28up%7Bjob%3D%22api%22%7D%29&g0.tab=1"
    )
    assert "fn:absent" in alert_features(alert)


# --- linear time, the same features --------------------------------------------------------------------
# The patterns expression_features() and duration_minutes() used before they were made linear.
OLD_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
OLD_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def test_expression_features_and_durations_are_unchanged_on_the_real_rules(
    real_rules: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    exprs = [str(rule["expr"]) for rule in real_rules if rule.get("expr")]
    durations = [str(rule["for"]) for rule in real_rules if rule.get("for")]
    assert len(exprs) > 3000

    expression_features.cache_clear()
    now = [expression_features(expr) for expr in exprs]
    monkeypatch.setattr(promql, "blank_strings", lambda code: OLD_STRING.sub(" ", code))
    expression_features.cache_clear()
    before = [expression_features(expr) for expr in exprs]
    expression_features.cache_clear()

    assert [e for e, new, old in zip(exprs, now, before, strict=True) if new != old] == []
    assert [d for d in durations if promql._DURATION_PART.findall(d) != OLD_DURATION_PART.findall(d)] == []


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.text(alphabet="\"'`\\\nab 1", max_size=30), st.text(alphabet="12.mshx ", max_size=20))
def test_string_and_duration_scanning_agree_with_the_old_patterns(code: str, duration: str) -> None:
    assert promql.blank_strings(code) == OLD_STRING.sub(" ", code)
    assert promql._DURATION_PART.findall(duration) == OLD_DURATION_PART.findall(duration)


def test_crafted_expressions_give_features_not_errors() -> None:
    huge = dict(expression_features("up > 1e999"))  # reads as infinity
    assert huge["thr:inf"] == 1.0 and huge["check:>inf"] == 1.0
    assert dict(expression_features("up < -1e999"))["thr:neginf"] == 1.0
    assert "metric:up" in dict(expression_features('up{job="' + '\\"' * 5000))  # an unclosed string
    assert duration_minutes("1" * 100_000) is None  # digits without a unit
    alert = make_alert(generator_url="http://[::1/graph?g0.expr=up")  # not a URL: no expression
    assert expression_of(alert) is None
    assert "metric:up" not in alert_features(alert)
