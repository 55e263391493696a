"""The incident pages' HTML parts (pure; no I/O): escaping, links, times, badges, the page frame, the list
and the sign-in form. Every value from an alert or a person is escaped here.

Strings are built by hand rather than by a template engine (none is a dependency): each interpolation of
data goes through ``e`` (``html.escape`` with quotes), links through ``safe_url`` (http and https only), and
nothing else is interpolated but our own words and numbers. One incident's page: bot.http.page_incident.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from analytics.records import SEVERITY_WORDS, IncidentStatus
from bot.http.page_style import STYLE
from storage.models import Incident

STATUS_WORDS: dict[str, str] = {
    IncidentStatus.OPEN: "Open",
    IncidentStatus.ACKNOWLEDGED: "Acknowledged",
    IncidentStatus.RESOLVED: "Resolved",
}


def e(value: object) -> str:
    """Text as HTML: ``& < > " '`` escaped, so it can neither open a tag nor leave an attribute."""
    return html.escape(str(value), quote=True)


def safe_url(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host (no scripts, no data:, no control bytes)."""
    text = str(value or "").strip()
    if not text or len(text) > 4096 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return None
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def link(url: object, label: str) -> str:
    """An escaped link when ``url`` is safe, else nothing (a javascript: URL is never a link)."""
    safe = safe_url(url)
    return f'<a href="{e(safe)}" rel="noopener noreferrer">{e(label)}</a>' if safe else ""


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return f'<time datetime="{e(value.isoformat())}">{value.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>'


def span(start: datetime, end: datetime) -> str:
    """A duration as people say it: ``45 s``, ``7 min``, ``3 h 20 min``, ``2 d 4 h``."""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def person(user: str | None) -> str:
    """A Slack user id or mention as text (``@U0123``); the page never resolves names."""
    if not user:
        return "-"
    text = str(user)
    if text.startswith("<!subteam^"):
        return "@" + text[len("<!subteam^") :].rstrip(">") + " (user group)"
    if text.startswith(("<@", "<!")):
        return "@" + text[2:].rstrip(">")
    return text if text.startswith("@") or " " in text else "@" + text


def badge(severity: str, *, big: bool = False) -> str:
    words = SEVERITY_WORDS.get(severity)
    level = severity if severity in SEVERITY_WORDS else "unknown"
    text = f"{severity} · {words}" if words else severity
    return f'<span class="badge {e(level)}{" big" if big else ""}">{e(text)}</span>'


def state(status: str) -> str:
    return f'<span class="state {e(status)}">{e(STATUS_WORDS.get(status, status))}</span>'


def document(title: str, body: str, *, nonce: str) -> str:
    """A whole page: its title escaped, its styles under the response's CSP nonce."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{e(title)}</title>'
        f'<style nonce="{e(nonce)}">{STYLE}</style></head><body>'
        '<nav class="top"><a href="/incidents">sevbot · incidents</a></nav>'
        f"<main>{body}</main></body></html>\n"
    )


@dataclass(frozen=True, slots=True)
class Page:
    """A window on a longer list: which rows are shown and how many there are."""

    offset: int
    shown: int
    total: int


# --- the list, the sign-in form, refusals -----------------------------------------------------------


def list_page(incidents: Sequence[Incident], page: Page, *, now: datetime) -> str:
    rows = "".join(
        f'<tr><td><a href="/incidents/{i.id}">#{i.id}</a></td><td>{badge(i.severity)}</td>'
        f'<td><a href="/incidents/{i.id}">{e(i.title)}</a></td><td>{e(i.service or "-")}</td>'
        f"<td>{state(i.status)}</td><td>{i.alert_count} ({i.firing_count} firing)</td>"
        f'<td class="when">{when(i.opened_at)}<br>'
        f'<span class="muted">{span(i.opened_at, now)} ago</span></td>'
        "</tr>"
        for i in incidents
    )
    table = (
        "<table><tr><th>#</th><th>Severity</th><th>Title</th><th>Service</th><th>Status</th><th>Alerts</th>"
        f"<th>Opened</th></tr>{rows}</table>"
        if incidents
        else "<p>No incidents.</p>"
    )
    rest = page.total - page.offset - page.shown
    more = (
        f'<p class="more">and {rest} more — '
        f'<a href="/incidents?offset={page.offset + page.shown}">older</a></p>'
        if rest > 0
        else ""
    )
    return f"<h1>Incidents ({page.total})</h1>{table}{more}"


def signin_page(*, next_path: str, message: str | None, can_sign_in: bool) -> str:
    """The sign-in form (posting the API token), or, without a token configured, why there is none."""
    note = f'<p class="error">{e(message)}</p>' if message else ""
    if not can_sign_in:
        return (
            f"<h1>Sign-in needed</h1>{note}"
            "<p>This sevbot answers its incident pages on its own machine only. "
            "Set <code>SEVBOT_API_TOKEN</code> to read them from elsewhere.</p>"
        )
    return (
        "<h1>Sign in to sevbot</h1>"
        "<p>The incident pages need sevbot's API token (<code>SEVBOT_API_TOKEN</code>).</p>"
        f'{note}<form class="signin" method="post" action="/incidents/login">'
        f'<input type="hidden" name="next" value="{e(next_path)}">'
        '<label for="token">API token</label>'
        '<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>'
        '<button type="submit">Sign in</button></form>'
    )


def not_found_page(incident_id: int) -> str:
    return f'<h1>No incident #{incident_id}</h1><p><a href="/incidents">All incidents</a></p>'
