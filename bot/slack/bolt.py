"""The Bolt app: ``/incident`` commands, the root message's buttons and @mentions, mounted on FastAPI.

Every listener acknowledges Slack first (well within its 3 seconds), checks the request against
``slack.permissions`` (:mod:`bot.slack.permissions`: a refusal is shown to the person alone, with the
reason), works out which incidents it may see (:mod:`bot.slack.visibility`), then does the work in a thread
and answers: commands through their ``response_url`` (ephemeral), buttons and mentions in the incident's
thread. Request signatures are always verified (Bolt's ``RequestVerification``: HMAC and a five-minute
timestamp window). Slack retries an event it thinks was not acknowledged (``X-Slack-Retry-Num``); the
event id is recorded in SQL first, so a retry is dropped by whichever process receives it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from analytics.records import SEVERITIES
from bot.errors import MalformedPayload, UsageError
from bot.http.body import read_body, replaying
from bot.settings import FileConfig, Settings
from bot.slack.blocks import (
    ACTION_ACK,
    ACTION_ACK_RELATED,
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    ACTION_WHY,
    user_ref,
)
from bot.slack.commands import Command, help_text, parse
from bot.slack.directory import SlackDirectory
from bot.slack.handlers import Reply, SlackHandlers
from bot.slack.permissions import Gatekeeper, Requester, requester_of
from bot.slack.routing import ChannelRouter
from bot.slack.visibility import EVERYWHERE, Placement, Scope, Visibility
from bot.slack.webapi import make_client
from storage.db import Database

log = logging.getLogger(__name__)

# "Why was this flagged?" in a mention: "why" and then a word about severity on the same line, a "why"
# that ends the message, or "explain"/"reason". Mention text is anyone's, so this is read in linear time
# (one regex with ``why\b.*\b(…)`` and ``\s*\??\s*$`` took 5 s on 20 KB of "why why why …").
_WHY_WORD = re.compile(r"\bwhy\b", re.IGNORECASE)
_WHY_START = re.compile(r"\bwhy", re.IGNORECASE)
_WHY_TOPIC = re.compile(
    r"\b(flag|flagged|sev|severity|page|paged|alert|this|critical|high|urgent|important|score)", re.IGNORECASE
)
_EXPLAIN = re.compile(r"\b(explain|reason)", re.IGNORECASE)
_SUMMARIZE = re.compile(r"\b(summari[sz]e|summary|tl;?dr|recap)\b", re.IGNORECASE)
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
_ACTION_VERBS = ("ack", "acknowledge", "resolve", "sev", "severity", "noise", "show", "runbook")
# Verbs that read or act on incidents, so need to know which ones the request may see.
_INCIDENT_VERBS = frozenset(
    {"list", "show", "why", "ack", "ack_related", "resolve", "sev", "noise", "summarize", "runbook"}
)


@dataclass(frozen=True, slots=True)
class Guard:
    """The checks between a Slack request and the handlers: permissions, then visibility."""

    gatekeeper: Gatekeeper
    visibility: Visibility

    async def run(self, handlers: SlackHandlers, command: Command, who: Requester) -> Reply:
        """The refusal (shown to the person alone: ``refused``), or the command's answer."""
        refusal = await self.gatekeeper.refusal(who, command)
        if refusal is not None:
            return Reply(refusal, refused=True)
        scope = EVERYWHERE
        if command.verb in _INCIDENT_VERBS:
            channels = await anyio.to_thread.run_sync(handlers.incident_channels)
            scope = await self.visibility.scope(who.channel_id, channels)
        return await anyio.to_thread.run_sync(_run, handlers, command, who.user_id, scope)


@dataclass(frozen=True, slots=True)
class SlackRuntime:
    """The mounted Slack app; ``start``/``stop`` run Socket Mode when an app token is configured."""

    bolt: AsyncApp
    handlers: SlackHandlers
    app_token: str | None

    async def start(self) -> Callable[[], Awaitable[None]] | None:
        if not self.app_token:
            return None
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket = AsyncSocketModeHandler(self.bolt, self.app_token)
        try:
            await socket.connect_async()  # type: ignore[no-untyped-call]
        except Exception:
            # Alerts must keep flowing even when Slack cannot be reached; the outbox catches up later.
            log.exception("slack socket mode could not connect; commands and buttons are unavailable")
            return None
        log.info("slack socket mode connected")
        return socket.close_async


def build_bolt_app(
    *,
    signing_secret: str,
    client: AsyncWebClient,
    handlers: SlackHandlers,
    guard: Guard,
    command_name: str = "/incident",
    wake: Callable[[], None] = lambda: None,
) -> AsyncApp:
    """The Bolt app with sevbot's listeners (signature verification on; Slack's retries deduplicated)."""
    app = AsyncApp(signing_secret=signing_secret, client=client, process_before_response=False)

    async def answer(reply: Reply) -> None:
        if reply.wake:
            wake()

    @app.middleware
    async def drop_event_retries(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await anyio.to_thread.run_sync(handlers.remember_event, str(event_id)):
            log.info("slack event already handled; retry dropped", extra={"event_id": event_id})
            return BoltResponse(status=200, body="")
        await next()
        return None

    @app.command(command_name)
    async def on_command(ack: Any, command: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        thread_incident = await anyio.to_thread.run_sync(
            handlers.incident_for_thread, command.get("channel_id"), command.get("thread_ts")
        )
        try:
            parsed = parse(command.get("text", ""), thread_incident=thread_incident, command=command_name)
        except UsageError as exc:
            await ack(text=str(exc))  # ephemeral by default; what it echoes of the input is escaped
            return
        await ack()
        who = requester_of(command)
        reply = await guard.run(handlers, parsed, who)
        await answer(reply)
        await respond(text=reply.text, blocks=reply.blocks, response_type="ephemeral", replace_original=False)
        if reply.files:
            await _share_files(client, reply.files, channel=command.get("channel_id"), user=who.user_id)

    async def on_button(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        who = requester_of(body)
        message_ts = (body.get("container") or {}).get("message_ts")
        command = button_command(action)
        if command is None:
            return
        reply = await guard.run(handlers, command, who)
        await answer(reply)
        if who.channel_id:
            await _safe(
                client.chat_postEphemeral(
                    channel=who.channel_id,
                    user=who.user_id,
                    text=reply.text,
                    blocks=reply.blocks,
                    thread_ts=message_ts,
                )
            )

    for action_id in (ACTION_ACK, ACTION_RESOLVE, ACTION_WHY, ACTION_SEVERITY, ACTION_ACK_RELATED):
        app.action(action_id)(on_button)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        who = requester_of(body)
        channel = event.get("channel") or ""
        thread_ts = event.get("thread_ts") or event.get("ts")
        text = _MENTION.sub("", event.get("text", "")).strip()
        incident_id = await anyio.to_thread.run_sync(
            handlers.incident_for_thread, event.get("channel"), event.get("thread_ts")
        )
        asked = mention_command(text, incident_id, command_name)
        reply = asked if isinstance(asked, Reply) else await guard.run(handlers, asked, who)
        await answer(reply)
        if reply.refused:  # the reason is for the person who asked, not the channel
            await _safe(
                client.chat_postEphemeral(
                    channel=channel, user=who.user_id, text=reply.text, thread_ts=thread_ts
                )
            )
            return
        await _safe(
            client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=reply.text, blocks=reply.blocks
            )
        )

    return app


def button_command(action: dict[str, Any]) -> Command | None:
    """The command a press of the root message's buttons or severity select stands for (pure).

    The incident id is the button's ``value``, or the actions block's ``block_id`` (``incident:ID``);
    a select carries the chosen level. Anything else (a level that is not one, an id that is not a
    number) is None: nothing is done.
    """
    action_id = action.get("action_id")
    block = str(action.get("block_id") or "")
    raw = action.get("value") or (block.split(":", 1)[1] if block.startswith("incident:") else "")
    if action_id == ACTION_SEVERITY and block.startswith("incident:"):
        raw = block.split(":", 1)[1]
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 12:
        return None
    incident_id = int(raw)
    if action_id == ACTION_SEVERITY:
        level = (action.get("selected_option") or {}).get("value")
        if level not in SEVERITIES:
            return None
        return Command("sev", incident_id=incident_id, severity=level, text="set from the Slack select")
    if action_id == ACTION_WHY:
        return Command("why", incident_id=incident_id)
    if action_id == ACTION_ACK:
        return Command("ack", incident_id=incident_id)
    if action_id == ACTION_RESOLVE:
        return Command("resolve", incident_id=incident_id)
    if action_id == ACTION_ACK_RELATED:
        return Command("ack_related", incident_id=incident_id)
    return None


def asks_why(text: str) -> bool:
    """Whether a mention asks why the incident was flagged (see ``_WHY_TOPIC``; pure, linear time)."""
    if _EXPLAIN.search(text):
        return True
    last = None
    for last in _WHY_START.finditer(text):  # noqa: B007 - the last "why" is the one that may end the text
        pass
    if last is not None and text[last.end() :].strip() in ("", "?"):
        return True
    for line in text.split("\n"):  # the first "why" of a line, then a topic word after it on that line
        why = _WHY_WORD.search(line)
        if why is not None and _WHY_TOPIC.search(line, why.end()):
            return True
    return False


def _run(handlers: SlackHandlers, command: Command, user: str, scope: Scope) -> Reply:
    try:
        return handlers.run(command, user=user, scope=scope)
    except Exception:
        log.exception("slack command failed", extra={"verb": command.verb})
        return Reply("Sorry, that failed on sevbot's side; it has been logged.")


def mention_command(text: str, incident_id: int | None, command_name: str) -> Command | Reply:
    """What an @mention asks for (pure): "why was this flagged?" → why; "summarize" → a draft; a
    subcommand → that command; a usage error or anything else → the answer itself (help)."""
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if incident_id is not None and asks_why(text):
        return Command("why", incident_id=incident_id)
    if incident_id is not None and _SUMMARIZE.search(text):
        return Command("summarize", incident_id=incident_id)
    if first in _ACTION_VERBS or (first and first in ("why", "summarize", "list", "stats", "silence")):
        try:
            return parse(text, thread_incident=incident_id, command=command_name)
        except UsageError as exc:
            return Reply(str(exc))
    where = "" if incident_id is not None else " Mention me in an incident's thread to ask about it."
    return Reply(
        'I can explain why an incident was flagged ("why was this flagged?"), draft a summary'
        f' ("summarize"), or run any {command_name} subcommand.{where}\n' + help_text(command_name)
    )


async def _share_files(
    client: AsyncWebClient, files: tuple[Path, ...], *, channel: str | None, user: str
) -> None:
    """Upload the report's charts to the channel the command came from, then remove them."""
    try:
        if channel:
            uploads = [
                {"file": str(path), "filename": path.name, "title": path.stem.replace("_", " ")}
                for path in files
            ]
            await _safe(
                client.files_upload_v2(
                    channel=channel,
                    file_uploads=uploads,
                    initial_comment=f"Incident charts, asked for by {user_ref(user)}",
                )
            )
    finally:
        for path in files:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            files[0].parent.rmdir()


async def _safe(call: Awaitable[Any]) -> None:
    try:
        await call
    except SlackApiError as exc:
        log.warning("slack answer failed", extra={"error": exc.response.get("error")})


def mount_slack(
    app: FastAPI,
    *,
    settings: Settings,
    config: FileConfig,
    db: Database,
    clock: Callable[[], datetime],
    wake: Callable[[], None],
) -> SlackRuntime | None:
    """Mount ``POST /slack/events`` when ``SLACK_SIGNING_SECRET`` (or Socket Mode's app token) is set."""
    secret = settings.slack_signing_secret
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if secret is None and app_token is None:
        return None
    if settings.slack_bot_token is None:
        log.warning("SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not; the Slack app is not mounted")
        return None
    client = make_client(  # no blind resend of a post whose connection dropped (see webapi.make_client)
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
    )

    def report(
        db: Database, since: timedelta, now: datetime, charts_dir: Path | None
    ) -> tuple[str, list[Path]]:
        from bot.reporting import build_report, write_charts

        built = build_report(db, since=since, now=now)
        return built.as_text(), write_charts(built, charts_dir) if charts_dir is not None else []

    placement = Placement(ChannelRouter(config.slack, settings.slack_channel), config.services)
    handlers = SlackHandlers(
        db=db, clock=clock, command_name=settings.slack_command, report=report, placement=placement
    )
    permissions = config.slack.permissions
    directory = SlackDirectory(client, ttl=permissions.cache_ttl, clock=clock)
    bolt = build_bolt_app(
        # Socket Mode does not sign requests; over HTTP the secret is required and always checked.
        signing_secret=secret.get_secret_value() if secret else "",
        client=client,
        handlers=handlers,
        guard=Guard(Gatekeeper(permissions, directory), Visibility(directory)),
        command_name=settings.slack_command,
        wake=wake,
    )
    if secret is not None:
        handler = AsyncSlackRequestHandler(bolt)

        @app.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            # The webhooks' size limit applies before anything is read whole (a 413 past it), and a body
            # Bolt could not decode is a 400 here: Bolt parses it before it checks the signature.
            body = await read_body(request, settings.max_body_bytes)
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedPayload("the body is not UTF-8") from None
            try:
                return await handler.handle(replaying(request, body))
            except (ValueError, RecursionError) as exc:  # JSON that is not JSON, or nested too deep
                raise MalformedPayload(f"not a Slack request: {type(exc).__name__}") from None

    return SlackRuntime(bolt=bolt, handlers=handlers, app_token=app_token)
