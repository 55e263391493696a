"""``sevbot model train``: a team's rules (+ Slack corrections) into the registry; promotion.

The team model (``analytics.training.train_team_model``) leans on the bundled model as a prior; with too
little team data to train one (fewer than two levels), the bundled content model is registered as it is,
described by the team data, and people's ratings keep working through the scoring context. Automatic
promotion needs evidence: the candidate must be no worse than the serving model on held-out rule groups
and corrections it was not trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from analytics.artifact import bundled_model, model_to_bytes
from analytics.examples import TrainingExample, feedback_example
from analytics.ladders import Ladders
from analytics.model import SeverityModel
from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import Scorer
from analytics.training import macro_f1, rule_ladders, train_team_model, with_summary
from bot.model.rulefiles import RuleLoad, load_rule_paths, rule_examples
from storage.db import Database
from storage.feedback import FeedbackRepository, LabelledAlert
from storage.registry import ModelInfo, ModelRepository

log = logging.getLogger(__name__)

# Held-out evaluation before automatic promotion needs this many distinct rule groups / feedback patterns.
MIN_HELDOUT_GROUPS = 5
HELDOUT_SHARE = 0.2


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


def heldout_macro_f1(model: Scorer | SeverityModel, examples: Sequence[TrainingExample]) -> float:
    """Macro-F1 of ``model`` on held-out examples (the same measure cross-validation uses)."""
    return macro_f1([e.level.value for e in examples], [_predict(model, e) for e in examples])


def _predict(model: Scorer | SeverityModel, example: TrainingExample) -> str:
    scorer = model.scorer() if isinstance(model, SeverityModel) else model
    return scorer.score(example.alert, example.context).level.value


def team_model(
    examples: Sequence[TrainingExample], *, seed: int, ladders: Ladders | None = None
) -> SeverityModel:
    """The team's model, or the bundled content model described by the team data when it cannot train one.

    ``ladders``: the team's rule ladders (``analytics.ladders``), by default those of ``examples``."""
    prior = bundled_model()
    if len({e.level for e in examples}) < 2:
        provenance = {**prior.provenance, "kind": "bundled", "why": "team data holds fewer than two levels"}
        return with_summary(prior, examples, provenance=provenance)
    return train_team_model(examples, prior=prior.content, seed=seed, ladders=ladders)


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
    """Train on the team's rules (+ feedback), register it, and promote it if allowed.

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
    # The candidate knows every rule's thresholds, as the model trained on all of them will: held-out
    # twins of a ladder are on their rungs (their levels stay unread). Indexed once for both fits.
    ladders = rule_ladders(team)
    # Held-out evaluation decides automatic promotion; an explicit choice does not need the extra fit.
    split = split_heldout(team, seed) if team and promote == "auto" else None
    if split is not None:
        train_idx, test_idx = split
        candidate = team_model([team[i] for i in train_idx], seed=seed, ladders=ladders)
        test = [team[i] for i in test_idx]
        heldout = HeldOut(
            n=len(test),
            groups=len({team[i].group for i in test_idx}),
            candidate_macro_f1=heldout_macro_f1(candidate, test),
            current_macro_f1=heldout_macro_f1(current, test),
            current_version=current.version,
        )
    model = team_model(team, seed=seed, ladders=ladders)
    metrics: dict[str, Any] = {"heldout": _heldout_json(heldout), "chosen": model.provenance.get("chosen")}
    summary = model.summary
    with db.write() as conn:
        repo = ModelRepository(conn)
        if repo.get(model.version) is None:
            repo.add(
                version=model.version,
                artifact=model_to_bytes(model),
                metrics=metrics,
                features=list(model.feature_names),
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
        return False, "not promoted: identical to the model already serving"
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
