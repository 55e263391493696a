"""Which scorer serves: the registry's active model, else the bundled one, else the rule scorer; hot reload.

The registry (``storage.registry``) holds every trained model as a version with its JSON artifact (plain
numbers, never code). Serving uses, in order: the registry's active version, the bundled model (a file of
the package, built from published rules by ``sevbot model bundle``), and, only when neither loads, the
rule scorer, logged as a warning and shown by ``/readyz``. A running service swaps to a newly promoted
model without a restart (:func:`keep_model_current`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio

from analytics.artifact import default_scorer, model_from_bytes
from analytics.drift import DriftReport
from analytics.model import ModelScorer
from analytics.records import ScorerOrigin
from analytics.scoring import RuleScorer, Scorer
from bot.metrics import Metrics
from bot.model.drift import live_drift
from storage.db import Database
from storage.registry import ModelRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScorerChoice:
    scorer: Scorer
    origin: ScorerOrigin
    warning: str | None = None


def choose_scorer(db: Database, cache_dir: Path | None = None) -> ScorerChoice:
    """The registry's active model, else the bundled default, else (with a warning) the rule scorer.

    ``cache_dir`` is no longer needed (the bundled model ships in the package instead of being trained on
    first start); it stays in the signature for callers that still pass it.
    """
    problems: list[str] = []
    try:
        with db.read() as conn:
            repo = ModelRepository(conn)
            active = repo.active()
            artifact = repo.artifact(active.version) if active else None
        if artifact is not None:
            return ScorerChoice(ModelScorer(model_from_bytes(artifact)), ScorerOrigin.REGISTRY)
    except Exception as exc:  # a broken registry row must not stop the service
        problems.append(f"active registry model unusable: {exc}")
    try:
        choice = ScorerChoice(default_scorer(), ScorerOrigin.BUNDLED, "; ".join(problems) or None)
    except Exception as exc:
        problems.append(f"bundled model unusable: {exc}")
        warning = "; ".join(problems) + "; scoring with the rule scorer"
        log.warning("no severity model loaded", extra={"reason": warning})
        return ScorerChoice(RuleScorer(), ScorerOrigin.RULES, warning)
    if choice.warning:
        log.warning("serving the bundled model", extra={"reason": choice.warning})
    return choice


class ScorerSlot:
    """Holds the scorer in use; swapping it (a newly promoted model) needs no restart.

    ``origin`` says where it came from (registry, bundled, rules, given); ``warning`` why it is not the
    model one would expect (shown by ``/readyz``).
    """

    def __init__(
        self, scorer: Scorer, origin: ScorerOrigin = ScorerOrigin.GIVEN, warning: str | None = None
    ) -> None:
        self.current = scorer
        self.origin = origin
        self.warning = warning

    def __call__(self) -> Scorer:
        return self.current

    def set(self, choice: ScorerChoice) -> None:
        self.current, self.origin, self.warning = choice.scorer, choice.origin, choice.warning


class ModelWatcher:
    """Swaps the serving scorer when another process promotes or rolls back a model (no restart)."""

    def __init__(self, db: Database, slot: ScorerSlot, cache_dir: Path) -> None:
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
        serving = self.slot.current.version if self.slot.origin is ScorerOrigin.REGISTRY else None
        if wanted == serving:
            return False
        choice = choose_scorer(self.db, self.cache_dir)
        self.slot.set(choice)
        log.info("severity scorer switched", extra={"to": choice.scorer.version, "origin": choice.origin})
        return True


def publish_model(metrics: Metrics, slot: ScorerSlot) -> None:
    metrics.model_info.clear()
    metrics.model_info.labels(slot.current.version, slot.origin).set(1)


# Feature families (the prefix before ":", see analytics.explain.describe_feature). What follows the prefix
# is often alert text (words of a summary, label values), so /metrics names the family only.
FEATURE_FAMILIES = frozenset(
    {"alert", "name", "text", "topic", "gram", "check", "sev", "sevmap", "has", "label", "env"}
    | {"metric", "mword", "fn", "op", "cmp", "thr", "range", "for", "hour", "day", "ctx"}
)


def publish_drift(metrics: Metrics, report: DriftReport | None) -> None:
    """The level PSI, and per feature family the PSI of its most drifted feature (``what=feature:text``)."""
    metrics.model_drift_psi.clear()
    if report is None or report.n_recent == 0:
        return
    metrics.model_drift_psi.labels("levels").set(report.level_psi)
    worst: dict[str, float] = {}
    for feature in report.features:
        family = feature.feature.partition(":")[0]
        family = family if family in FEATURE_FAMILIES else "other"
        worst[family] = max(worst.get(family, 0.0), feature.psi)
    for family, psi in sorted(worst.items()):
        metrics.model_drift_psi.labels(f"feature:{family}").set(psi)


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
