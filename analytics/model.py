"""The severity model: train offline, score in microseconds, explain exactly (pure; I/O in save/load only).

Data flow: training examples ─► :func:`train_model` (``alert_features`` ─► DictVectorizer ─► multinomial
LogisticRegression) ─► :class:`SeverityModel` ─► :class:`ModelScorer` (the ``Scorer`` ingestion calls).

Serving never touches the scikit-learn pipeline: :class:`LeanScorer` holds the fitted vocabulary, coefficient
matrix and intercepts and computes the same logits with a gather and a dot product, then the same softmax
(equal to ``Pipeline.predict_proba`` within 1e-9). A logit is a sum of per-feature terms
(coefficient × value) plus an intercept, so :meth:`SeverityModel.explain` returns contributions that add up
to the decision score exactly. Models are saved as JSON (vocabulary, coefficients, metadata): loading runs
no code, and floats round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analytics.examples import TrainingExample
from analytics.features import DEFAULT_OPTIONS, FeatureDict, FeatureOptions, alert_features, describe_feature
from analytics.records import AlertRecord, Severity
from analytics.scoring import Reason, Score, ScoringContext

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "sevbot-severity-model"
ARTIFACT_VERSION = 2  # 2: word stems and alert-name 4-grams among the features
DEFAULT_C = 1.0
TOP_REASONS = 5
_SUMMARY_FEATURES = 40


@dataclass(frozen=True, slots=True)
class TrainingSummary:
    """What a model was trained on; ``level_distribution`` and ``feature_share`` are drift baselines."""

    n_examples: int
    n_features: int
    by_level: Mapping[str, int]
    by_origin: Mapping[str, int]
    seed: int
    c: float
    class_weight: str | None
    sklearn_version: str
    level_distribution: Mapping[str, float]  # share of each predicted level over the training examples
    feature_share: Mapping[str, float]  # share of training examples carrying each of the commonest features


class LeanScorer:
    """Logits and probabilities from a fitted multinomial logistic regression, without scikit-learn.

    ``weights`` has one row per feature, then a row holding the intercepts (its value is always 1) and a row
    of zeros that unknown features point to, so a logit is ``values @ weights[indices]``: the same terms
    scikit-learn sums.
    """

    __slots__ = ("classes", "feature_names", "intercept_index", "unknown_index", "vocabulary", "weights")

    def __init__(
        self,
        *,
        classes: Sequence[Severity],
        feature_names: Sequence[str],
        coef: NDArray[np.float64],
        intercept: NDArray[np.float64],
    ) -> None:
        coef = np.asarray(coef, dtype=np.float64)
        intercept = np.asarray(intercept, dtype=np.float64)
        if coef.shape[0] == 1 and len(classes) == 2:
            # Binary logistic regression: p(second) = sigmoid(z) = softmax([-z/2, z/2])[1].
            coef = np.vstack([-coef[0] / 2.0, coef[0] / 2.0])
            intercept = np.array([-intercept[0] / 2.0, intercept[0] / 2.0])
        if coef.shape != (len(classes), len(feature_names)):
            raise ValueError("coefficient matrix does not match classes and feature names")
        self.classes: tuple[Severity, ...] = tuple(classes)
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self.vocabulary: dict[str, int] = {name: i for i, name in enumerate(self.feature_names)}
        self.intercept_index = len(self.feature_names)
        self.unknown_index = self.intercept_index + 1
        zeros = np.zeros((1, len(self.classes)))
        self.weights: NDArray[np.float64] = np.ascontiguousarray(
            np.vstack([coef.T, intercept[None, :], zeros])
        )

    @property
    def coef(self) -> NDArray[np.float64]:
        return np.ascontiguousarray(self.weights[: self.intercept_index].T)

    @property
    def intercept(self) -> NDArray[np.float64]:
        return np.array(self.weights[self.intercept_index])

    def lookup(self, features: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Row indices (unknown features on the zero row) and values, the intercept row last."""
        get, unknown = self.vocabulary.get, self.unknown_index
        indices = [get(name, unknown) for name in features]
        indices.append(self.intercept_index)
        values = list(features.values())
        values.append(1.0)
        return indices, values

    def encode(self, features: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Known feature indices and values, plus the intercept row (unknown features carry no weight)."""
        get = self.vocabulary.get
        pairs = zip(map(get, features), features.values(), strict=True)
        known = [(j, value) for j, value in pairs if j is not None]
        indices = [j for j, _ in known]
        values = [value for _, value in known]
        indices.append(self.intercept_index)
        values.append(1.0)
        return indices, values

    def decision(self, features: Mapping[str, float]) -> NDArray[np.float64]:
        """Logits, one per class (``decision_function`` of the fitted pipeline)."""
        indices, values = self.lookup(features)
        logits: NDArray[np.float64] = np.array(values) @ self.weights[indices]
        return logits

    def proba(self, features: Mapping[str, float]) -> NDArray[np.float64]:
        proba: NDArray[np.float64] = _softmax(self.decision(features)[None, :])[0]
        return proba

    def decision_batch(self, batch: Sequence[Mapping[str, float]]) -> NDArray[np.float64]:
        """Logits for many feature dicts at once: one gather, one multiply, one segmented sum."""
        all_indices: list[int] = []
        all_values: list[float] = []
        starts = np.empty(len(batch), dtype=np.intp)
        for row, features in enumerate(batch):
            starts[row] = len(all_indices)
            indices, values = self.lookup(features)
            all_indices.extend(indices)
            all_values.extend(values)
        if not batch:
            return np.zeros((0, len(self.classes)))
        terms = self.weights[all_indices] * np.array(all_values)[:, None]
        return np.asarray(np.add.reduceat(terms, starts, axis=0), dtype=np.float64)

    def proba_batch(self, batch: Sequence[Mapping[str, float]]) -> NDArray[np.float64]:
        return _softmax(self.decision_batch(batch))


def _softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's term in the chosen level's logit."""

    feature: str
    value: float
    weight: float  # coefficient × value
    text: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a level: ``intercept + sum(c.weight for c in contributions) == score`` (the level's logit)."""

    level: Severity
    score: float
    intercept: float
    contributions: tuple[Contribution, ...]  # largest absolute weight first
    probabilities: Mapping[Severity, float]

    @property
    def total(self) -> float:
        return math.fsum([self.intercept, *(c.weight for c in self.contributions)])

    def lines(self, top: int = TOP_REASONS) -> list[str]:
        """The largest contributions in plain words with their signs, then the rest and the base rate."""
        shown = [c for c in self.contributions[:top] if c.weight != 0.0]
        out = [render_reason(Reason(c.text, c.weight)) for c in shown]
        rest = self.contributions[len(shown) :]
        if rest:
            remainder = math.fsum(c.weight for c in rest)
            out.append(render_reason(Reason(f"{len(rest)} other signals", remainder)))
        out.append(render_reason(Reason(f"base rate for {self.level}", self.intercept)))
        return out


def signed(weight: float) -> str:
    """A contribution's sign and size as people read it: ``+1.9``, ``−0.2`` (a real minus), ``+0.04``."""
    digits = 1 if abs(weight) >= 0.095 else 2
    text = f"{abs(weight):.{digits}f}"
    if float(text) == 0.0:
        return "±0"
    return ("+" if weight > 0 else "\u2212") + text


def render_reason(reason: Reason) -> str:
    """One reason in plain words with its signed contribution: ``source says critical +1.9``."""
    return f"{reason.text} {signed(reason.weight)}"


@dataclass(frozen=True)
class SeverityModel:
    """A trained model: lean parameters, feature options, metadata, and the sklearn pipeline when fresh."""

    lean: LeanScorer
    options: FeatureOptions
    summary: TrainingSummary
    version: str
    pipeline: Any = field(default=None, compare=False, repr=False)  # sklearn Pipeline; None after load

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.lean.feature_names

    def features(self, alert: AlertRecord, context: ScoringContext | None = None) -> FeatureDict:
        return alert_features(alert, context, options=self.options)

    def probabilities(
        self, alert: AlertRecord, context: ScoringContext | None = None
    ) -> dict[Severity, float]:
        proba = self.lean.proba(self.features(alert, context))
        return _by_severity(self.lean.classes, proba)

    def explain(
        self, alert: AlertRecord, context: ScoringContext | None = None, *, level: Severity | None = None
    ) -> Explanation:
        """Every feature's contribution to the logit of ``level`` (default: the most probable level)."""
        features = self.features(alert, context)
        logits = self.lean.decision(features)
        k = int(np.argmax(logits)) if level is None else self.lean.classes.index(level)
        indices, values = self.lean.encode(features)
        names = self.lean.feature_names
        contributions = [
            Contribution(
                feature=names[j],
                value=v,
                weight=float(self.lean.weights[j, k] * v),
                text=describe_feature(names[j], v, alert, context),
            )
            for j, v in zip(indices[:-1], values[:-1], strict=True)
        ]
        contributions.sort(key=lambda c: -abs(c.weight))
        proba = _softmax(logits[None, :])[0]
        return Explanation(
            level=self.lean.classes[k],
            score=float(logits[k]),
            intercept=float(self.lean.weights[self.lean.intercept_index, k]),
            contributions=tuple(contributions),
            probabilities=_by_severity(self.lean.classes, proba),
        )

    def scorer(self) -> ModelScorer:
        return ModelScorer(self)


_LEVELS = tuple(Severity)  # iterating an Enum class is slow enough to matter on the request path


def _by_severity(classes: Sequence[Severity], proba: NDArray[np.float64]) -> dict[Severity, float]:
    out = dict.fromkeys(_LEVELS, 0.0)
    for severity, p in zip(classes, proba.tolist(), strict=True):  # tolist: Python floats in one call
        out[severity] = p
    return out


class ModelScorer:
    """The :class:`~analytics.scoring.Scorer` ingestion calls: level, probabilities, and exact reasons.

    The reasons are the largest contributions to the chosen level's logit, the intercept ("base rate"), and
    the sum of the rest ("N other signals"), so their weights add up to the logit.
    """

    def __init__(self, model: SeverityModel, *, top_reasons: int = TOP_REASONS) -> None:
        self.model = model
        self.top_reasons = top_reasons

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, alert: AlertRecord, context: ScoringContext) -> Score:
        # The request path: one small matrix product over the alert's known features, then plain Python
        # over a few dozen floats (cheaper than more numpy calls on arrays this small).
        lean = self.model.lean
        features = self.model.features(alert, context)
        indices, values = lean.encode(features)  # known features, then the intercept row
        terms = lean.weights[indices] * np.array(values)[:, None]
        logits = terms.sum(axis=0)
        proba = _softmax(logits[None, :])[0]
        k = int(np.argmax(logits))
        level = lean.classes[k]
        column: list[float] = terms[:-1, k].tolist()
        magnitude = [-abs(c) for c in column]
        order = sorted(range(len(column)), key=magnitude.__getitem__)[: self.top_reasons]  # stable
        shown = [i for i in order if column[i] != 0.0]
        names = lean.feature_names
        reasons = [
            Reason(describe_feature(names[indices[i]], values[i], alert, context), column[i]) for i in shown
        ]
        if len(column) > len(shown):
            hidden = set(shown)
            remainder = math.fsum(c for i, c in enumerate(column) if i not in hidden)
            reasons.append(Reason(f"{len(column) - len(shown)} other signals", remainder))
        reasons.append(Reason(f"base rate for {level}", float(terms[-1, k])))
        return Score(
            level=level,
            probabilities=_by_severity(lean.classes, proba),
            reasons=tuple(reasons),
            model_version=self.model.version,
        )

    def score_batch(self, items: Sequence[tuple[AlertRecord, ScoringContext]]) -> list[dict[Severity, float]]:
        """Probabilities for many alerts (no reasons): the throughput path for replays and evaluation."""
        batch = [self.model.features(alert, context) for alert, context in items]
        proba = self.model.lean.proba_batch(batch)
        return [_by_severity(self.model.lean.classes, row) for row in proba]


def _model_version(lean: LeanScorer) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([c.value for c in lean.classes]).encode())
    digest.update("\n".join(lean.feature_names).encode())
    digest.update(lean.weights.tobytes())
    return f"sevlr-{digest.hexdigest()[:12]}"


def fit_pipeline(
    rows: Sequence[Mapping[str, float]],
    y: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    seed: int = 0,
    c: float = DEFAULT_C,
    class_weight: str | None = "balanced",
) -> Any:
    """The fitted scikit-learn pipeline (DictVectorizer ─► multinomial LogisticRegression) on feature rows.

    Newton-CG reaches the same optimum as lbfgs here in a fraction of the time (the objective is smooth and
    small), which is what makes choosing options inside each training fold affordable.
    """
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            ("vectorize", DictVectorizer(sparse=True, sort=True)),
            (
                "classify",
                LogisticRegression(
                    C=c, class_weight=class_weight, solver="newton-cg", max_iter=1000, random_state=seed
                ),
            ),
        ]
    )
    sample_weight = None if weights is None else np.asarray(weights, dtype=np.float64)
    pipeline.fit(list(rows), list(y), classify__sample_weight=sample_weight)
    return pipeline


def train_model(
    examples: Sequence[TrainingExample],
    *,
    seed: int = 0,
    c: float = DEFAULT_C,
    class_weight: str | None = "balanced",
    options: FeatureOptions = DEFAULT_OPTIONS,
    rows: Sequence[FeatureDict] | None = None,
    name_gram_choices: Sequence[float] = (),
) -> SeverityModel:
    """Fit the pipeline on weighted examples and return the model with its lean scorer and metadata.

    Feedback is simply more examples (``origin="feedback"``) with a larger ``weight``. ``rows`` may hold the
    examples' features already computed with ``options`` (evaluation reuses them across folds). With two or
    more ``name_gram_choices`` (e.g. ``analytics.evaluate.NAME_GRAM_CHOICES``) the value of the alert-name
    4-grams is chosen by grouped cross-validation on these examples, as ``sevbot model evaluate`` does
    inside each training fold; the choice is kept in the model's options.
    """
    import sklearn

    levels = sorted({e.level for e in examples}, key=lambda s: s.rank)
    if len(levels) < 2:
        raise ValueError("training needs examples of at least two severity levels")
    if len(set(name_gram_choices)) > 1:
        from analytics.evaluate import select_options

        candidates = [replace(options, name_grams=v) for v in dict.fromkeys(name_gram_choices)]
        options, _ = select_options(examples, candidates=candidates, seed=seed, c=c)
        rows = None
    if rows is None:
        rows = [alert_features(e.alert, e.context, options=options) for e in examples]
    elif len(rows) != len(examples):
        raise ValueError("rows and examples differ in length")
    y = [e.level.value for e in examples]
    pipeline = fit_pipeline(
        rows, y, weights=[e.weight for e in examples], seed=seed, c=c, class_weight=class_weight
    )
    vectorizer, classifier = pipeline.named_steps["vectorize"], pipeline.named_steps["classify"]
    lean = LeanScorer(
        classes=[Severity(str(c)) for c in classifier.classes_],
        feature_names=[str(n) for n in vectorizer.feature_names_],
        coef=classifier.coef_,
        intercept=classifier.intercept_,
    )
    predicted = lean.proba_batch(rows).argmax(axis=1)
    summary = TrainingSummary(
        n_examples=len(examples),
        n_features=len(lean.feature_names),
        by_level=dict(sorted(Counter(y).items())),
        by_origin=dict(sorted(Counter(e.origin for e in examples).items())),
        seed=seed,
        c=c,
        class_weight=class_weight,
        sklearn_version=sklearn.__version__,
        level_distribution=_shares(lean.classes[i].value for i in predicted),
        feature_share=feature_shares(rows, top=_SUMMARY_FEATURES),
    )
    logger.info("severity model trained", extra={"examples": len(examples), "features": summary.n_features})
    return SeverityModel(
        lean=lean, options=options, summary=summary, version=_model_version(lean), pipeline=pipeline
    )


def _shares(items: Iterable[str]) -> dict[str, float]:
    counts = Counter(items)
    total = sum(counts.values()) or 1
    return {key: counts[key] / total for key in sorted(counts)}


def feature_shares(rows: Sequence[Mapping[str, float]], *, top: int | None = None) -> dict[str, float]:
    """Share of rows that carry each feature (the ``top`` commonest when given)."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(row.keys())
    total = len(rows) or 1
    common = counts.most_common(top)
    return {name: count / total for name, count in common}


def train_default_model(*, seed: int = 0) -> SeverityModel:
    """The bundled model: trained from sevbot's own catalogue of alert archetypes (a few seconds)."""
    from analytics.catalogue import catalogue_examples

    return train_model(catalogue_examples(seed=seed), seed=seed)


def training_set(
    *,
    rules: Sequence[TrainingExample] = (),
    feedback: Sequence[TrainingExample] = (),
    include_catalogue: bool = True,
    seed: int = 0,
) -> list[TrainingExample]:
    """What ``sevbot model train`` fits: the catalogue, a team's rule files, and people's corrections."""
    from analytics.catalogue import catalogue_examples

    base = catalogue_examples(seed=seed) if include_catalogue else []
    return [*base, *rules, *feedback]


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
    version = _model_version(lean)
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
