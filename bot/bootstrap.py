"""The composition root: builds sevbot's services from settings, for the web app, the worker and the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from analytics.records import OutboxStatus, ScorerOrigin
from analytics.scoring import RuleScorer, Scorer
from bot.clock import utcnow
from bot.incidents.correlation import RelatedBy, Relation, dependency_chains
from bot.incidents.rules import IncidentRules
from bot.ingest.context import ContextProvider
from bot.ingest.pipeline import Ingestor
from bot.llm.sink import build_draft_sink
from bot.metrics import Metrics
from bot.model.serving import ScorerSlot, choose_scorer
from bot.outbox.console import ConsoleSink
from bot.outbox.worker import Sink, TopicRouter
from bot.settings import FileConfig, Settings
from bot.slack.sink import build_slack_sink
from storage.db import Database, create_database
from storage.migrate import upgrade
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    config: FileConfig
    db: Database
    metrics: Metrics
    scorer: ScorerSlot
    ingestor: Ingestor

    def close(self) -> None:
        self.db.dispose()


def open_database(settings: Settings) -> Database:
    """The database of ``settings`` (making the data folder of the SQLite default); nothing connects yet."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_database(settings.resolved_database_url, synchronous=settings.sqlite_synchronous)


def build_services(
    settings: Settings,
    *,
    scorer: Scorer | None = None,
    clock: Callable[[], datetime] = utcnow,
    migrate: bool = True,
) -> Services:
    """Wire everything from ``settings``; ``migrate`` upgrades the schema first (idempotent)."""
    config = settings.file_config()
    db = open_database(settings)
    if migrate:
        upgrade(db.engine)
    metrics = Metrics()
    if scorer is not None:
        slot = ScorerSlot(scorer)
    elif settings.scorer == "rules":
        slot = ScorerSlot(RuleScorer(), ScorerOrigin.RULES, "SEVBOT_SCORER=rules: the model is switched off")
    else:
        choice = choose_scorer(db, settings.resolved_model_cache_dir)
        slot = ScorerSlot(choice.scorer, choice.origin, choice.warning)
    rules = IncidentRules(
        reopen_window=config.grouping.reopen_window,
        flap_changes=config.grouping.flap_changes,
        flap_window=config.grouping.flap_window,
        relation=relation_from(config),
        stable_after=config.grouping.stable_after,
    )
    ingestor = Ingestor(
        db=db,
        scorer=slot,
        rules=rules,
        context=ContextProvider(catalog=config.services),
        metrics=metrics,
        clock=clock,
    )

    def outbox_counts() -> dict[str, float]:
        with db.read() as conn:
            counts = OutboxRepository(conn).count_by_status()
        return {status.value: float(counts.get(status, 0)) for status in OutboxStatus}

    metrics.watch_outbox(outbox_counts)
    return Services(settings=settings, config=config, db=db, metrics=metrics, scorer=slot, ingestor=ingestor)


def relation_from(config: FileConfig) -> Relation:
    """How incidents are related: ``grouping.related_by`` and ``related_window``, the catalog's chains."""
    chains = dependency_chains({name: entry.depends_on for name, entry in config.services.items()})
    return Relation(
        by=RelatedBy(config.grouping.related_by), window=config.grouping.related_window, chains=chains
    )


def outbox_sinks(services: Services, *, slack: Sink | None = None) -> TopicRouter:
    """The sink for each outbox topic, shared by the in-process worker and ``sevbot worker``.

    "slack": the given sink (tests pass their own), else Slack when SLACK_BOT_TOKEN is set, else the console
    sink that prints what would be posted.
    "llm": the drafting sink (always there: with no LLM configured it writes template drafts).
    """
    if slack is None and services.settings.slack_bot_token is not None:
        slack = build_slack_sink(
            db=services.db,
            settings=services.settings,
            config=services.config,
            metrics=services.metrics,
            clock=services.ingestor.clock,
        )
    router = TopicRouter({"slack": slack or ConsoleSink()})
    router.register(
        "llm",
        build_draft_sink(
            services.settings,
            config=services.config,
            db=services.db,
            metrics=services.metrics,
            clock=services.ingestor.clock,
        ),
    )
    return router
