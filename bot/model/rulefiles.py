"""Load a team's Prometheus alerting rules from files into training examples (edge: reads files, parses YAML).

Data flow: ``sevbot model train|evaluate --rules PATH…`` ─► :func:`load_rule_paths` ─► :class:`RuleLoad`
(rules plus one :class:`FileReport` per file) ─► :func:`rule_examples` ─►
``analytics.training.train_team_model`` / ``analytics.evaluate.evaluate``.

Understood shapes: plain rule files (``groups: [{name, rules}]``), a bare list of groups, Kubernetes
``PrometheusRule`` objects (``spec.groups``), ``List`` objects and ``ConfigMap`` data holding rule files,
multi-document YAML (Helm-rendered output), Helm templates (``.tpl`` and files with ``{{ .Values … }}``:
control lines dropped, escaped Prometheus templates unescaped, the remaining Helm expressions replaced by
``TEMPLATED``), and the awesome-prometheus-alerts catalogue (``groups[].services[].exporters[].rules[]``).
Every file either loads (N rules, M skipped for having no severity) or is reported with its reason.

A rule file may come from anywhere a team keeps one, so no file can stall or crash a training run: files
are read up to :data:`MAX_RULE_FILE_BYTES`, a document may nest :data:`MAX_NESTING` levels and hold
:data:`MAX_VALUES` values with its YAML aliases expanded (an alias bomb or an alias of itself is
refused, naming why), and the Helm patterns run on RE2, whose time is linear in the text (Python's ``re``
took minutes on 80 kB of unclosed ``{{`` and seconds on one line of 24 ``{{ if }}``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from analytics.examples import LoadedRule, RuleExamples, examples_from_rules
from analytics.scoring import SEVERITY_LABELS
from bot.linear_re import compile_linear
from bot.yaml_shape import check_shape

RULE_EXTENSIONS = (".yaml", ".yml", ".json", ".tpl", ".alerts", ".rules")
PLACEHOLDER = "TEMPLATED"

MAX_RULE_FILE_BYTES = 16 << 20  # the largest published rule file seen is about 0.5 MB
MAX_NESTING = 64  # levels of mappings and lists in one document
MAX_VALUES = 1_000_000  # values of one document with its aliases expanded (published files: 15,000 at most)


_HELM_MARKERS = compile_linear(
    r"\{\{-|-\}\}|\{\{`|\.Values\b|\.Release\b|\.Chart\b|\{\{\s*(?:include|template|define|required|toYaml|tpl)\b"
)
_ESCAPED = compile_linear(r"(?s)\{\{`(.*?)`\}\}")
_ESCAPED_BRACES = compile_linear(r"\{\{\s*\"(\{\{|\}\})\"\s*\}\}")
_ACTION = compile_linear(r"(?s)\{\{-?(.*?)-?\}\}")
_CONTROL_LINE = compile_linear(
    r"\s*(?:\{\{-?\s*(?:(?:if|else|end|range|with|template|block|fail)\b|\$\w+\s*:?=).*?-?\}\}\s*)+(?:#.*)?"
)
_COMMENT = compile_linear(r"(?s)\{\{-?\s*/\*.*?\*/\s*-?\}\}")
_DEFINE = compile_linear(r"\{\{-?\s*define\b")
_ASSIGN = compile_linear(r"\{\{-?\s*\$(\w+)\s*:?=\s*\"([^\"]*)\"\s*-?\}\}")
_PROMETHEUS_REF = compile_linear(r"(?:\$labels|\$value|\$externalLabels|\.Labels|\.Value)\b")
_KEPT = compile_linear(r"\x00(\d+)\x00")


@dataclass(frozen=True, slots=True)
class FileReport:
    """What happened to one file: loaded with counts, or rejected with a reason."""

    path: str
    loaded: bool
    shape: str | None = None  # rule-file | prometheus-rule | configmap | helm-template | catalogue
    rules: int = 0
    skipped_no_severity: int = 0
    reason: str | None = None

    def describe(self) -> str:
        if self.loaded:
            skipped = self.skipped_no_severity
            return f"{self.path}: {self.rules} rules, {skipped} skipped for no severity ({self.shape})"
        return f"{self.path}: not loaded: {self.reason}"


@dataclass(frozen=True, slots=True)
class RuleLoad:
    rules: tuple[LoadedRule, ...]
    files: tuple[FileReport, ...]

    @property
    def skipped_no_severity(self) -> int:
        return sum(f.skipped_no_severity for f in self.files)

    @property
    def rejected(self) -> tuple[FileReport, ...]:
        return tuple(f for f in self.files if not f.loaded)


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_rule_paths(paths: Iterable[str | Path]) -> RuleLoad:
    """Load every file under the given files and directories (sorted; hidden entries ignored)."""
    rules: list[LoadedRule] = []
    files: list[FileReport] = []
    for path in _walk(paths):
        load = load_rule_file(path)
        rules.extend(load.rules)
        files.extend(load.files)
    return RuleLoad(rules=tuple(rules), files=tuple(files))


def _walk(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield path


def load_rule_file(path: str | Path) -> RuleLoad:
    """Load one file; never raises for bad content (the report says why it did not load)."""
    path = Path(path)
    name = str(path)
    if not path.name.lower().endswith(RULE_EXTENSIONS):
        suffix = path.suffix or "no extension"
        return _rejected(name, f"not a rule file: {suffix}")
    try:
        if not path.is_file():  # a FIFO or a device named *.yaml would block the read or never end
            return _rejected(name, "not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_RULE_FILE_BYTES + 1)
    except OSError as exc:
        return _rejected(name, f"unreadable: {exc.strerror or exc}")
    if len(data) > MAX_RULE_FILE_BYTES:
        return _rejected(name, f"larger than {MAX_RULE_FILE_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _rejected(name, "not UTF-8 text")
    return parse_rule_text(text, path=name)


def parse_rule_text(text: str, *, path: str) -> RuleLoad:
    """Parse the text of one rule file (any of the shapes in the module docstring)."""
    helm = path.endswith(".tpl") or bool(_HELM_MARKERS.search(text))
    if helm:
        text = render_helm_placeholders(text)
    try:
        documents = _parse_documents(text, json_first=path.endswith(".json"))
    except _Rejected as exc:
        reason = f"templated: {exc.reason} after placeholder substitution" if helm else exc.reason
        return _rejected(path, reason)
    if not any(doc is not None for doc in documents):
        return _rejected(path, "empty file")
    shapes: list[str] = []
    rules: list[LoadedRule] = []
    skipped = 0
    budget = _InnerText(MAX_RULE_FILE_BYTES)
    try:
        for doc in documents:
            for shape, group_name, rule in _rules_of(doc, budget):
                shapes.append(shape)
                if rule is None:
                    continue
                loaded = _loaded_rule(rule, group=group_name, path=path, helm=helm)
                if loaded is None:
                    skipped += 1
                else:
                    rules.append(loaded)
    except _Rejected as exc:
        return _rejected(path, exc.reason)
    if not shapes:
        return _rejected(path, _not_a_rule_file_reason(documents))
    shape = "helm-template" if helm else Counter(shapes).most_common(1)[0][0]
    report = FileReport(path=path, loaded=True, shape=shape, rules=len(rules), skipped_no_severity=skipped)
    return RuleLoad(rules=tuple(rules), files=(report,))


def _rejected(path: str, reason: str) -> RuleLoad:
    return RuleLoad(rules=(), files=(FileReport(path=path, loaded=False, reason=reason),))


def render_helm_placeholders(text: str) -> str:
    """Make a Helm template parseable YAML: the rule text stays, Helm's own expressions become placeholders.

    Comments and ``define`` blocks are dropped, lines holding only control actions (``if``/``else``/``end``/
    ``range``/``with``/assignments) are dropped so both branches stay, escaped Prometheus templates
    (``{{`{{ $labels.x }}`}}``) are unescaped, variables assigned a string literal are substituted, and every
    other action becomes ``TEMPLATED``.
    """
    text = _COMMENT.sub("", text)
    text = _ACTION.sub(lambda m: m.group(0).replace("\n", " "), text)  # one line per action
    literals: dict[str, str] = {name: value for name, value in _ASSIGN.findall(text)}
    lines: list[str] = []
    depth = 0
    for line in text.splitlines():
        if depth == 0 and not _DEFINE.search(line):
            if not _CONTROL_LINE.fullmatch(line):
                lines.append(line)
            continue
        for action in _ACTION.findall(line):
            keyword = action.strip().split(" ", 1)[0]
            if keyword in ("define", "if", "range", "with", "block"):
                depth += 1
            elif keyword == "end":
                depth -= 1
        depth = max(depth, 0)
    text = "\n".join(lines)
    text = _ESCAPED_BRACES.sub(lambda m: "{{" if m.group(1) == "{{" else "}}", text)
    escaped: list[str] = []

    def keep(match: Any) -> str:
        escaped.append(match.group(1))
        return f"\x00{len(escaped) - 1}\x00"

    def replace(match: Any) -> str:
        action = match.group(1).strip()
        if action.startswith("$") and action[1:] in literals:
            return literals[action[1:]]
        whole: str = match.group(0)
        return whole if _PROMETHEUS_REF.match(action) else PLACEHOLDER

    text = _ACTION.sub(replace, _ESCAPED.sub(keep, text))
    rendered: str = _KEPT.sub(lambda m: escaped[int(m.group(1))], text)
    return rendered


def _parse_documents(text: str, *, json_first: bool) -> list[Any]:
    if json_first:
        try:
            documents = [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise _Rejected(f"parse error: invalid JSON at line {exc.lineno}") from exc
        except RecursionError as exc:
            raise _Rejected(f"parse error: nested deeper than {MAX_NESTING} levels") from exc
    else:
        documents = _load_yaml(text)
    for document in documents:
        _check_shape(document)
    return documents


def _load_yaml(text: str) -> list[Any]:
    """Every YAML document of ``text``; ``_Rejected`` naming the line of a syntax error."""
    try:
        return list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else "?"
        raise _Rejected(f"parse error: {exc.problem or 'invalid YAML'} at line {line}") from exc
    except yaml.YAMLError as exc:
        raise _Rejected("parse error: invalid YAML") from exc
    except RecursionError as exc:  # PyYAML composes nested nodes recursively
        raise _Rejected(f"parse error: nested deeper than {MAX_NESTING} levels") from exc


def _check_shape(document: Any) -> None:
    try:
        check_shape(document, max_nesting=MAX_NESTING, max_values=MAX_VALUES)
    except ValueError as exc:
        raise _Rejected(f"parse error: {exc}") from None


def _not_a_rule_file_reason(documents: list[Any]) -> str:
    for doc in documents:
        if isinstance(doc, dict) and "rule_files" in doc and "tests" in doc:
            return "not a rule file: promtool unit-test file"
        if isinstance(doc, dict) and doc.get("kind"):
            return f"not a rule file: Kubernetes {doc['kind']} without rule groups"
    return "not a rule file: no rule groups found"


GroupRule = tuple[str, str, Mapping[str, Any] | None]


@dataclass
class _InnerText:
    """What is left to parse of the rule files held as strings in a file's ConfigMaps: an alias may name
    one string many times, and each would be parsed again."""

    chars: int

    def spend(self, text: str) -> None:
        self.chars -= len(text)
        if self.chars < 0:
            raise _Rejected(
                f"not a rule file: its ConfigMaps hold more than {MAX_RULE_FILE_BYTES >> 20} MiB of rules"
            )


def _rules_of(doc: Any, budget: _InnerText) -> Iterator[GroupRule]:
    """(shape, group name, rule) for every alerting rule in a document; rule None for an empty group."""
    if isinstance(doc, list):
        if doc and all(isinstance(g, dict) and "rules" in g for g in doc):
            yield from _groups(doc, "rule-file")
        return
    if not isinstance(doc, dict):
        return
    kind = doc.get("kind")
    if kind == "PrometheusRule":
        spec = doc.get("spec") or {}
        yield from _groups(spec.get("groups") or [], "prometheus-rule")
    elif kind == "List":
        for item in doc.get("items") or []:
            yield from _rules_of(item, budget)
    elif kind == "ConfigMap":
        for value in (doc.get("data") or {}).values():
            if isinstance(value, str) and "groups" in value:
                budget.spend(value)
                try:
                    inner = _load_yaml(value)
                except _Rejected:
                    continue
                for sub in inner:
                    _check_shape(sub)
                    for _, group_name, rule in _rules_of(sub, budget):
                        yield "configmap", group_name, rule
    elif isinstance(doc.get("groups"), list):
        groups = doc["groups"]
        if any(isinstance(g, dict) and "services" in g for g in groups):
            yield from _catalogue(groups)
        else:
            yield from _groups(groups, "rule-file")
    elif isinstance(doc.get("rules"), list) and "name" in doc:
        yield from _groups([doc], "rule-file")
    elif "alert" in doc and "expr" in doc:  # a single rule (e.g. one rule per Helm template file)
        yield "rule-file", "", doc


def _groups(groups: Any, shape: str) -> Iterator[GroupRule]:
    if not isinstance(groups, list):
        raise _Rejected("not a rule file: 'groups' is not a list")
    for group in groups:
        if not isinstance(group, dict):
            raise _Rejected("not a rule file: a group is not a mapping")
        name = str(group.get("name") or "")
        rules = group.get("rules") or []
        if not isinstance(rules, list):
            raise _Rejected(f"not a rule file: rules of group {name!r} are not a list")
        yield shape, name, None
        for rule in rules:
            if isinstance(rule, dict) and "alert" in rule:
                yield shape, name, rule


def _catalogue(groups: list[Any]) -> Iterator[GroupRule]:
    """The awesome-prometheus-alerts ``rules.yml`` shape, turned into ordinary rules."""
    for group in groups:
        for service in (group or {}).get("services") or []:
            service_name = str((service or {}).get("name") or "")
            yield "catalogue", service_name, None
            for exporter in (service or {}).get("exporters") or []:
                for entry in (exporter or {}).get("rules") or []:
                    if not isinstance(entry, dict) or "name" not in entry:
                        continue
                    labels = {"severity": entry["severity"]} if entry.get("severity") else {}
                    rule = {
                        "alert": "".join(w[:1].upper() + w[1:] for w in str(entry["name"]).split()),
                        "expr": str(entry.get("query") or ""),
                        "for": entry.get("for"),
                        "labels": labels,
                        "annotations": {
                            "summary": str(entry["name"]),
                            "description": str(entry.get("description") or ""),
                        },
                    }
                    yield "catalogue", service_name, rule


def _loaded_rule(rule: Mapping[str, Any], *, group: str, path: str, helm: bool) -> LoadedRule | None:
    raw_labels = rule.get("labels") or {}
    labels = {str(k): _text(v) for k, v in raw_labels.items()} if isinstance(raw_labels, dict) else {}
    severity = next((labels[k] for k in SEVERITY_LABELS if labels.get(k)), None)
    if not severity:
        return None
    annotations = rule.get("annotations") or {}
    if not isinstance(annotations, dict):
        annotations = {}
    alertname = _text(rule.get("alert"))
    expr = _text(rule.get("expr"))
    summary = _text(annotations.get("summary") or annotations.get("message") or annotations.get("title"))
    description = _text(annotations.get("description"))
    for_duration = _text(rule.get("for")) or None
    fields = (alertname, expr, summary, description, *labels.values())
    return LoadedRule(
        alertname=alertname,
        expr=expr,
        for_duration=for_duration,
        labels={k: v for k, v in labels.items() if k not in SEVERITY_LABELS},
        summary=summary,
        description=description,
        severity=severity,
        group=group or Path(path).stem,
        path=path,
        templated=helm and any(PLACEHOLDER in f for f in fields),
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def rule_examples(load: RuleLoad | Iterable[LoadedRule], *, weight: float = 1.0) -> RuleExamples:
    """Training examples from loaded rules (see ``analytics.examples.examples_from_rules``)."""
    return examples_from_rules(load.rules if isinstance(load, RuleLoad) else tuple(load), weight=weight)
