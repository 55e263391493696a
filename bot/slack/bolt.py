"""The Bolt app: ``/incident`` commands, the root message's buttons, @mentions and thread capture
(:mod:`bot.slack.capture`), mounted on FastAPI.

Every listener acknowledges Slack first (well within its 3 seconds), checks the request against
``slack.permissions`` (:mod:`bot.slack.permissions`: a refusal is shown to the person alone, with the
reason), works out which incidents it may see (:mod:`bot.slack.visibility`), then does the work in a thread
and answers: commands through their ``response_url`` (ephemeral), buttons and mentions in the incident's
thread. Request signatures are always verified, first by :mod:`bot.slack.edge` before anything parses the
body (HMAC and a five-minute timestamp window; then the shape of what Slack signed), then again by Bolt's
``RequestVerification``. Slack retries an event it thinks was not acknowledged (``X-Slack-Retry-Num``); the
event id is recorded in SQL first, so a retry is dropped by whichever process receives it.
"""

from __future__ import annotations

import contextlib
import logging
import time
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

from bot.errors import MalformedPayload, UsageError
from bot.http.body import read_body, replaying
from bot.incidents.notes import NoteCapture
from bot.settings import FileConfig, Settings
from bot.slack.blocks import (
    ACTION_ACK,
    ACTION_ACK_RELATED,
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    ACTION_WHY,
    user_ref,
)
from bot.slack.capture import register_capture
from bot.slack.commands import Command, parse
from bot.slack.directory import SlackDirectory
from bot.slack.edge import check_shape, verify_signature
from bot.slack.handlers import Reply, SlackHandlers
from bot.slack.interactions import button_command, mention_command, without_mentions
from bot.slack.permissions import Gatekeeper, Requester, requester_of
from bot.slack.routing import ChannelRouter
from bot.slack.silence_button import ACTION_SILENCE
from bot.slack.silencing import SilenceDesk, silence_desk
from bot.slack.visibility import EVERYWHERE, Placement, Scope, Visibility
from bot.slack.webapi import make_client
from storage.db import Database

log = logging.getLogger(__name__)

# Verbs that read or act on incidents, so need to know which ones the request may see.
_INCIDENT_VERBS = frozenset(
    {
        "list",
        "show",
        "why",
        "ack",
        "ack_related",
        "resolve",
        "sev",
        "noise",
        "summarize",
        "runbook",
        "postmortem",
    }
)


@dataclass(frozen=True, slots=True)
class Guard:
    """The checks between a Slack request and the handlers: permissions, then visibility."""

    gatekeeper: Gatekeeper
    visibility: Visibility
    silences: SilenceDesk | None = None  # silence commands; None: they are not offered

    async def run(self, handlers: SlackHandlers, command: Command, who: Requester) -> Reply:
        """The refusal (shown to the person alone: ``refused``), or the command's answer."""
        refusal = await self.gatekeeper.refusal(who, command)
        if refusal is not None:
            return Reply(refusal, refused=True)
        scope = EVERYWHERE
        if command.verb in _INCIDENT_VERBS or command.silence_action == "incident":
            channels = await anyio.to_thread.run_sync(handlers.incident_channels)
            scope = await self.visibility.scope(who.channel_id, channels)
        if command.verb == "silence":
            if self.silences is None:
                return Reply("Silences are not available in this installation.")
            return await self.silences.run(command, who, scope)
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
            parsed = parse(command.get("text") or "", thread_incident=thread_incident, command=command_name)
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
        container = body.get("container") or {}
        message_ts = container.get("message_ts")
        thread_incident = None
        if not action.get("value") and not str(action.get("block_id") or "").startswith("incident:"):
            # No id on the control: the incident is the one whose thread (or root) it sits in.
            thread_incident = await anyio.to_thread.run_sync(
                handlers.incident_for_thread,
                container.get("channel_id") or who.channel_id,
                container.get("thread_ts") or message_ts,
            )
        command = button_command(action, thread_incident=thread_incident)
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

    for action_id in (
        ACTION_ACK,
        ACTION_RESOLVE,
        ACTION_WHY,
        ACTION_SEVERITY,
        ACTION_SILENCE,
        ACTION_ACK_RELATED,
    ):
        app.action(action_id)(on_button)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        if not event.get("user"):
            return  # a bot's or a workflow's mention (only ``bot_id``): nobody to answer or to permit
        who = requester_of(body)
        channel = event.get("channel") or ""
        thread_ts = event.get("thread_ts") or event.get("ts")
        text = without_mentions(event.get("text") or "")
        incident_id = await anyio.to_thread.run_sync(
            handlers.incident_for_thread, event.get("channel"), event.get("thread_ts")
        )
        asked = mention_command(text, incident_id, command_name)
        reply = asked if isinstance(asked, Reply) else await guard.run(handlers, asked, who)
        await answer(reply)
        if incident_id is not None and reply.told_in_thread == incident_id:
            return  # the thread's own reply about the change is the one confirmation
        if reply.refused or reply.private:  # for the person who asked, not the channel (no pings)
            await _safe(
                client.chat_postEphemeral(
                    channel=channel,
                    user=who.user_id,
                    text=reply.text,
                    blocks=reply.blocks,
                    thread_ts=thread_ts,
                )
            )
            return
        await _safe(
            client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=reply.text, blocks=reply.blocks
            )
        )

    register_capture(
        app, notes=NoteCapture(db=handlers.db, clock=handlers.clock), gatekeeper=guard.gatekeeper
    )
    return app


def _run(handlers: SlackHandlers, command: Command, user: str, scope: Scope) -> Reply:
    try:
        return handlers.run(command, user=user, scope=scope)
    except Exception:
        log.exception("slack command failed", extra={"verb": command.verb})
        return Reply("Sorry, that failed on sevbot's side; it has been logged.")


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
        guard=Guard(
            Gatekeeper(permissions, directory),
            Visibility(directory),
            silence_desk(settings, db=db, handlers=handlers, directory=directory, clock=clock),
        ),
        command_name=settings.slack_command,
        wake=wake,
    )
    if secret is not None:
        handler = AsyncSlackRequestHandler(bolt)
        signing_secret = secret.get_secret_value()

        @app.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            # The webhooks' size limit applies before anything is read whole (a 413 past it); then Slack's
            # signature (a 401 without it) and the shape of what Slack signed (a 400 naming the field),
            # both before Bolt, which parses a body before it checks the signature (bot.slack.edge).
            body = await read_body(request, settings.max_body_bytes)
            verify_signature(request.headers, body, signing_secret, now=time.time())
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedPayload("the body is not UTF-8") from None
            check_shape(text, request.headers.get("content-type", "").split(";")[0] or None)
            return await handler.handle(replaying(request, body))

    return SlackRuntime(bolt=bolt, handlers=handlers, app_token=app_token)
