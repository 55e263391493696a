"""Feature extraction: what an alert and its context turn into."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics import text as text_module
from analytics.explain import describe_feature
from analytics.features import FeatureOptions, alert_features
from analytics.promql import duration_minutes, expression_features
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import ScoringContext
from analytics.text import name_grams, stem, words


def make_alert(**overrides: object) -> AlertRecord:
    fields: dict[str, object] = {
        "source": "alertmanager",
        "fingerprint": "f1",
        "status": AlertStatus.FIRING,
        "labels": {"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": "shop-prod"},
        "annotations": {"summary": "Pod is crash looping", "description": "Container restarts often."},
        "starts_at": datetime(2025, 3, 8, 2, 30, tzinfo=UTC),  # a Saturday night
        "ends_at": None,
        "group_key": "g",
    }
    fields.update(overrides)
    return AlertRecord(**fields)  # type: ignore[arg-type]


def test_words_split_camel_and_snake_case_and_drop_templates() -> None:
    assert words("KubePodCrashLooping") == ("kube", "pod", "crash", "looping")
    assert words("node_filesystem_avail_bytes") == ("node", "filesystem", "avail", "bytes")
    assert words("HTTPServerErrors on {{ $labels.instance }}") == ("http", "server", "errors")


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


def test_alert_features_cover_name_text_severity_labels_time() -> None:
    features = alert_features(make_alert(values={"for": "15m"}))
    assert {"name:crash", "text:restarts", "topic:crash", "sev:critical", "sevmap:SEV1"} <= features.keys()
    assert {"has:namespace", "label:namespace=shop-prod", "env:prod", "for:le15m"} <= features.keys()
    assert {"hour:night", "day:weekend"} <= features.keys()
    assert not any(name.startswith("label:severity") for name in features)


def test_source_severity_can_be_left_out_for_training_on_rule_files() -> None:
    features = alert_features(make_alert(), options=FeatureOptions(include_source_severity=False))
    assert not any(name.startswith(("sev:", "sevmap:")) for name in features)


def test_expression_comes_from_the_generator_url_when_not_given() -> None:
    alert = make_alert(
        generator_url="http://prom:9090/graph?g0.expr=absent%28up%7Bjob%3D%22api%22%7D%29&g0.tab=1"
    )
    assert "fn:absent" in alert_features(alert)


def test_context_features_appear_only_when_there_is_context() -> None:
    quiet = alert_features(make_alert(), ScoringContext())
    assert not any(name.startswith("ctx:") for name in quiet)

    busy = ScoringContext(
        service_criticality="Critical",
        service_alerts_5m=10,
        service_alerts_60m=40,
        service_usual_per_hour=2.0,
        group_alerts_5m=8,
        flapping=True,
        duplicates=3,
        past_ratings={"SEV1": 3, "SEV3": 1},
    )
    features = alert_features(make_alert(), busy)
    assert {"ctx:criticality=critical", "ctx:burst", "ctx:rate_ratio", "ctx:group_5m"} <= features.keys()
    assert {"ctx:flapping", "ctx:duplicates", "ctx:rated=SEV1", "ctx:rated=SEV3"} <= features.keys()
    assert features["ctx:rated=SEV1"] > features["ctx:rated=SEV3"]
    assert alert_features(make_alert(), busy, options=FeatureOptions(include_context=False)).keys() == (
        alert_features(make_alert()).keys()
    )


def test_describe_feature_puts_features_in_plain_words() -> None:
    alert = make_alert(labels={"alertname": "HighErrorRate", "service": "checkout"})
    context = ScoringContext(service_alerts_5m=5, service_alerts_60m=24, service_usual_per_hour=2.0)
    assert describe_feature("ctx:rate_ratio", 1.0, alert, context) == "30× the usual alert rate for checkout"
    assert "burst on checkout" in describe_feature("ctx:burst", 1.0, alert, context)
    assert describe_feature("sev:critical", 1.0, alert, context) == "source says critical"
    assert describe_feature("fn:absent", 0.5, alert, context) == "query uses absent()"
    assert describe_feature("hour:night", 1.0, alert, context) == "night (00–06 UTC)"


def test_name_grams_and_stems_are_options() -> None:
    assert name_grams("PodDown") == ("<pod", "pod>", "<dow", "down", "own>")
    alert = make_alert(labels={"alertname": "ProcessRestarting"}, annotations={"summary": "It restarted"})
    plain = alert_features(alert)
    assert not any(name.startswith("gram:") for name in plain) and "name:restart" not in plain
    grams = alert_features(alert, options=FeatureOptions(name_grams=0.5))
    assert grams["gram:tart"] == 0.5 and grams["gram:<res"] == 0.5
    assert describe_feature("gram:<res", 0.5, alert, None) == "alert name contains “res”"
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
