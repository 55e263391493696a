"""Loading a team's Prometheus rule files in every shape they come in (bot/rulefiles.py)."""

from __future__ import annotations

import collections
import os
import textwrap
import time
from pathlib import Path
from typing import Any

from analytics.records import Severity
from bot.model import rulefiles
from bot.model.rulefiles import (
    load_rule_file,
    load_rule_paths,
    parse_rule_text,
    render_helm_placeholders,
    rule_examples,
)

PLAIN = """
groups:
  - name: shop.rules
    rules:
      - alert: CartDown
        expr: up{job="cart"} == 0
        for: 5m
        labels: {severity: critical, team: shop}
        annotations: {summary: Cart is down, description: "No cart target answers on {{ $labels.instance }}."}
      - alert: CartSlow
        expr: histogram_quantile(0.99, rate(cart_latency_seconds_bucket[5m])) > 2
        labels: {severity: warning}
      - alert: CartNoSeverity
        expr: cart_errors_total > 0
      - record: job:cart_errors:rate5m
        expr: rate(cart_errors_total[5m])
"""

MANIFESTS = """
# Source: shop/templates/rules.yaml
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: shop}
spec:
  groups:
    - name: shop.k8s
      rules:
        - alert: ShopPodsPending
          expr: kube_pod_status_phase{phase="Pending", namespace="shop"} > 0
          for: 15m
          labels: {severity: info}
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata: {name: shop}
---
apiVersion: v1
kind: List
items:
  - apiVersion: monitoring.coreos.com/v1
    kind: PrometheusRule
    spec:
      groups:
        - name: shop.more
          rules:
            - alert: ShopQueueStuck
              expr: shop_queue_depth > 1000
              labels: {severity: P2}
---
apiVersion: v1
kind: ConfigMap
data:
  alerts.yml: |
    groups:
      - name: shop.cm
        rules:
          - alert: ShopCertExpiring
            expr: shop_cert_expiry_days < 14
            labels: {severity: low}
"""

HELM = """{{- if .Values.alerts.enabled }}
{{- $svc := "shop" -}}
- name: {{ include "shop.fullname" . }}.alerts
  rules:
  - alert: {{ $svc | title }}DatabaseConnectionsExhausted
    expr: shop_db_connections{app="{{ include "shop.fullname" . }}"} >= shop_db_max_connections
    for: 10m
    labels:
      severity: critical
      tier: {{ required "tier" .Values.alerts.tier }}
    annotations:
      summary: 'Connections used up on {{`{{ $labels.instance }}`}}'
{{- end }}
"""

CATALOGUE = """
groups:
  - name: Shop things
    services:
      - name: Shop service
        exporters:
          - slug: shop-exporter
            rules:
              - name: Shop basket errors
                description: Basket errors rise above normal.
                query: rate(shop_basket_errors_total[5m]) > 1
                severity: warning
                for: 2m
              - name: Shop info only
                description: Informational.
                query: shop_build_info > 0
"""


def test_plain_rule_file_loads_and_counts_rules_without_severity() -> None:
    load = parse_rule_text(PLAIN, path="shop.yml")
    (report,) = load.files
    assert report.loaded and report.shape == "rule-file"
    assert (report.rules, report.skipped_no_severity) == (2, 1)
    cart = load.rules[0]
    assert (cart.alertname, cart.severity, cart.for_duration, cart.group) == (
        "CartDown",
        "critical",
        "5m",
        "shop.rules",
    )
    assert cart.labels == {"team": "shop"}
    assert "{{ $labels.instance }}" in cart.description


def test_manifests_lists_configmaps_and_multi_document_output_load() -> None:
    load = parse_rule_text(MANIFESTS, path="rendered.yaml")
    assert load.files[0].loaded
    assert [(r.alertname, r.severity) for r in load.rules] == [
        ("ShopPodsPending", "info"),
        ("ShopQueueStuck", "P2"),
        ("ShopCertExpiring", "low"),
    ]


def test_helm_template_is_read_with_placeholders() -> None:
    load = parse_rule_text(HELM, path="_alerts.tpl")
    (report,) = load.files
    assert report.loaded and report.shape == "helm-template"
    (rule,) = load.rules
    assert rule.alertname == "TEMPLATEDDatabaseConnectionsExhausted"
    assert rule.labels["tier"] == "TEMPLATED"
    assert rule.summary == "Connections used up on {{ $labels.instance }}"
    assert rule.templated
    assert "{{ $svc" not in render_helm_placeholders(HELM)


def test_awesome_catalogue_shape_becomes_rules() -> None:
    load = parse_rule_text(CATALOGUE, path="rules.yml")
    (report,) = load.files
    assert (report.shape, report.rules, report.skipped_no_severity) == ("catalogue", 1, 1)
    (rule,) = load.rules
    assert (rule.alertname, rule.group, rule.expr) == (
        "ShopBasketErrors",
        "Shop service",
        "rate(shop_basket_errors_total[5m]) > 1",
    )


def test_bad_files_are_reported_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("groups:\n  - name: x\n    rules: [\n")
    (tmp_path / "tests.yaml").write_text("rule_files: [a.yaml]\ntests: []\n")
    (tmp_path / "empty.yml").write_text("")
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    (tmp_path / "README.md").write_text("# docs\n")
    (tmp_path / "bad.tpl").write_text('{{ include "x" . }}:\n  - [\n')
    (tmp_path / "ok.rules").write_text(PLAIN)
    load = load_rule_paths([tmp_path])
    reasons = {Path(f.path).name: f.reason for f in load.files}
    assert reasons["broken.yaml"] is not None and reasons["broken.yaml"].startswith("parse error")
    assert reasons["tests.yaml"] == "not a rule file: promtool unit-test file"
    assert reasons["empty.yml"] == "empty file"
    assert reasons["values.yaml"] == "not a rule file: no rule groups found"
    assert reasons["README.md"] == "not a rule file: .md"
    assert reasons["bad.tpl"] is not None and reasons["bad.tpl"].startswith("templated: parse error")
    assert reasons["ok.rules"] is None
    assert load.skipped_no_severity == 1
    assert len(load.rejected) == 6


def test_rule_examples_map_severity_strip_the_label_and_count_unknown_words() -> None:
    text = PLAIN.replace("severity: warning", "severity: whatever")
    result = rule_examples(parse_rule_text(text, path="team/shop.yml"))
    (example,) = result.examples
    assert example.level is Severity.SEV1
    assert "severity" not in example.alert.labels
    assert example.alert.expression == 'up{job="cart"} == 0'
    assert example.alert.values == {"for": "5m"}
    assert example.group == "team/shop.yml::shop.rules"
    assert example.origin == "rules"
    assert result.unknown_severity == {"whatever": 1}


def test_every_upstream_file_loads_or_is_reported(
    shared_data: Path, real_rules: list[dict[str, Any]]
) -> None:
    upstream = shared_data / "upstream"
    load = load_rule_paths([upstream])
    on_disk = sorted(str(Path(root) / name) for root, _, names in os.walk(upstream) for name in names)
    assert sorted(f.path for f in load.files) == on_disk
    for report in load.files:
        assert report.loaded or report.reason, report.path
    rule_like = [f for f in load.files if f.path.endswith((".yaml", ".yml", ".tpl", ".alerts"))]
    assert sum(f.loaded for f in rule_like) > 0.9 * len(rule_like)
    # Every rule the pre-extracted JSONL knows is found in its file.
    expected = collections.Counter(
        str(upstream / r["source"].replace("/", "__") / r["path"]) for r in real_rules if r["severity"]
    )
    found = collections.Counter(r.path for r in load.rules)
    assert {p: found[p] for p in expected} == dict(expected)


def test_load_rule_file_reads_one_file(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(PLAIN)
    assert load_rule_file(path).files[0].rules == 2
    assert load_rule_file(tmp_path / "missing.yaml").files[0].reason is not None


# Hostile rule files: each is refused (or loads) at once, naming why; none stalls or raises. Python's `re`
# took minutes on the Helm payloads and the alias bomb asked str() for a string of 10^10 characters.
HOSTILE_BOUND_S = 10.0  # generous: every case below takes milliseconds


def _bomb(levels: int) -> str:
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    last = f"*l{levels - 1}"
    rule = f"  - alert: Laugh\n    expr: up == 0\n    labels: {{severity: critical, x: {last}}}\n"
    return "\n".join(lines) + f"\ngroups:\n- name: g\n  rules:\n{rule}"


def _timed(text: str, path: str) -> tuple[str | None, float]:
    started = time.monotonic()
    load = parse_rule_text(text, path=path)
    return load.files[0].reason, time.monotonic() - started


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    reason, took = _timed(_bomb(10), "bomb.yaml")
    assert reason == "parse error: more than 1,000,000 values with YAML aliases expanded"
    assert took < HOSTILE_BOUND_S
    # a few levels of the same are within bounds and load (aliases are legitimate YAML)
    small = parse_rule_text(_bomb(3), path="small.yaml")
    assert small.files[0].loaded and len(small.rules) == 1


def test_aliases_reused_by_rules_still_load() -> None:
    text = """
common: &common {severity: critical, team: shop}
groups:
  - name: shop
    rules:
      - alert: CartDown
        expr: up{job="cart"} == 0
        labels: *common
      - alert: BasketDown
        expr: up{job="basket"} == 0
        labels: *common
"""
    load = parse_rule_text(text, path="anchors.yaml")
    assert [r.alertname for r in load.rules] == ["CartDown", "BasketDown"]
    assert all(r.labels["team"] == "shop" for r in load.rules)


def test_an_alias_inside_its_own_value_is_refused() -> None:
    for text in ("&a {kind: List, items: [*a]}\n", "kind: List\nitems: &i [{kind: List, items: *i}]\n"):
        reason, took = _timed(text, "self.yaml")
        assert reason == "parse error: a YAML alias refers to the value that holds it"
        assert took < HOSTILE_BOUND_S


def test_deep_nesting_is_refused_in_yaml_and_json() -> None:
    for depth in (65, 5000):
        for text, path in (
            ("[" * depth + "]" * depth, "deep.yaml"),
            ("[" * depth + "]" * depth, "deep.json"),
        ):
            reason, _ = _timed(text, path)
            assert reason == "parse error: nested deeper than 64 levels", (path, depth)
    shallow = parse_rule_text(
        "groups:\n- name: g\n  rules: " + "[" * 60 + "]" * 60 + "\n", path="shallow.yaml"
    )
    assert shallow.files[0].loaded and not shallow.rules  # 60 levels are read (and hold no rule)


def test_helm_text_that_made_re_backtrack_is_read_in_linear_time() -> None:
    unclosed = "{{ .Values.x }}\n" + "{{" * 40_000 + "\n" + "{{/*" * 20_000 + "\n" + "{{`" * 20_000
    reason, took = _timed(unclosed, "unclosed.tpl")
    assert reason == "not a rule file: no rule groups found" and took < HOSTILE_BOUND_S
    # the last line is almost a control line: re tried every way to split it
    control = "# {{ .Values.x }}\n" + PLAIN + "---\n" + "{{ if }}" * 200 + "x\n"
    started = time.monotonic()
    load = parse_rule_text(control, path="control.tpl")
    assert time.monotonic() - started < HOSTILE_BOUND_S
    assert {r.alertname for r in load.rules} == {"CartDown", "CartSlow"}


def test_a_file_over_the_size_limit_or_not_regular_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(rulefiles, "MAX_RULE_FILE_BYTES", 1024)
    (tmp_path / "big.yaml").write_text(PLAIN + "#" * 1024)
    (tmp_path / "ok.yaml").write_text(PLAIN)
    os.mkfifo(tmp_path / "pipe.yaml")  # a read of it would wait for a writer for ever
    reasons = {Path(f.path).name: f.reason for f in load_rule_paths([tmp_path]).files}
    assert reasons == {"big.yaml": "larger than 0 MiB", "ok.yaml": None, "pipe.yaml": "not a regular file"}


def test_configmaps_cannot_parse_one_aliased_string_without_end(monkeypatch: Any) -> None:
    monkeypatch.setattr(rulefiles, "MAX_RULE_FILE_BYTES", len(PLAIN) * 10)
    data = ", ".join(f"k{i}: *rules" for i in range(20))
    text = f"rules: &rules |\n{textwrap.indent(PLAIN, '  ')}\nkind: ConfigMap\ndata: {{{data}}}\n"
    reason, _ = _timed(text, "configmap.yaml")
    assert reason == "not a rule file: its ConfigMaps hold more than 0 MiB of rules"
    few = ", ".join(f"k{i}: *rules" for i in range(5))
    text = f"rules: &rules |\n{textwrap.indent(PLAIN, '  ')}\nkind: ConfigMap\ndata: {{{few}}}\n"
    assert len(parse_rule_text(text, path="configmap.yaml").rules) == 10
