"""The composition root: builds sevbot's services from settings, for the web app, the worker and the CLI."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from analytics.records import OutboxStatus, OutboxTopic, ScorerOrigin
from analytics.scoring import RuleScorer, Scorer
from bot.clock import utcnow
from bot.errors import ConfigError
from bot.incidents.correlation import RelatedBy, Relation, dependency_chains
from bot.incidents.escalation import Escalator
from bot.incidents.heartbeat import HeartbeatWatch
from bot.incidents.rules import IncidentRules
from bot.incidents.ticker import Ticker
from bot.ingest.context import ContextProvider
from bot.ingest.pipeline import Ingestor
from bot.llm.sink import build_draft_sink
from bot.metrics import Metrics
from bot.model.serving import ScorerSlot, choose_scorer
from bot.outbox.console import ConsoleSink
from bot.outbox.pager import PagerDutySink, WebhookSink
from bot.outbox.worker import Sink, TopicRouter
from bot.settings import FileConfig, Settings
from bot.slack.pacing import ChannelPacer
from bot.slack.sink import SlackSink
from bot.slack.sink_render import SlackOptions
from bot.slack.webapi import make_client
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
    heartbeats: HeartbeatWatch

    def close(self) -> None:
        self.db.dispose()


def settle_heap() -> None:
    """Hide what start-up built from the garbage collector, once the service is ready to serve.

    The model, the routes, SQLAlchemy's tables and the imported modules are about 180,000 objects that
    live as long as the process. Python's full collections walk every tracked object, so with them in
    sight each one took 70 to 190 ms of the GIL on a 2-core machine, and a webhook that arrived then
    waited for it (most of the p99 of ``bench/ingest.py`` at a steady 200 alerts/s). ``gc.freeze()``
    moves them to a generation that is never collected; what the service builds later is collected as
    before. The app's shutdown unfreezes them.
    """
    gc.collect()
    gc.freeze()


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
    heartbeats = HeartbeatWatch(config=config.heartbeat, clock=clock)
    ingestor = Ingestor(
        db=db,
        scorer=slot,
        rules=rules,
        context=ContextProvider(catalog=config.services),
        metrics=metrics,
        clock=clock,
        heartbeats=heartbeats,
    )

    def outbox_counts() -> dict[str, float]:
        with db.read() as conn:
            counts = OutboxRepository(conn).count_by_status()
        return {status.value: float(counts.get(status, 0)) for status in OutboxStatus}

    metrics.watch_outbox(outbox_counts)
    metrics.watch_heartbeats(lambda: heartbeats.last_seen(db))
    return Services(
        settings=settings,
        config=config,
        db=db,
        metrics=metrics,
        scorer=slot,
        ingestor=ingestor,
        heartbeats=heartbeats,
    )


def pager_sinks(settings: Settings, config: FileConfig) -> dict[OutboxTopic, Sink]:
    """The pagers configured in ``escalation`` (PagerDuty needs SEVBOT_PAGERDUTY_ROUTING_KEY)."""
    sinks: dict[OutboxTopic, Sink] = {}
    pagerduty = config.escalation.pagerduty
    if pagerduty is not None:
        if settings.pagerduty_routing_key is None:
            raise ConfigError(
                "escalation.pagerduty is configured but SEVBOT_PAGERDUTY_ROUTING_KEY"
                " (or SEVBOT_PAGERDUTY_ROUTING_KEY_FILE) is not set"
            )
        sinks[OutboxTopic.PAGERDUTY] = PagerDutySink(
            base_url=pagerduty.url,
            routing_key=settings.pagerduty_routing_key.get_secret_value(),
            timeout=pagerduty.timeout.total_seconds(),
        )
    webhook = config.escalation.webhook
    if webhook is not None:
        token = settings.pager_webhook_token
        sinks[OutboxTopic.WEBHOOK] = WebhookSink(
            url=webhook.url,
            token=token.get_secret_value() if token else None,
            timeout=webhook.timeout.total_seconds(),
        )
    return sinks


def build_ticker(services: Services, *, wake: Callable[[], None] | None = None) -> Ticker:
    """The periodic escalation and heartbeat task of a process that delivers the outbox."""
    escalator = Escalator(
        db=services.db,
        config=services.config.escalation,
        pagers=list(pager_sinks(services.settings, services.config)),
        clock=services.ingestor.clock,
        metrics=services.metrics,
    )
    return Ticker(db=services.db, escalator=escalator, heartbeats=services.heartbeats, wake=wake)


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
    "pagerduty", "webhook": the pagers configured in ``escalation`` (:func:`pager_sinks`).
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
    for topic, sink in pager_sinks(services.settings, services.config).items():
        router.register(topic, sink)
    return router


def build_slack_sink(
    *,
    db: Database,
    settings: Settings,
    config: FileConfig,
    metrics: Metrics | None,
    clock: Callable[[], datetime],
) -> SlackSink:
    """The sink ``sevbot serve`` and ``sevbot worker`` use when ``SLACK_BOT_TOKEN`` is set."""
    assert settings.slack_bot_token is not None
    client = make_client(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
    )
    return SlackSink(
        db=db,
        client=client,
        config=config,
        options=SlackOptions.from_settings(settings),
        metrics=metrics,
        pacer=ChannelPacer(db, interval=settings.slack_channel_interval),
        clock=clock,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
    )
