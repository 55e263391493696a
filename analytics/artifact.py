"""Model artifacts: a trained model as JSON (numbers, never code), the registry's bytes, the bundled model.

Loading runs no code and floats round-trip exactly; :class:`ArtifactError` names what is wrong with a file
that is not a loadable model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from analytics.features import FeatureOptions
from analytics.model import LeanScorer, ModelScorer, SeverityModel, TrainingSummary, model_version
from analytics.records import Severity
from analytics.training import train_default_model

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "sevbot-severity-model"
ARTIFACT_VERSION = 2  # 2: word stems and alert-name 4-grams among the features


def save_model(model: SeverityModel, path: str | Path) -> Path:
    """Write the model as JSON (atomically: a temporary file renamed into place)."""
    path = Path(path)
    lean = model.lean
    document = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_VERSION,
        "version": model.version,
        "classes": [c.value for c in lean.classes],
        "feature_names": list(lean.feature_names),
        "coef": lean.coef.tolist(),
        "intercept": lean.intercept.tolist(),
        "options": asdict(model.options),
        "summary": asdict(model.summary),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, separators=(",", ":"))
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
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"model artifact {path} is unreadable: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"model artifact {path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(document, dict) or document.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path} is not a sevbot severity model artifact")
    if document.get("format_version") != ARTIFACT_VERSION:
        raise ArtifactError(
            f"{path}: unsupported model format version {document.get('format_version')!r}"
            f" (this sevbot reads version {ARTIFACT_VERSION}; retrain with `sevbot model train`)"
        )
    try:
        return _model_from_document(document)
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: malformed model artifact: {exc!r}") from exc


def _model_from_document(document: Mapping[str, Any]) -> SeverityModel:
    classes = [Severity(c) for c in document["classes"]]
    names = document["feature_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArtifactError("malformed model artifact: feature_names must be a list of strings")
    if len(set(names)) != len(names) or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ArtifactError("malformed model artifact: duplicate feature names or classes")
    coef = np.array(document["coef"], dtype=np.float64)
    intercept = np.array(document["intercept"], dtype=np.float64)
    if coef.shape != (len(classes), len(names)) or intercept.shape != (len(classes),):
        raise ArtifactError(
            f"malformed model artifact: coefficients of shape {coef.shape} and intercepts of shape"
            f" {intercept.shape} do not match {len(classes)} classes and {len(names)} features"
        )
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        raise ArtifactError("malformed model artifact: non-finite coefficients")
    lean = LeanScorer(classes=classes, feature_names=names, coef=coef, intercept=intercept)
    version = model_version(lean)
    if version != document["version"]:
        raise ArtifactError("model artifact does not match its recorded version (tampered or corrupt)")
    options = document["options"]
    summary = document["summary"]
    if not isinstance(options, dict) or not isinstance(summary, dict):
        raise ArtifactError("malformed model artifact: options and summary must be objects")
    return SeverityModel(
        lean=lean,
        options=FeatureOptions(**options),
        summary=TrainingSummary(**summary),
        version=version,
    )


def load_scorer(artifact_path: str | Path) -> ModelScorer:
    """The scorer for a saved model artifact."""
    return ModelScorer(load_model(artifact_path))


def default_artifact_name(*, seed: int = 0) -> str:
    """File name of the cached default model: changes whenever the catalogue or the code's format does."""
    from importlib import resources

    import sklearn

    digest = hashlib.sha256()
    digest.update(resources.files("analytics").joinpath("data/archetypes.jsonl").read_bytes())
    digest.update(f"{ARTIFACT_VERSION}:{seed}:{sklearn.__version__}".encode())
    return f"default-{digest.hexdigest()[:12]}.json"


def default_scorer(cache_dir: str | Path, *, seed: int = 0) -> ModelScorer:
    """The bundled model's scorer: loaded from ``cache_dir``, or trained offline on first use and cached."""
    path = Path(cache_dir) / default_artifact_name(seed=seed)
    if path.exists():
        try:
            return load_scorer(path)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            logger.warning("cached default model unreadable; retraining", extra={"path": str(path)})
    model = train_default_model(seed=seed)
    save_model(model, path)
    return ModelScorer(model)


def model_to_bytes(model: SeverityModel) -> bytes:
    """The model's JSON artifact, as stored in the registry."""
    with tempfile.TemporaryDirectory() as tmp:
        return save_model(model, Path(tmp) / "model.json").read_bytes()


def model_from_bytes(artifact: bytes) -> SeverityModel:
    """A model from its JSON artifact; raises :class:`ArtifactError` for anything that is not one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_bytes(artifact)
        try:
            return load_model(path)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"not a loadable sevbot model artifact: {exc}") from exc
