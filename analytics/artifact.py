"""Model artifacts: a model as JSON (numbers and feature names, never code), registry bytes, the bundled one.

Loading runs no code and floats round-trip exactly; :class:`ArtifactError` names what is wrong with a file
that is not a loadable model. The bundled model is a file of the package (``analytics/data/``), built from
published rules by ``sevbot model bundle`` and committed: serving never trains at start-up.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from analytics.features import FeatureOptions
from analytics.ladders import Ladders
from analytics.lean import SOFTMAX, URGENCY, ContentModel, LeanScorer, TrainingSummary
from analytics.model import ModelScorer, SeverityModel, model_version
from analytics.records import Severity
from analytics.tfidf import TextView

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "sevbot-severity-model"
# 3: a content model (urgency or softmax, with an optional TF-IDF view) behind the source word's policy;
# no time, environment or context features. 2 held one multinomial model over all features.
ARTIFACT_VERSION = 3
BUNDLED_ARTIFACT = "data/bundled-model.json"
# Coefficients of the committed bundled model keep this many significant digits (the file stays small
# and a rebuild on another machine gives the same file; scores move by < 1e-5).
BUNDLED_DIGITS = 6


def _rounded(values: Any, digits: int | None) -> Any:
    array = np.asarray(values, dtype=np.float64)
    if digits is None:
        return array.tolist()
    return (
        [float(f"{v:.{digits}g}") for v in array.ravel().tolist()]
        if array.ndim == 1
        else [[float(f"{v:.{digits}g}") for v in row] for row in array.tolist()]
    )


def model_document(model: SeverityModel, *, digits: int | None = None) -> dict[str, Any]:
    """The model as a JSON-ready document; ``digits`` rounds coefficients (the version follows them)."""
    content = model.content
    coef = _rounded(content.lean.coef, digits)
    intercept = _rounded(content.lean.intercept, digits)
    version = model.version
    if digits is not None:
        version = model_version(_content(_content_document(content, coef, intercept)))
    return {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_VERSION,
        "version": version,
        "content": _content_document(content, coef, intercept),
        "summary": asdict(model.summary),
        "provenance": dict(model.provenance),
    }


def _content_document(content: ContentModel, coef: Any, intercept: Any) -> dict[str, Any]:
    document = {
        "kind": content.kind,
        "classes": [c.value for c in content.classes],
        "edges": list(content.edges),
        "sharpness": content.sharpness,
        "options": asdict(content.options),
        "reads_features": content.reads_features,
        "feature_names": list(content.lean.feature_names),
        "coef": coef,
        "intercept": intercept,
        "text": content.text.to_json() if content.text is not None else None,
    }
    if content.ladders:  # written only when there are some: artifacts without them stay as they were
        document["ladders"] = content.ladders.to_json()
    return document


def save_model(model: SeverityModel, path: str | Path, *, digits: int | None = None) -> Path:
    """Write the model as JSON (atomically: a temporary file renamed into place)."""
    path = Path(path)
    document = model_document(model, digits=digits)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, separators=(",", ":"), sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a model is no secret and ships in the package
    os.replace(tmp, path)
    return path


class ArtifactError(ValueError):
    """A file that is not a loadable sevbot severity model (the message says what is wrong)."""


def load_model(path: str | Path) -> SeverityModel:
    """Read a model written by :func:`save_model`; plain JSON, so loading runs no code.

    Raises :class:`ArtifactError` (a ``ValueError``) naming what is wrong for unreadable or malformed files,
    other formats, unknown format versions, inconsistent shapes and tampered coefficients.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"model artifact {path} is unreadable: {exc}") from exc
    return _load_text(text, where=str(path))


def _load_text(text: str, *, where: str) -> SeverityModel:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"model artifact {where} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(document, dict) or document.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{where} is not a sevbot severity model artifact")
    if document.get("format_version") != ARTIFACT_VERSION:
        raise ArtifactError(
            f"{where}: unsupported model format version {document.get('format_version')!r}"
            f" (this sevbot reads version {ARTIFACT_VERSION}; retrain with `sevbot model train`)"
        )
    try:
        return _model_from_document(document)
    except ArtifactError as exc:
        raise ArtifactError(f"{where}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: malformed model artifact: {exc!r}") from exc


def _content(document: Mapping[str, Any]) -> ContentModel:
    kind = document["kind"]
    if kind not in (URGENCY, SOFTMAX):
        raise ArtifactError(f"malformed model artifact: unknown content kind {kind!r}")
    classes = tuple(Severity(c) for c in document["classes"])
    names = document["feature_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArtifactError("malformed model artifact: feature_names must be a list of strings")
    if len(set(names)) != len(names) or len(set(classes)) != len(classes):
        raise ArtifactError("malformed model artifact: duplicate feature names or classes")
    columns = 1 if kind == URGENCY else len(classes)
    if kind == SOFTMAX and len(classes) < 2:
        raise ArtifactError("malformed model artifact: a softmax model needs two classes or more")
    coef = np.array(document["coef"], dtype=np.float64)
    intercept = np.array(document["intercept"], dtype=np.float64)
    if coef.ndim == 1:
        coef = coef[None, :]
    if coef.shape != (columns, len(names)) or intercept.shape != (columns,):
        raise ArtifactError(
            f"malformed model artifact: coefficients of shape {coef.shape} and intercepts of shape"
            f" {intercept.shape} do not match {columns} columns and {len(names)} features"
        )
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        raise ArtifactError("malformed model artifact: non-finite coefficients")
    edges = tuple(float(e) for e in document["edges"])
    if len(edges) != 3 or not edges[0] > edges[1] > edges[2]:
        raise ArtifactError("malformed model artifact: edges must be three decreasing numbers")
    text = document.get("text")
    ladders = _ladders(document.get("ladders"))
    return ContentModel(
        kind=kind,
        lean=LeanScorer(feature_names=names, coef=coef, intercept=intercept),
        options=FeatureOptions(**document["options"]),
        classes=classes,
        edges=(edges[0], edges[1], edges[2]),
        sharpness=float(document["sharpness"]),
        text=TextView.from_json(text) if text is not None else None,
        reads_features=bool(document["reads_features"]),
        ladders=ladders,
    )


def _ladders(data: Any) -> Ladders | None:
    """The ``ladders`` of a content document (absent in artifacts written before them: none)."""
    if data is None:
        return None
    try:
        ladders = Ladders.from_json(data)
    except ValueError as exc:
        raise ArtifactError(f"malformed model artifact: {exc}") from None
    return ladders or None


def _model_from_document(document: Mapping[str, Any]) -> SeverityModel:
    content = _content(document["content"])
    version = model_version(content)
    if version != document["version"]:
        raise ArtifactError("model artifact does not match its recorded version (tampered or corrupt)")
    summary = document["summary"]
    provenance = document.get("provenance") or {}
    if not isinstance(summary, dict) or not isinstance(provenance, dict):
        raise ArtifactError("malformed model artifact: summary and provenance must be objects")
    return SeverityModel(
        content=content, summary=TrainingSummary(**summary), version=version, provenance=provenance
    )


def load_scorer(artifact_path: str | Path) -> ModelScorer:
    """The scorer for a saved model artifact."""
    return ModelScorer(load_model(artifact_path))


def bundled_path() -> Path:
    """Where the committed bundled model lives in the package."""
    return Path(str(resources.files("analytics").joinpath(BUNDLED_ARTIFACT)))


@cache
def bundled_model() -> SeverityModel:
    """The committed bundled model (loaded once per process)."""
    text = resources.files("analytics").joinpath(BUNDLED_ARTIFACT).read_text(encoding="utf-8")
    return _load_text(text, where=f"analytics/{BUNDLED_ARTIFACT}")


def default_scorer() -> ModelScorer:
    """The bundled model's scorer: what serves until a team promotes a model of its own."""
    return ModelScorer(bundled_model())


def model_to_bytes(model: SeverityModel) -> bytes:
    """The model's JSON artifact, as stored in the registry."""
    return (json.dumps(model_document(model), separators=(",", ":"), sort_keys=True) + "\n").encode()


def model_from_bytes(artifact: bytes) -> SeverityModel:
    """A model from its JSON artifact; raises :class:`ArtifactError` for anything that is not one."""
    try:
        text = artifact.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"not a loadable sevbot model artifact: {exc}") from exc
    return _load_text(text, where="registry artifact")
