"""Writing one draft: grounding → prompt → redaction → cache, budget → LLM call or template → stored draft.

The result is stored in one transaction with the record of the call (``llm_calls``, holding the redacted
prompt) and the outbox row that posts the draft to the incident's thread (topic "slack", kind
"incident.draft"). Every path ends in a draft: with no LLM configured, over budget, or when the call times
out or fails, the template draft stands in, so an LLM outage loses nothing.

Pacing: an automatic draft (opened, severity, alerts, resolved) of a kind the incident already got a draft
of waits until the redraft interval has passed since that draft, and a newer waiting request for the same
incident and kind replaces an older one; a summary asked for automatically after the incident resolved is
dropped (its resolution draft stands). A person asking (reason "command") never waits.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio

import prompts
from analytics.records import DraftKind, DraftSource, IncidentStatus
from bot.errors import LlmFailure, PermanentError, RetryAfter
from bot.llm import postmortem
from bot.llm.client import Completion, DraftingClient
from bot.llm.fallback import template_draft
from bot.llm.grounding import Grounding, build_grounding, prompt_values
from bot.llm.postmortem_markdown import postmortem_document
from bot.llm.redaction import Redactor
from bot.llm.runbooks import RunbookLibrary
from bot.metrics import Metrics
from bot.outbox.messages import draft_label, incident_draft
from storage.db import Database
from storage.drafts import DraftRepository
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

PROMPT_OF_KIND = {
    "summary": "incident_summary",
    "runbook": "runbook_suggestions",
    "resolution": "resolution_summary",
    "postmortem": "postmortem",
}
MAX_WORDS = {"summary": 180, "runbook": 180, "resolution": 100, "postmortem": postmortem.MAX_WORDS}
DEFER_RECHECK_SECONDS = 30.0
TEMPLATE_MODEL = "template"
# Slack's control sequences: <!here>, <!subteam^S1|@ops>, <@U1>, <#C1|general>, <https://x|masked link>.
_CONTROL = re.compile(r"<([!@#]?)([^<>|\n]{0,500})(?:\|([^<>\n]{0,500}))?>")
_BROADCAST = re.compile(r"(?<![\w`])@(channel|here|everyone)\b")


@dataclass(frozen=True, slots=True)
class Budget:
    calls_per_hour: int
    tokens_per_day: int


@dataclass(frozen=True, slots=True)
class DraftRequest:
    message_id: int
    incident_id: int
    kind: str
    reason: str
    requested_by: str | None

    @classmethod
    def from_payload(cls, message_id: int, incident_id: int | None, payload: dict[str, Any]) -> DraftRequest:
        kind = payload.get("kind")
        if incident_id is None:
            raise PermanentError("draft.requested needs an incident_id")
        if kind not in PROMPT_OF_KIND:
            raise PermanentError(f"draft kind {kind!r} is not one of {', '.join(PROMPT_OF_KIND)}")
        return cls(
            message_id,
            incident_id,
            kind,
            str(payload.get("reason") or "command"),
            payload.get("requested_by"),
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request made ready to send: what would leave, redacted, and the key it is cached under."""

    request: DraftRequest
    grounding: Grounding
    prompt_name: str
    prompt_version: str
    system: str
    user: str
    model: str
    input_hash: str
    postmortem: postmortem.PostmortemFacts | None = None  # a postmortem's own facts (kind "postmortem")

    @property
    def prompt_text(self) -> str:
        return f"[system]\n{self.system}\n[user]\n{self.user}"


class Drafter:
    def __init__(
        self,
        *,
        db: Database,
        client: DraftingClient | None,
        redactor: Redactor,
        library: RunbookLibrary | None,
        budget: Budget,
        max_output_tokens: int = 600,
        context_tokens: int = 2500,
        redraft_interval: timedelta = timedelta(minutes=10),
        metrics: Metrics | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.client = client
        self.redactor = redactor
        self.library = library
        self.budget = budget
        self.max_output_tokens = max_output_tokens
        self.context_tokens = context_tokens
        self.redraft_interval = redraft_interval
        self.metrics = metrics
        self.clock = clock

    @property
    def model(self) -> str:
        return self.client.model if self.client else TEMPLATE_MODEL

    async def draft(self, request: DraftRequest) -> dict[str, Any]:
        """Write (or reuse) the draft asked for; the returned dict is stored on the outbox row."""
        prepared, skip = await anyio.to_thread.run_sync(self._prepare, request, self.model)
        if prepared is None:
            return {"skipped": skip}
        cached = await anyio.to_thread.run_sync(self._cached, prepared)
        if cached is not None:
            return cached
        if self.client is None:
            return await anyio.to_thread.run_sync(self._store_template, prepared, "disabled", None)
        if not await anyio.to_thread.run_sync(self._within_budget, prepared):
            if self.metrics:
                self.metrics.llm_budget_fallbacks.inc()
            return await self._fallback(prepared, "budget", "over the LLM budget")
        try:
            completion = await self.client.complete(
                system=prepared.system, user=prepared.user, max_tokens=self._max_tokens(prepared)
            )
        except LlmFailure as exc:
            log.warning(
                "LLM draft failed; using the template", extra={"outcome": exc.outcome, "error": str(exc)}
            )
            return await self._fallback(prepared, exc.outcome, str(exc))
        return await anyio.to_thread.run_sync(self._store_llm, prepared, completion)

    # --- steps (run in a worker thread: they touch SQL) ----------------------------------------------

    def _prepare(self, request: DraftRequest, model: str) -> tuple[Prepared | None, str]:
        now = self.clock()
        with self.db.read() as conn:
            repo = DraftRepository(conn)
            if repo.newer_request_pending(request.message_id, request.incident_id, request.kind):
                return None, "superseded by a newer request"
            grounding = build_grounding(
                conn,
                request.incident_id,
                library=self.library,
                context_tokens=self.context_tokens,
                redact=self.redactor,
            )
            facts = None
            if request.kind == DraftKind.POSTMORTEM:
                facts = postmortem.postmortem_facts(conn, request.incident_id, redact=self.redactor)
            if grounding is None:
                return None, "incident no longer exists"
            automatic = request.reason != "command"
            if (
                automatic
                and request.kind == DraftKind.SUMMARY
                and grounding.status == IncidentStatus.RESOLVED
            ):
                return None, "incident resolved; the resolution draft stands"
            if (
                automatic
                and request.kind == DraftKind.RESOLUTION
                and grounding.status != IncidentStatus.RESOLVED
            ):
                return None, "incident no longer resolved"
            if automatic:
                latest = repo.latest(request.incident_id, request.kind)
                queued_at = repo.queued_at(request.message_id)
                if latest is not None and queued_at is not None and latest.created_at > queued_at:
                    # Written after this request was queued: by another worker process that had the
                    # row before it was handed back (see bot/llm/sink.py). Drafting again would post
                    # the same draft twice.
                    return None, "drafted already, since this request was queued"
                if latest is not None and now - latest.created_at < self.redraft_interval:
                    # Looked at again at least every half minute: the outbox keeps an incident's rows in
                    # order, so a waiting request must not hold a resolution draft back for long.
                    wait = self.redraft_interval - (now - latest.created_at)
                    raise RetryAfter(min(DEFER_RECHECK_SECONDS, max(1.0, wait.total_seconds())))
        return self._render(request, grounding, model, facts), ""

    def _render(
        self,
        request: DraftRequest,
        grounding: Grounding,
        model: str,
        facts: postmortem.PostmortemFacts | None = None,
    ) -> Prepared:
        system_prompt = prompts.load("system")
        user_prompt = prompts.load(PROMPT_OF_KIND[request.kind])
        values = prompt_values(grounding, max_words=MAX_WORDS[request.kind])
        if facts is not None:
            values |= postmortem.postmortem_values(facts)
        system = self.redactor(system_prompt.render(**values))
        user = self.redactor(user_prompt.render(**values))
        version = f"{user_prompt.version}+system{system_prompt.version}"
        key = "\x1f".join([model, user_prompt.name, version, system, user])
        return Prepared(
            request=request,
            grounding=grounding,
            prompt_name=user_prompt.name,
            prompt_version=version,
            system=system,
            user=user,
            model=model,
            input_hash=hashlib.sha256(key.encode()).hexdigest(),
            postmortem=facts,
        )

    def _cached(self, prepared: Prepared) -> dict[str, Any] | None:
        """The draft made from exactly this input, re-posted only when a person asked for it."""
        request = prepared.request
        with self.db.read() as conn:
            draft = DraftRepository(conn).by_hash(request.incident_id, request.kind, prepared.input_hash)
        if draft is None:
            return None
        with self.db.write() as conn:
            repo = DraftRepository(conn)
            self._record_call(repo, prepared, outcome="cached")
            posted = request.reason == "command"
            if posted:
                self._post(conn, draft.id, request, draft.source, draft.model, draft.text)
        return {"draft_id": draft.id, "source": draft.source, "cached": True, "posted": posted}

    def _max_tokens(self, prepared: Prepared) -> int:
        if prepared.postmortem is not None:
            return max(self.max_output_tokens, postmortem.MAX_OUTPUT_TOKENS)
        return self.max_output_tokens

    def _within_budget(self, prepared: Prepared) -> bool:
        now = self.clock()
        estimate = len(prepared.prompt_text) // 4 + self._max_tokens(prepared)
        with self.db.read() as conn:
            repo = DraftRepository(conn)
            calls = repo.calls_since(now - timedelta(hours=1))
            tokens = repo.tokens_since(now - timedelta(days=1))
        return calls < self.budget.calls_per_hour and tokens + estimate <= self.budget.tokens_per_day

    async def _fallback(self, prepared: Prepared, outcome: str, error: str) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(self._store_template, prepared, outcome, error)

    def _store_template(self, prepared: Prepared, outcome: str, error: str | None) -> dict[str, Any]:
        """The template draft, recorded with why the LLM did not write it (disabled, budget, timeout …)."""
        request = prepared.request
        text = template_draft(request.kind, prepared.grounding)
        if prepared.postmortem is not None:
            text = postmortem_document(prepared.postmortem, label=draft_label(DraftSource.TEMPLATE, None))
        with self.db.write() as conn:
            repo = DraftRepository(conn)
            self._record_call(repo, prepared, outcome=outcome, error=error)
            draft_id = repo.add_draft(
                {
                    "incident_id": request.incident_id,
                    "kind": request.kind,
                    "source": "template",
                    "model": None,
                    "prompt_name": prepared.prompt_name,
                    "prompt_version": prepared.prompt_version,
                    # Cached under the template's key only when no LLM is configured, so a later identical
                    # request after a timeout or budget refusal still gets its chance at the LLM.
                    "input_hash": prepared.input_hash if outcome == "disabled" else f"fallback:{outcome}",
                    "text": text,
                    "created_at": self.clock(),
                }
            )
            self._post(conn, draft_id, request, "template", None, text)
        self._count(outcome)
        return {"draft_id": draft_id, "source": "template", "outcome": outcome}

    def _store_llm(self, prepared: Prepared, completion: Completion) -> dict[str, Any]:
        request = prepared.request
        text = _defuse(self.redactor(completion.text))  # a model may repeat or invent a secret
        if prepared.postmortem is not None:
            label = draft_label(DraftSource.LLM, prepared.model)
            text = postmortem_document(prepared.postmortem, label=label, narrative=text)
        with self.db.write() as conn:
            repo = DraftRepository(conn)
            self._record_call(repo, prepared, outcome="ok", completion=completion)
            draft_id = repo.add_draft(
                {
                    "incident_id": request.incident_id,
                    "kind": request.kind,
                    "source": "llm",
                    "model": prepared.model,
                    "prompt_name": prepared.prompt_name,
                    "prompt_version": prepared.prompt_version,
                    "input_hash": prepared.input_hash,
                    "text": text,
                    "created_at": self.clock(),
                }
            )
            self._post(conn, draft_id, request, "llm", prepared.model, text)
        if self.metrics:
            self.metrics.llm_tokens.labels("in").inc(completion.tokens_in)
            self.metrics.llm_tokens.labels("out").inc(completion.tokens_out)
            self.metrics.llm_latency.observe(completion.latency_ms / 1000)
        self._count("ok")
        return {"draft_id": draft_id, "source": "llm", "model": prepared.model}

    def _record_call(
        self,
        repo: DraftRepository,
        prepared: Prepared,
        *,
        outcome: str,
        error: str | None = None,
        completion: Completion | None = None,
    ) -> None:
        repo.add_call(
            {
                "incident_id": prepared.request.incident_id,
                "prompt_name": prepared.prompt_name,
                "prompt_version": prepared.prompt_version,
                "model": prepared.model,
                "latency_ms": completion.latency_ms if completion else 0.0,
                "tokens_in": completion.tokens_in if completion else 0,
                "tokens_out": completion.tokens_out if completion else 0,
                "outcome": outcome,
                "error": error,
                "input_hash": prepared.input_hash,
                "prompt": prepared.prompt_text,
                "created_at": self.clock(),
            }
        )
        if outcome == "cached":
            self._count("cached")

    def _post(
        self, conn: Any, draft_id: int, request: DraftRequest, source: str, model: str | None, text: str
    ) -> None:
        message = incident_draft(
            request.incident_id,
            draft_id=draft_id,
            kind=DraftKind(request.kind),
            source=DraftSource(source),
            model=model,
            text=text,
            requested_by=request.requested_by,
        )
        OutboxRepository(conn).enqueue([message], self.clock())

    def _count(self, outcome: str) -> None:
        if self.metrics:
            self.metrics.llm_calls.labels(outcome).inc()


def _defuse(text: str) -> str:
    """An LLM draft may not mention anyone or mask a link, whatever the alert text asked of it.

    Every Slack control sequence becomes plain words (``<!channel>`` → `` `channel` ``, ``<@U1>`` → ``@U1``,
    ``<#C1|general>`` → ``#general``, ``<https://x|label>`` → ``label (https://x)``), and the bare
    ``@channel`` / ``@here`` / ``@everyone`` are quoted. The stored draft is what the API shows; Slack
    escapes it again when it is posted.
    """

    def plain(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "!":
            return f"`{(label or target).lstrip('@').split('^')[0]}`"
        if sigil in ("@", "#"):
            return f"{sigil}{label or target}"
        return f"{label} ({target})" if label else target

    return _BROADCAST.sub(lambda m: f"`{m.group(1)}`", _CONTROL.sub(plain, text))
