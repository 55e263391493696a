"""``sevbot model bundle``: build the bundled model from the shared public rules, into the package.

Data flow: ``DIR/alert_rules.jsonl`` (published rules of other organisations, see ``analytics.bundled``)
─► :func:`build_from_data` ─► ``analytics/data/bundled-model.json`` (vocabulary and coefficients only).
The same data and code give the same file (coefficients rounded to ``BUNDLED_DIGITS`` significant digits),
which ``tests/analytics/test_bundled.py`` checks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analytics.artifact import BUNDLED_DIGITS, model_document, save_model
from analytics.bundled import build_bundled
from analytics.model import SeverityModel

RULES_FILE = "alert_rules.jsonl"


def read_rule_rows(data_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``alert_rules.jsonl`` under ``data_dir``."""
    path = Path(data_dir) / RULES_FILE
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_from_data(data_dir: str | Path, *, exclude: Sequence[str] = (), seed: int = 0) -> SeverityModel:
    return build_bundled(read_rule_rows(data_dir), exclude=exclude, seed=seed)


def bundled_document(model: SeverityModel) -> dict[str, Any]:
    """What the committed file holds for ``model`` (rounded as it is written)."""
    return model_document(model, digits=BUNDLED_DIGITS)


def write_bundled(model: SeverityModel, out: str | Path) -> Path:
    return save_model(model, out, digits=BUNDLED_DIGITS)
