"""The bundled catalogue of alert archetypes: size, coverage, reproducibility, and none of it copied."""

from __future__ import annotations

import json
from pathlib import Path

from analytics.catalogue import COMPONENTS, _fill, catalogue_examples, load_archetypes
from analytics.records import Severity

CATEGORIES = {
    "availability",
    "latency",
    "errors",
    "saturation",
    "capacity",
    "certificates",
    "backups",
    "batch",
    "security",
    "deploys",
    "data pipelines",
    "info",
}


def test_several_hundred_archetypes_across_every_category_and_level() -> None:
    archetypes = load_archetypes()
    assert len(archetypes) >= 300
    assert {a.category for a in archetypes} == CATEGORIES
    assert {a.level for a in archetypes} == set(Severity)
    assert all(a.kind in COMPONENTS for a in archetypes)
    assert len({(a.kind, a.name) for a in archetypes}) == len(archetypes)
    for category in CATEGORIES:
        assert sum(a.category == category for a in archetypes) >= 8, category


def test_examples_are_reproducible_for_a_seed_and_differ_between_seeds() -> None:
    first, again, other = (catalogue_examples(seed=s, variants=2) for s in (1, 1, 2))
    assert first == again
    assert first != other
    assert len(first) == 2 * len(load_archetypes())


def test_no_summary_or_description_is_copied_from_the_public_rule_files(
    real_rules: list[dict[str, object]], shared_data: Path
) -> None:
    def norm(text: str) -> str:
        return " ".join(text.lower().split())

    real = {norm(str(r[key])) for r in real_rules for key in ("summary", "description") if r.get(key)}
    ours = {
        norm(_fill(text, component))
        for a in load_archetypes()
        for component in COMPONENTS[a.kind]
        for text in (a.summary, a.description)
    }
    assert len(real) > 1000
    assert not ours & real
    assert json.loads((shared_data / "upstream" / "SOURCES.json").read_text())
