"""The readable side over HTTP: ``/incidents`` and ``/incidents/{id}`` as server-rendered HTML for people.

The same door as ``/api``: ``SEVBOT_API_TOKEN`` as a bearer token (or, with none set, loopback clients
only). A browser that followed Slack's "Details" link sends no header, so ``POST /incidents/login`` takes the
token once from a form and sets an HttpOnly, SameSite=Strict session cookie (bot.http.auth.page_session).
The token is never read from the query string. Every answer carries a CSP without scripts, ``nosniff``,
``DENY`` framing and no referrer; the HTML itself is built (and escaped) by bot.http.page_html.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import urllib.parse
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analytics.records import IncidentStatus
from bot.bootstrap import Services
from bot.errors import SignInRequired
from bot.http import page_html, page_incident
from bot.http.auth import is_loopback_client, may_read_api, page_session, page_session_valid, token_matches
from bot.http.body import read_body
from bot.http.deps import ServicesDep
from bot.incidents.explain import explain_incident
from bot.slack.routing import ChannelRouter, incident_facts
from storage.drafts import DraftRepository
from storage.incident_reads import IncidentFilter, IncidentReads
from storage.models import Incident

log = logging.getLogger(__name__)

COOKIE = "sevbot_session"
SESSION_SECONDS = 12 * 3600  # one on-call night; then the form again
ALERTS_PER_PAGE = 100  # as GET /api/incidents/{id} by default; the rest behind "and N more"
EVENTS_PER_PAGE = 200
INCIDENTS_PER_PAGE = 50
MAX_FORM_BYTES = 4096
MAX_INTEGER = 2**63 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_INTEGER)]
# Where the form may send a browser back to: our own pages only (never an open redirect).
_NEXT = re.compile(r"/incidents(/[1-9][0-9]{0,18})?")
_CHALLENGE = 'Bearer realm="sevbot"'


def _expected_token(services: Services) -> str | None:
    token = services.settings.api_token
    return token.get_secret_value() if token else None


async def require_page_access(request: Request) -> None:
    """The API's rule (bearer token, or loopback without one), or a valid session cookie."""
    services: Services = request.app.state.services
    expected = _expected_token(services)
    client = request.client.host if request.client else None
    authorization = request.headers.get("authorization")
    if may_read_api(expected, authorization, host=client, headers=request.headers):
        return
    if expected is not None and page_session_valid(expected, request.cookies.get(COOKIE), now=time.time()):
        return
    raise SignInRequired(safe_next(request.url.path), can_sign_in=expected is not None)


PageAccess = Depends(require_page_access)
router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """``value`` when it is one of our pages (``/incidents`` or ``/incidents/7``), else ``/incidents``."""
    return value if value and _NEXT.fullmatch(value) else "/incidents"


def html_page(title: str, body: str, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A page with its security headers; its one stylesheet runs under a fresh nonce."""
    nonce = secrets.token_urlsafe(16)
    response = HTMLResponse(page_html.document(title, body, nonce=nonce), status_code=status)
    response.headers.update(
        {
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            **(headers or {}),
        }
    )
    return response


def _signin(next_path: str, *, can_sign_in: bool, message: str | None = None) -> Response:
    body = page_html.signin_page(next_path=next_path, message=message, can_sign_in=can_sign_in)
    return html_page("Sign in · sevbot", body, status=401, headers={"WWW-Authenticate": _CHALLENGE})


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return _signin(exc.next_path, can_sign_in=exc.can_sign_in)


@router.get("/incidents/login")
async def login_form(request: Request, next: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The sign-in form on its own (a 200: asking for it is not a refusal)."""
    services: Services = request.app.state.services
    body = page_html.signin_page(
        next_path=safe_next(next), message=None, can_sign_in=_expected_token(services) is not None
    )
    return html_page("Sign in · sevbot", body)


@router.post("/incidents/login")
async def login(request: Request, services: ServicesDep) -> Response:
    """Check the posted token (constant time) and set the session cookie, then back to the page (303)."""
    raw = await read_body(request, MAX_FORM_BYTES)
    form = urllib.parse.parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=8)
    given = (form.get("token") or [""])[0].strip()
    next_path = safe_next((form.get("next") or [""])[0])
    expected = _expected_token(services)
    client = request.client.host if request.client else None
    if expected is None:
        if is_loopback_client(client, request.headers):
            return RedirectResponse(next_path, status_code=303)
        return _signin(next_path, can_sign_in=False)
    if not given or not token_matches(expected, given):
        log.warning("incident page sign-in refused", extra={"client": client})
        return _signin(next_path, can_sign_in=True, message="That is not sevbot's API token.")
    response = RedirectResponse(next_path, status_code=303)
    secure = request.url.scheme == "https" or (services.settings.public_url or "").lower().startswith(
        "https://"
    )
    response.set_cookie(
        COOKIE,
        page_session(expected, int(time.time()) + SESSION_SECONDS),
        max_age=SESSION_SECONDS,
        path="/incidents",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/incidents", dependencies=[PageAccess])
async def incident_list(
    services: ServicesDep, status: IncidentStatus | None = None, offset: Offset = 0
) -> Response:
    """The newest incidents, each linking to its page."""

    def read() -> tuple[list[Incident], int]:
        with services.db.read() as conn:
            filters = IncidentFilter(status=status, severity=None, service=None, since=None)
            return IncidentReads(conn).search(filters, limit=INCIDENTS_PER_PAGE, offset=offset)

    items, total = await anyio.to_thread.run_sync(read)
    page = page_html.Page(offset=offset, shown=len(items), total=total)
    body = page_html.list_page(items, page, now=services.ingestor.clock())
    return html_page("Incidents · sevbot", body)


@router.get("/incidents/{incident_id}", dependencies=[PageAccess])
async def incident_page(
    incident_id: Annotated[int, Path(ge=1, le=MAX_INTEGER)],
    services: ServicesDep,
    alerts_offset: Offset = 0,
    timeline_offset: Offset = 0,
) -> Response:
    """One incident: what it is and who owns it, why its severity, its alerts, timeline and drafts."""
    view = await anyio.to_thread.run_sync(read_view, services, incident_id, alerts_offset, timeline_offset)
    if view is None:
        return html_page("Not found · sevbot", page_html.not_found_page(incident_id), status=404)
    title = f"{view.incident.severity} #{view.incident.id} {view.incident.title} · sevbot"
    return html_page(title, page_incident.incident_page(view))


def read_view(
    services: Services, incident_id: int, alerts_offset: int, timeline_offset: int
) -> page_incident.IncidentView | None:
    """Everything the page shows, in one read transaction (None when there is no such incident)."""
    with services.db.read() as conn:
        reads = IncidentReads(conn)
        incident = reads.get(incident_id)
        if incident is None:
            return None
        alerts = reads.alerts_of(incident_id, limit=ALERTS_PER_PAGE, offset=alerts_offset)
        events = reads.timeline_of(incident_id, limit=EVENTS_PER_PAGE, offset=timeline_offset)
        alerts_page = page_html.Page(alerts_offset, len(alerts), reads.count_alerts(incident_id))
        timeline_page = page_html.Page(timeline_offset, len(events), reads.count_events(incident_id))
        why = explain_incident(conn, incident_id)
        drafts = DraftRepository(conn).of_incident(incident_id)
    catalog = services.config.services
    facts = incident_facts(
        labels=incident.labels or {},
        service=incident.service,
        alertname=incident.alertname,
        severity=incident.severity,
        catalog=catalog,
    )
    owner = ChannelRouter(services.config.slack, services.settings.slack_channel).owner_mention(
        facts, catalog
    )
    entry = catalog.get(incident.service or "")
    return page_incident.IncidentView(
        incident=incident,
        alerts=alerts,
        alerts_page=alerts_page,
        timeline=events,
        timeline_page=timeline_page,
        why=why,
        drafts=drafts,
        owner=owner,
        team=entry.team if entry is not None else None,
        now=services.ingestor.clock(),
    )


def install(app: FastAPI) -> None:
    """The pages' routes, and their refusal as the sign-in form (an HTML 401, not the API's JSON)."""
    app.include_router(router)
    app.add_exception_handler(SignInRequired, sign_in_required)
