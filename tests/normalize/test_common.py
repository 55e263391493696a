"""Fingerprints, group keys and PromQL extraction shared by every normalizer."""

from __future__ import annotations

from bot.normalize.common import MAX_GROUP_KEY, label_fingerprint, label_group_key, promql_from_generator_url


def test_fingerprint_is_stable_whatever_the_label_order() -> None:
    assert label_fingerprint({"a": "1", "b": "2"}) == label_fingerprint({"b": "2", "a": "1"})
    assert label_fingerprint({"a": "1"}) != label_fingerprint({"a": "2"})


def test_group_key_takes_the_first_present_alternative() -> None:
    by = ["alertname", "service|job", "namespace|cluster", "env"]

    assert (
        label_group_key({"alertname": "X", "job": "api", "env": "prod"}, by)
        == "{alertname=X,job=api,env=prod}"
    )
    assert label_group_key({"alertname": "X", "service": "s", "job": "j"}, by) == "{alertname=X,service=s}"


def test_overlong_group_keys_are_shortened_but_stay_distinct() -> None:
    a = label_group_key({"alertname": "a" * 3000}, ["alertname"])
    b = label_group_key({"alertname": "a" * 2999 + "b"}, ["alertname"])

    assert len(a) <= MAX_GROUP_KEY
    assert a != b


def test_promql_comes_from_the_generator_url() -> None:
    url = "http://p:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1"

    assert promql_from_generator_url(url) == "rate(x[5m]) > 1"
    assert promql_from_generator_url("https://grafana/alerting/view") is None
    assert promql_from_generator_url(None) is None
