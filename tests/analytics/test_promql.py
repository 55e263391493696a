"""PromQL as features: metrics, functions, windows, the comparison; durations; the generator URL."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.features import alert_features
from analytics.promql import duration_minutes, expression_features
from analytics.records import AlertRecord, AlertStatus


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
