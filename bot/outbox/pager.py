"""The outbox sinks for the pagers: PagerDuty's Events API v2 (topic "pagerduty") and a generic outgoing
webhook (topic "webhook"). Each ``pager.event`` row is one POST.

Delivery is at least once, like every outbox row; a repeat does no harm: PagerDuty folds events with the
same ``dedup_key`` (``sevbot-<install>-<incident id>``) into one incident, and the webhook gets the row's
id as ``Idempotency-Key``. How an answer is taken: 2xx done; 429 waits (``Retry-After`` when given, else
the worker's backoff); 5xx and connection failures are retried with backoff (:class:`PagerFailure`); any
other 4xx (a wrong routing key, a refused body) parks the row until an operator fixes it and runs
``sevbot outbox retry --parked``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from analytics.records import OutboxKind, PagerAction
from bot.errors import DeliveryBlocked, PagerFailure, PermanentError, RetryAfter
from storage.models import Incident
from storage.outbox import OutboxItem

log = logging.getLogger(__name__)

PAGERDUTY_SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning", "SEV4": "info"}


async def post_json(
    *,
    target: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    seconds: float,
    json_answer: bool = False,
) -> dict[str, Any]:
    """POST ``body``; what the receiver answered (status and body), or the outbox's exception for it."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.post(  # never followed: a redirect would carry the key elsewhere, or end on a page
                url,
                data=json.dumps(body),
                headers={"Content-Type": "application/json", **headers},
                allow_redirects=False,
            ) as r,
        ):
            text = (await r.text())[:500]
            status = r.status
            retry_after = r.headers.get("Retry-After")
            location = r.headers.get("Location")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PagerFailure(target=target, status=None, detail=f"not reached ({exc!r})") from exc
    if 200 <= status < 300 and (not json_answer or _json_object(text)):
        return {"status": status, "answer": text}
    if 200 <= status < 300:  # a proxy's page, not the receiver's answer: the event may not have arrived
        raise PagerFailure(
            target=target, status=status, detail=f"answered {status} without its JSON: {text[:200]}"
        )
    if 300 <= status < 400:
        raise DeliveryBlocked(
            f"{target} redirected the event ({status} to {(location or 'nowhere')[:200]}); "
            "set its URL to where it goes",
            reason=f"{target}_{status}",
        )
    if status == 429:
        wait = _seconds(retry_after)
        if wait is not None:
            raise RetryAfter(wait)  # bounded by RetryAfter
        raise PagerFailure(target=target, status=status, detail="rate limited (429)")
    if status >= 500:
        raise PagerFailure(target=target, status=status, detail=f"answered {status}: {text[:200]}")
    raise DeliveryBlocked(f"{target} refused the event ({status}): {text[:200]}", reason=f"{target}_{status}")


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _check(message: OutboxItem) -> dict[str, Any]:
    if message.kind != OutboxKind.PAGER_EVENT:
        raise PermanentError(f"the {message.topic} topic has no message kind {message.kind!r}")
    return message.payload


class PagerDutySink:
    """``POST {base_url}/v2/enqueue``: trigger (with summary, severity, source), then acknowledge, resolve."""

    def __init__(self, *, base_url: str, routing_key: str, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + "/v2/enqueue"
        self.routing_key = routing_key
        self.timeout = timeout

    def body(self, payload: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": str(payload["action"]),
            "dedup_key": payload["dedup_key"],
        }
        if payload["action"] == PagerAction.TRIGGER:
            body["payload"] = {
                "summary": payload["summary"],
                "severity": PAGERDUTY_SEVERITY.get(str(payload["severity"]), "critical"),
                "source": f"sevbot/{payload['source']}",
                "component": payload.get("service") or None,
                "custom_details": {"severity": payload["severity"], "reason": payload.get("reason")},
            }
            body["client"] = "sevbot"
        return body

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        payload = _check(message)
        answer = await post_json(
            target="pagerduty",
            url=self.url,
            body=self.body(payload),
            headers={},
            seconds=self.timeout,
            json_answer=True,  # PagerDuty answers 202 {"status": "success", …}
        )
        log.info(
            "pager event delivered",
            extra={"incident_id": message.incident_id, "target": "pagerduty", "action": payload["action"]},
        )
        return {**answer, "dedup_key": payload["dedup_key"]}


class WebhookSink:
    """``POST url`` with ``{"event", "dedup_key", "reason", "at", "incident": {…}}`` and, when a token is
    set, ``Authorization: Bearer <token>``."""

    def __init__(self, *, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    @staticmethod
    def body(payload: dict[str, Any], incident: Incident | None, incident_id: int | None) -> dict[str, Any]:
        about: dict[str, Any] = {
            "id": incident_id,
            "title": payload["summary"],
            "severity": payload["severity"],
            "status": payload["status"],
            "service": payload.get("service"),
            "source": payload["source"],
        }
        if incident is not None:
            about.update(
                title=incident.title,
                opened_at=incident.opened_at.isoformat(),
                acknowledged_at=incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
                acknowledged_by=incident.acknowledged_by,
                resolved_at=incident.resolved_at.isoformat() if incident.resolved_at else None,
                labels=incident.labels or {},
            )
        return {
            "event": str(payload["action"]),
            "dedup_key": payload["dedup_key"],
            "reason": payload.get("reason"),
            "at": payload["at"],
            "incident": about,
        }

    async def deliver(self, message: OutboxItem, incident: Incident | None) -> dict[str, Any]:
        payload = _check(message)
        headers = {"Idempotency-Key": f"sevbot-outbox-{message.id}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        answer = await post_json(
            target="webhook",
            url=self.url,
            body=self.body(payload, incident, message.incident_id),
            headers=headers,
            seconds=self.timeout,
        )
        log.info(
            "pager event delivered",
            extra={"incident_id": message.incident_id, "target": "webhook", "action": payload["action"]},
        )
        return answer
