"""The outbox sink for topic "llm": turns ``draft.requested`` rows into drafts without holding up Slack.

The outbox worker delivers a claimed batch one row at a time, so a sink that waited for a slow LLM would
hold back the Slack messages behind it. This sink therefore runs each draft as its own task and waits for
it only ``handoff`` seconds, and not at all while another draft is still in flight. A draft done by then
is delivered at once (a template draft takes milliseconds); otherwise the row is handed back
(:class:`RetryAfter`, a short re-check) while the task carries on, and the next delivery of the same row
picks up the task's result. So the worker waits at most ``handoff`` per draft row, and only for drafts that
finish within it; slow ones run side by side in the background. The row stays pending until its draft is
stored, so a crash loses nothing: the row is simply drafted again. Each call is still bounded by the
client's own timeout and retries. (With several ``sevbot worker`` processes, a row handed back may be
taken by another process; a draft the first one wrote since the request was queued then satisfies it, so
it is not drafted again. Only two drafts running at the very same time can both be written.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from analytics.records import OutboxKind
from bot.errors import ConfigError, PermanentError, RetryAfter
from bot.llm.client import ClientConfig, DraftingClient
from bot.llm.drafting import Budget, Drafter, DraftRequest
from bot.llm.redaction import Redactor
from bot.llm.runbooks import RunbookLibrary
from bot.metrics import Metrics
from bot.settings import FileConfig, Settings
from storage.db import Database
from storage.models import Incident
from storage.outbox import OutboxItem

log = logging.getLogger(__name__)

MAX_TRACKED = 512  # finished drafts kept for their rows' next delivery before the oldest are dropped


def _still_resolved(payload: dict[str, Any], incident: Incident | None) -> bool:
    """A flapping incident's resolution draft (``resolved_at`` in its request) is written only if the
    incident is still resolved since then: it stayed stable (``bot.ingest.related.flapping_draft``)."""
    asked = payload.get("resolved_at")
    if asked is None or incident is None:
        return True
    resolved_at = incident.resolved_at
    return incident.status == "resolved" and resolved_at is not None and resolved_at.isoformat() == asked


class DraftSink:
    def __init__(self, drafter: Drafter, *, handoff: float = 0.25, recheck: float = 1.0) -> None:
        self.drafter = drafter
        self.handoff = handoff
        self.recheck = recheck
        self._tasks: dict[int, asyncio.Task[dict[str, Any]]] = {}

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        if message.kind != OutboxKind.DRAFT_REQUESTED:
            raise PermanentError(f"the llm topic has no message kind {message.kind!r}")
        if not _still_resolved(message.payload, incident):
            return {"skipped": "the flapping incident changed before it was stable; no resolution draft"}
        request = DraftRequest.from_payload(message.id, message.incident_id, message.payload)
        loop = asyncio.get_running_loop()
        task = self._tasks.get(message.id)
        if task is not None and (task.cancelled() or (not task.done() and task.get_loop() is not loop)):
            task = None  # cancelled, or left running in an event loop that is gone: draft again
        if task is None:
            self._forget_uncollected()
            task = loop.create_task(self.drafter.draft(request), name=f"draft-{message.id}")
            self._tasks[message.id] = task
        if not task.done():
            others = any(not t.done() for key, t in self._tasks.items() if key != message.id)
            await asyncio.wait({task}, timeout=0 if others else self.handoff)
        if not task.done():
            raise RetryAfter(self.recheck)
        del self._tasks[message.id]
        return task.result()

    def _forget_uncollected(self) -> None:
        """Drop finished drafts nobody came back for (their row was taken by another worker process)."""
        if len(self._tasks) >= MAX_TRACKED:
            for key in [key for key, task in self._tasks.items() if task.done()]:
                del self._tasks[key]

    @property
    def in_flight(self) -> int:
        return sum(not task.done() for task in self._tasks.values())

    @property
    def ready(self) -> int:
        """Drafts finished in the background whose rows have not been delivered again yet."""
        return sum(task.done() for task in self._tasks.values())

    async def drain(self) -> None:
        """Wait for every draft in flight (tests, and a graceful shutdown)."""
        pending = [task for task in self._tasks.values() if not task.done()]
        if pending:
            await asyncio.wait(pending)


def build_draft_sink(
    settings: Settings,
    *,
    config: FileConfig,
    db: Database,
    metrics: Metrics | None,
    clock: Callable[[], datetime],
) -> DraftSink:
    """The "llm" sink from settings: the LLM client when one is configured, else template drafts only."""
    library = None
    if settings.runbooks_dir is not None:
        try:
            library = RunbookLibrary.from_folder(settings.runbooks_dir)
        except OSError as exc:
            raise ConfigError(f"SEVBOT_RUNBOOKS_DIR: {exc}") from exc
        log.info("runbook library loaded", extra={"sections": len(library)})
    client = DraftingClient(ClientConfig.from_settings(settings)) if settings.llm_configured else None
    drafter = Drafter(
        db=db,
        client=client,
        redactor=Redactor(config.redaction.patterns),
        library=library,
        budget=Budget(calls_per_hour=settings.llm_calls_per_hour, tokens_per_day=settings.llm_tokens_per_day),
        max_output_tokens=settings.llm_max_output_tokens,
        context_tokens=settings.llm_context_tokens,
        redraft_interval=settings.llm_redraft_interval,
        metrics=metrics,
        clock=clock,
    )
    return DraftSink(drafter, handoff=settings.llm_handoff_seconds)
