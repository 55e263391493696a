"""Model operations: which scorer serves, training into the registry, promotion, hot reload, drift.

The registry (``storage.registry``) holds every trained model as a version with its JSON artifact (plain
numbers, never code). Serving uses, in order: the registry's active version, the bundled default model
(trained from sevbot's own catalogue and cached under the data directory), and, only when neither loads,
the rule scorer, logged as a warning and shown by ``/readyz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from analytics.drift import DriftReport, drift_report
from analytics.evaluate import NAME_GRAM_CHOICES
from analytics.examples import TrainingExample, feedback_example
from analytics.model import (
    ModelScorer,
    SeverityModel,
    default_scorer,
    load_model,
    save_model,
    train_model,
    training_set,
)
from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import RuleScorer, Scorer, ScoringContext
from bot.metrics import Metrics
from bot.model.rulefiles import RuleLoad, load_rule_paths, rule_examples
from storage.db import Database
from storage.feedback import FeedbackRepository, LabelledAlert
from storage.registry import ModelInfo, ModelRepository

log = logging.getLogger(__name__)

# Held-out evaluation before automatic promotion needs this many distinct rule groups / feedback patterns.
MIN_HELDOUT_GROUPS = 5
HELDOUT_SHARE = 0.2


# --- artifacts ---------------------------------------------------------------------------------


def model_to_bytes(model: SeverityModel) -> bytes:
    """The model's JSON artifact, as stored in the registry."""
    with tempfile.TemporaryDirectory() as tmp:
        return save_model(model, Path(tmp) / "model.json").read_bytes()


def model_from_bytes(artifact: bytes) -> SeverityModel:
    """A model from its JSON artifact; raises ValueError for anything that is not one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_bytes(artifact)
        try:
            return load_model(path)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a loadable sevbot model artifact: {exc}") from exc


# --- which scorer serves -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScorerChoice:
    scorer: Scorer
    origin: str  # registry | bundled | rules
    warning: str | None = None


def choose_scorer(db: Database, cache_dir: Path) -> ScorerChoice:
    """The registry's active model, else the bundled default, else (with a warning) the rule scorer."""
    problems: list[str] = []
    try:
        with db.read() as conn:
            repo = ModelRepository(conn)
            active = repo.active()
            artifact = repo.artifact(active.version) if active else None
        if artifact is not None:
            return ScorerChoice(ModelScorer(model_from_bytes(artifact)), "registry")
    except Exception as exc:  # a broken registry row must not stop the service
        problems.append(f"active registry model unusable: {exc}")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)  # fail fast, before training, if it cannot be written
        choice = ScorerChoice(default_scorer(cache_dir), "bundled", "; ".join(problems) or None)
    except Exception as exc:
        problems.append(f"bundled model unusable: {exc}")
        warning = "; ".join(problems) + "; scoring with the rule scorer"
        log.warning("no severity model loaded", extra={"reason": warning})
        return ScorerChoice(RuleScorer(), "rules", warning)
    if choice.warning:
        log.warning("serving the bundled model", extra={"reason": choice.warning})
    return choice


class ModelWatcher:
    """Swaps the serving scorer when another process promotes or rolls back a model (no restart)."""

    def __init__(self, db: Database, slot: Any, cache_dir: Path) -> None:
        self.db = db
        self.slot = slot
        self.cache_dir = cache_dir

    def active_version(self) -> str | None:
        with self.db.read() as conn:
            active = ModelRepository(conn).active()
        return active.version if active else None

    def check(self) -> bool:
        """Reload if the registry's active version is not the one serving; True when it swapped."""
        wanted = self.active_version()
        serving = self.slot.current.version if self.slot.origin == "registry" else None
        if wanted == serving:
            return False
        choice = choose_scorer(self.db, self.cache_dir)
        self.slot.set(choice)
        log.info("severity scorer switched", extra={"to": choice.scorer.version, "origin": choice.origin})
        return True


# --- training ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldOut:
    n: int
    groups: int
    candidate_macro_f1: float
    current_macro_f1: float
    current_version: str

    @property
    def not_worse(self) -> bool:
        return self.candidate_macro_f1 >= self.current_macro_f1


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    info: ModelInfo
    promoted: bool
    why: str
    rules: RuleLoad | None
    unknown_severity: dict[str, int]
    feedback_examples: int
    heldout: HeldOut | None
    skipped: list[str] = field(default_factory=list)


def labelled_alert_record(item: LabelledAlert) -> AlertRecord:
    labels = {str(k): str(v) for k, v in item.labels.items()}
    return AlertRecord(
        source=item.source,
        fingerprint=f"feedback-{item.incident_id}",
        status=AlertStatus.FIRING,
        labels=labels,
        annotations={str(k): str(v) for k, v in item.annotations.items()},
        starts_at=None,
        ends_at=None,
        group_key=labels.get("alertname", ""),
        expression=item.expression,
    )


def feedback_examples(items: Sequence[LabelledAlert]) -> list[TrainingExample]:
    """People's corrections as weighted examples; the latest word on an incident wins, "noise" is SEV4."""
    latest: dict[int, LabelledAlert] = {}
    for item in items:  # oldest first
        latest[item.incident_id] = item
    examples = []
    for item in latest.values():
        chosen = Severity(item.severity) if item.kind == "severity" and item.severity else Severity.SEV4
        examples.append(feedback_example(alert=labelled_alert_record(item), chosen=chosen))
    return examples


def macro_f1(model: Scorer | SeverityModel, examples: Sequence[TrainingExample]) -> float:
    from sklearn.metrics import f1_score

    truth = [e.level.value for e in examples]
    predicted = [_predict(model, e) for e in examples]
    labels = sorted(set(truth) | set(predicted))
    return float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))


def _predict(model: Scorer | SeverityModel, example: TrainingExample) -> str:
    if isinstance(model, SeverityModel):
        proba = model.lean.proba(model.features(example.alert, example.context))
        return model.lean.classes[int(np.argmax(proba))].value
    return model.score(example.alert, example.context).level.value


def split_heldout(examples: Sequence[TrainingExample], seed: int) -> tuple[list[int], list[int]] | None:
    """Indices (train, held-out) split by group, or None when there are too few groups to hold any out."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = [e.group or f"row-{i}" for i, e in enumerate(examples)]
    if len(set(groups)) < MIN_HELDOUT_GROUPS:
        return None
    splitter = GroupShuffleSplit(n_splits=1, test_size=HELDOUT_SHARE, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(examples)), groups=groups))
    return [int(i) for i in train], [int(i) for i in test]


def train_and_register(
    db: Database,
    *,
    rule_paths: Iterable[str | Path] = (),
    use_feedback: bool = False,
    promote: str = "auto",  # auto | always | never
    current: Scorer,
    seed: int = 0,
    now: datetime,
) -> TrainOutcome:
    """Train on the catalogue + the team's rules (+ feedback), register it, and promote it if allowed.

    ``auto`` promotes only when the new model is not worse than ``current`` on held-out data: a share of
    the team's own rule groups and corrections that the candidate was not trained on.
    """
    import sklearn

    paths = list(rule_paths)
    load = load_rule_paths(paths) if paths else None
    from_rules = rule_examples(load) if load else None
    team: list[TrainingExample] = list(from_rules.examples) if from_rules else []
    corrections: list[TrainingExample] = []
    if use_feedback:
        with db.read() as conn:
            corrections = feedback_examples(FeedbackRepository(conn).labelled_alerts())
        team += corrections
    if paths and not team:
        raise ValueError("no usable rules: every rule lacked a known severity label")

    heldout: HeldOut | None = None
    # Held-out evaluation decides automatic promotion; an explicit choice does not need the extra fit.
    split = split_heldout(team, seed) if team and promote == "auto" else None
    if split is not None:
        train_idx, test_idx = split
        candidate = train_model(training_set(rules=[team[i] for i in train_idx], seed=seed), seed=seed)
        test = [team[i] for i in test_idx]
        heldout = HeldOut(
            n=len(test),
            groups=len({team[i].group for i in test_idx}),
            candidate_macro_f1=macro_f1(candidate, test),
            current_macro_f1=macro_f1(current, test),
            current_version=current.version,
        )
    # With a team's rule files, the alert-name 4-gram weight is chosen by grouped CV inside the training
    # data, exactly as `sevbot model evaluate` measures it (feedback alone keeps the default).
    choices = NAME_GRAM_CHOICES if from_rules and from_rules.examples else ()
    model = train_model(training_set(rules=team, seed=seed), seed=seed, name_gram_choices=choices)
    metrics: dict[str, Any] = {"heldout": _heldout_json(heldout)}
    summary = model.summary
    with db.write() as conn:
        repo = ModelRepository(conn)
        if repo.get(model.version) is None:
            repo.add(
                version=model.version,
                artifact=model_to_bytes(model),
                metrics=metrics,
                features=list(model.lean.feature_names),
                training_summary={
                    "n_examples": summary.n_examples,
                    "by_level": summary.by_level,
                    "by_origin": summary.by_origin,
                    "rule_paths": [str(p) for p in paths],
                    "feedback": len(corrections),
                    "seed": seed,
                },
                sklearn_version=sklearn.__version__,
                now=now,
            )
        promoted, why = _decide(promote, heldout, model.version, current.version)
        if promoted:
            repo.promote(model.version, now=now)
        info = repo.get(model.version)
    assert info is not None
    return TrainOutcome(
        info=info,
        promoted=promoted,
        why=why,
        rules=load,
        unknown_severity=dict(from_rules.unknown_severity) if from_rules else {},
        feedback_examples=len(corrections),
        heldout=heldout,
    )


def _decide(promote: str, heldout: HeldOut | None, version: str, current: str) -> tuple[bool, str]:
    if promote == "never":
        return False, "not promoted (--no-promote)"
    if promote == "always":
        return True, "promoted (--promote)"
    if version == current:
        return False, "identical to the model already serving"
    if heldout is None:
        return False, (
            f"not promoted: fewer than {MIN_HELDOUT_GROUPS} rule groups or corrected alert patterns to hold "
            "out, so it could not be shown to be no worse; promote it by hand if you trust it"
        )
    if heldout.not_worse:
        return True, (
            f"promoted: held-out macro-F1 {heldout.candidate_macro_f1:.3f} ≥ "
            f"{heldout.current_macro_f1:.3f} of {heldout.current_version}"
        )
    return False, (
        f"not promoted: held-out macro-F1 {heldout.candidate_macro_f1:.3f} < "
        f"{heldout.current_macro_f1:.3f} of {heldout.current_version}"
    )


def _heldout_json(heldout: HeldOut | None) -> dict[str, Any] | None:
    if heldout is None:
        return None
    return {
        "n": heldout.n,
        "groups": heldout.groups,
        "candidate_macro_f1": heldout.candidate_macro_f1,
        "current_macro_f1": heldout.current_macro_f1,
        "current_version": heldout.current_version,
    }


# --- drift -------------------------------------------------------------------------------------


def live_drift(
    db: Database, scorer: Scorer, *, now: datetime, window: timedelta = timedelta(days=1), limit: int = 5000
) -> DriftReport | None:
    """Predicted levels and feature presence of recent alerts against the serving model's training data."""
    if not isinstance(scorer, ModelScorer):
        return None
    from sqlalchemy import select

    from storage.models import Alert

    with db.read() as conn:
        rows = conn.execute(
            select(Alert.source, Alert.fingerprint, Alert.labels, Alert.annotations)
            .add_columns(Alert.expression, Alert.severity)
            .where(Alert.received_at >= now - window)
            .order_by(Alert.id.desc())
            .limit(limit)
        ).all()
    model = scorer.model
    features = [
        model.features(
            AlertRecord(
                source=r.source,
                fingerprint=r.fingerprint,
                status=AlertStatus.FIRING,
                labels=dict(r.labels),
                annotations=dict(r.annotations),
                starts_at=None,
                ends_at=None,
                group_key="",
                expression=r.expression,
            ),
            ScoringContext(),
        )
        for r in rows
    ]
    levels = [r.severity for r in rows]
    return drift_report(summary=model.summary, recent_levels=levels, recent_features=features)


# --- the serving process's upkeep ---------------------------------------------------------------


def publish_model(metrics: Metrics, slot: Any) -> None:
    metrics.model_info.clear()
    metrics.model_info.labels(slot.current.version, slot.origin).set(1)


def publish_drift(metrics: Metrics, report: DriftReport | None, *, top: int = 5) -> None:
    metrics.model_drift_psi.clear()
    if report is None or report.n_recent == 0:
        return
    metrics.model_drift_psi.labels("levels").set(report.level_psi)
    for feature in report.features[:top]:
        metrics.model_drift_psi.labels(f"feature:{feature.feature}").set(feature.psi)


async def keep_model_current(
    watcher: ModelWatcher,
    metrics: Metrics,
    stop: asyncio.Event,
    *,
    interval: float,
    clock: Callable[[], datetime],
    drift_every: int = 30,
) -> None:
    """Every ``interval`` seconds: switch to a newly promoted model; every ``drift_every`` turns: drift."""
    turn = 0
    publish_model(metrics, watcher.slot)
    while not stop.is_set():
        try:
            if await anyio.to_thread.run_sync(watcher.check):
                publish_model(metrics, watcher.slot)
            if turn % drift_every == 0:
                report = await anyio.to_thread.run_sync(
                    lambda: live_drift(watcher.db, watcher.slot.current, now=clock())
                )
                publish_drift(metrics, report)
        except Exception:
            log.exception("model upkeep failed; serving the current model")
        turn += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
