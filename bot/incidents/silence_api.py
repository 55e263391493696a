"""Alertmanager's silence API v2, and Grafana's Alertmanager-compatible copy of it: a small async client.

Three calls, as Alertmanager documents them (``api/v2/openapi.yaml``): ``POST /api/v2/silences`` (matchers
``{name, value, isRegex, isEqual}``, ``startsAt``, ``endsAt``, ``createdBy``, ``comment``; the answer is
``{"silenceID": …}``), ``DELETE /api/v2/silence/{id}`` (expires it; Alertmanager answers 200 for a silence
already expired and 500 "silence not found" for an id it never had) and ``GET /api/v2/silences``. Grafana
serves the same under ``/api/alertmanager/grafana/api/v2`` with a service-account token.

Every call has a timeout; whatever goes wrong (nothing listening, a timeout, TLS, an error status, an answer
that is not the API's) is one :class:`~bot.errors.SilenceApiFailed` with a short ``problem`` a person can
read. Response bodies are cut short before they go into a problem: an error page is not a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from analytics.records import SilenceTarget
from bot.errors import SilenceApiFailed
from bot.settings import Settings

log = logging.getLogger(__name__)

ALERTMANAGER_PREFIX = "/api/v2"
GRAFANA_PREFIX = "/api/alertmanager/grafana/api/v2"
SHOWN_BODY = 160  # characters of an error answer quoted in a problem
NAMES = {SilenceTarget.ALERTMANAGER: "Alertmanager", SilenceTarget.GRAFANA: "Grafana"}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One silence matcher as the API spells it: ``isEqual=False`` negates, ``isRegex`` is RE2 (Go's)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def as_api(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    def as_sevbot(self) -> dict[str, str]:
        """sevbot's own spelling (``{"name", "op", "value"}``, as in ``silences.matchers``)."""
        op = ("=~" if self.is_equal else "!~") if self.is_regex else ("=" if self.is_equal else "!=")
        return {"name": self.name, "op": op, "value": self.value}


@dataclass(frozen=True, slots=True)
class RemoteSilence:
    """A silence as the API lists it."""

    id: str
    state: str  # active | pending | expired
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    created_by: str
    comment: str


class SilenceApi:
    """One Alertmanager (or Grafana) silence API. A client per call: silences are rare, human-paced."""

    def __init__(
        self,
        *,
        target: SilenceTarget,
        base_url: str,
        timeout: float,
        token: str | None = None,
        basic: tuple[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        prefix = GRAFANA_PREFIX if target is SilenceTarget.GRAFANA else ALERTMANAGER_PREFIX
        self.target = target
        self.name = NAMES[target]
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + prefix
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._auth = httpx.BasicAuth(*basic) if basic else None
        self._transport = transport

    async def create(
        self,
        *,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """The new silence's id."""
        body = {
            "matchers": [m.as_api() for m in matchers],
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = _json(await self._call("POST", "/silences", json=body))
        silence_id = answer.get("silenceID") if isinstance(answer, Mapping) else None
        if not isinstance(silence_id, str) or not silence_id or len(silence_id) > 64:
            raise SilenceApiFailed(target=self.name, problem="its answer carries no silence id")
        return silence_id

    async def expire(self, silence_id: str) -> bool:
        """Expire a silence; ``False`` when the API does not know the id (nothing to expire)."""
        try:
            await self._call("DELETE", f"/silence/{quote(silence_id, safe='')}")
        except SilenceApiFailed as exc:
            if exc.status in (404, 500) and "not found" in exc.problem.lower():
                return False
            raise
        return True

    async def silences(self) -> list[RemoteSilence]:
        """Every silence the API knows (active, pending and recently expired ones)."""
        data = _json(await self._call("GET", "/silences"))
        if not isinstance(data, list):
            raise SilenceApiFailed(target=self.name, problem="its list of silences is not a list")
        return [silence for item in data if (silence := _silence(item)) is not None]

    async def _call(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, auth=self._auth, headers=self._headers
            ) as client:
                # httpx's timeout bounds each read; a trickled answer needs a deadline for the whole call
                async with asyncio.timeout(self.timeout):
                    response = await client.request(method, self.api_url + path, json=json)
        except (httpx.TimeoutException, TimeoutError):
            raise SilenceApiFailed(
                target=self.name, problem=f"no answer from {self.base_url} within {self.timeout:g}s"
            ) from None
        except httpx.HTTPError as exc:
            log.warning("silence api unreachable", extra={"target": self.target, "error": type(exc).__name__})
            raise SilenceApiFailed(
                target=self.name, problem=f"cannot reach {self.base_url} ({type(exc).__name__})"
            ) from None
        if response.is_success:
            return response
        text = " ".join(response.text.split())
        shown = text if len(text) <= SHOWN_BODY else text[:SHOWN_BODY] + "…"
        problem = f"HTTP {response.status_code}" + (f": {shown}" if shown else "")
        if response.status_code in (401, 403):
            problem += " (check sevbot's credentials for it)"
        log.warning("silence api refused", extra={"target": self.target, "status": response.status_code})
        raise SilenceApiFailed(target=self.name, problem=problem, status=response.status_code)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _silence(item: Any) -> RemoteSilence | None:
    """One listed silence, or None for an entry that is not one (skipped, never a crash)."""
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        return None
    status = item.get("status")
    if not isinstance(status, Mapping):
        status = {}
    listed = item.get("matchers")
    state = status.get("state")
    matchers = tuple(
        Matcher(
            name=str(m.get("name", "")),
            value=str(m.get("value", "")),
            is_regex=bool(m.get("isRegex", False)),
            is_equal=bool(m.get("isEqual", True)),
        )
        for m in (listed if isinstance(listed, list) else [])
        if isinstance(m, Mapping)
    )
    return RemoteSilence(
        id=item["id"],
        state=state if isinstance(state, str) else "",  # "": unreadable
        matchers=matchers,
        starts_at=_time(item.get("startsAt")),
        ends_at=_time(item.get("endsAt")),
        created_by=str(item.get("createdBy", "")),
        comment=str(item.get("comment", "")),
    )


def configured_apis(settings: Settings) -> dict[SilenceTarget, SilenceApi]:
    """The silence APIs the settings name: Alertmanager's, Grafana's, both or none."""
    apis: dict[SilenceTarget, SilenceApi] = {}
    timeout = settings.alertmanager_timeout_seconds
    if settings.alertmanager_url:
        password = settings.alertmanager_password
        apis[SilenceTarget.ALERTMANAGER] = SilenceApi(
            target=SilenceTarget.ALERTMANAGER,
            base_url=settings.alertmanager_url,
            timeout=timeout,
            token=settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None,
            basic=(settings.alertmanager_username, password.get_secret_value())
            if settings.alertmanager_username and password is not None
            else None,
        )
    if settings.grafana_url and settings.grafana_token is not None:
        apis[SilenceTarget.GRAFANA] = SilenceApi(
            target=SilenceTarget.GRAFANA,
            base_url=settings.grafana_url,
            timeout=timeout,
            token=settings.grafana_token.get_secret_value(),
        )
    return apis
