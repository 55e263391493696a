"""Loading a team's Prometheus rule files in every shape they come in (bot/rulefiles.py)."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

from analytics.records import Severity
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
