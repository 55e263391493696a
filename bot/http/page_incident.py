"""One incident's page as HTML (pure; no I/O): the summary, why its severity, alerts, timeline, drafts.

Built from bot.http.page_html's escaped parts; every value from an alert or a person goes through ``e``,
every link through ``safe_url``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.explain import signed
from analytics.records import IncidentStatus, TimelineKind
from bot.http.page_html import Page, badge, e, link, person, safe_url, span, state, when
from bot.incidents.explain import Explanation
from storage.drafts import StoredDraft
from storage.models import Alert, Incident, TimelineEvent

EVENT_WORDS: dict[str, str] = {
    TimelineKind.INCIDENT_OPENED: "Incident opened",
    TimelineKind.INCIDENT_REOPENED: "Incident reopened",
    TimelineKind.INCIDENT_RESOLVED: "Incident resolved",
    TimelineKind.INCIDENT_FLAPPING: "Flapping",
    TimelineKind.INCIDENT_ACKNOWLEDGED: "Acknowledged",
    TimelineKind.INCIDENT_NOISE: "Marked as noise",
    TimelineKind.ALERT_FIRING: "Alert firing",
    TimelineKind.ALERT_REFIRED: "Alert fired again",
    TimelineKind.ALERT_RESOLVED: "Alert resolved",
    TimelineKind.SEVERITY_CHANGED: "Severity changed",
    TimelineKind.SEVERITY_CONFIRMED: "Severity confirmed",
}
# An alert's stored links (bot/normalize) and the words shown for each, in this order.
LINK_WORDS = (
    ("panel", "Grafana panel"),
    ("dashboard", "Grafana dashboard"),
    ("source", "Source"),
    ("silence", "Silence in Grafana"),
    ("alertmanager", "Alertmanager"),
)
_RUNBOOK_KEYS = ("runbook_url", "runbook", "runbook_link")
_VARY = ' class="vary"'
_TEXT_ANNOTATIONS = ("summary", "description", "message", "value_string")


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What the incident page shows, read in one go by bot.http.pages."""

    incident: Incident
    alerts: Sequence[Alert]
    alerts_page: Page
    timeline: Sequence[TimelineEvent]
    timeline_page: Page
    why: Explanation | None
    drafts: Sequence[StoredDraft]
    owner: str | None
    team: str | None
    now: datetime


def incident_page(view: IncidentView) -> str:
    return "".join((_summary(view), _reasons(view.why), _alerts(view), _timeline(view), _drafts(view.drafts)))


def _summary(view: IncidentView) -> str:
    inc = view.incident
    flags = state(inc.status)
    if inc.flapping:
        flags += ' <span class="state flapping">Flapping</span>'
    ongoing = inc.status != IncidentStatus.RESOLVED
    if ongoing:
        age = f"firing for {span(inc.opened_at, view.now)}" if inc.firing_count else "no alert firing"
    else:
        age = f"lasted {span(inc.opened_at, inc.resolved_at or inc.last_alert_at)}"
    owner = person(view.owner) if view.owner else "nobody in the catalog"
    if view.team:
        owner = f"{view.team} · {owner}" if view.owner else view.team
    source = inc.severity_source + (f" ({inc.model_version})" if inc.model_version else "")
    facts = [
        ("Service", e(inc.service or "-")),
        ("Owner", e(owner)),
        ("Alerts", f"{inc.alert_count} ({inc.firing_count} firing)"),
        ("Opened", f"{when(inc.opened_at)}<br><span class='muted'>{e(age)}</span>"),
        ("Last alert", when(inc.last_alert_at)),
        ("Severity from", f"{e(source)}, {inc.confidence:.0%} confident"),
    ]
    if inc.acknowledged_at is not None:
        facts.append(("Acknowledged", f"{when(inc.acknowledged_at)} by {e(person(inc.acknowledged_by))}"))
    if inc.resolved_at is not None:
        by = person(inc.resolved_by) if inc.resolved_by else "its alerts"
        facts.append(("Resolved", f"{when(inc.resolved_at)} by {e(by)}"))
    grid = "".join(f"<div><dt>{e(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    return (
        f'<div class="headline">{badge(inc.severity, big=True)} {flags}'
        f'<span class="muted">Incident #{inc.id}</span></div>'
        f"<h1>{e(inc.title)}</h1>"
        f'<dl class="facts">{grid}</dl>'
    )


def _reasons(why: Explanation | None) -> str:
    if why is None:
        return ""
    version = why["model_version"] or "-"
    head = (
        f"{e(why['severity'])} (confidence {why['confidence']:.0%}, set by {e(why['severity_source'])}, "
        f"model {e(version)})"
    )
    out = [f'<section id="why"><h2>Why this severity</h2><p>{head}</p>']
    if why["reasons"]:
        out.append('<p class="muted">Contributions to the score, largest first; they add up to it.</p>')
        items = "".join(
            f'<li>{e(r["text"])} <span class="weight">{e(signed(r["weight"]))}</span></li>'
            for r in why["reasons"]
        )
        out.append(f'<ol class="reasons">{items}</ol>')
    else:
        out.append("<p>No recorded reasons.</p>")
    if why["similar"]:
        rows = []
        for s in why["similar"]:
            rated = f"people rated it {s['rated']}" if s["rated"] else "not rated by people"
            note = f" · resolved: {e(s['resolution_note'])}" if s["resolution_note"] else ""
            rows.append(
                f'<li><a href="/incidents/{int(s["id"])}">#{int(s["id"])}</a> {badge(s["severity"])} '
                f"{state(s['status'])} {e(s['title'])} <span class='muted'>({e(rated)}){note}</span></li>"
            )
        out.append(f"<h3>Similar past incidents</h3><ul>{''.join(rows)}</ul>")
    else:
        out.append('<p class="muted">No similar past incidents.</p>')
    out.append("</section>")
    return "".join(out)


def _alerts(view: IncidentView) -> str:
    page = view.alerts_page
    head = f"Alerts ({page.total})" if page.total else "Alerts"
    out = [f'<section id="alerts"><h2>{head}</h2>']
    if page.offset:
        out.append(f'<p class="muted">Showing alerts {page.offset + 1} to {page.offset + page.shown}.</p>')
    vary = varying_labels(view.alerts)
    out.extend(_alert(a, vary=vary, severity=view.incident.severity) for a in view.alerts)
    rest = page.total - page.offset - page.shown
    if rest > 0:
        nxt = f"/incidents/{view.incident.id}?alerts_offset={page.offset + page.shown}#alerts"
        out.append(f'<p class="more">and {rest} more — <a href="{e(nxt)}">show the next ones</a></p>')
    if not view.alerts:
        out.append("<p>No alerts on this page.</p>")
    out.append("</section>")
    return "".join(out)


def varying_labels(alerts: Sequence[Alert]) -> frozenset[str]:
    """The labels that tell these alerts apart (pod, instance, mountpoint …): those whose values differ."""
    if len(alerts) < 2:
        return frozenset()
    keys = {str(k) for a in alerts for k in (a.labels or {})} - {"alertname"}
    return frozenset(k for k in keys if len({str((a.labels or {}).get(k)) for a in alerts}) > 1)


def _alert(alert: Alert, *, vary: frozenset[str], severity: str) -> str:
    notes = {str(k): str(v) for k, v in (alert.annotations or {}).items() if v}
    texts = "".join(
        f"<p>{e(notes[k])}</p>" for k in _TEXT_ANNOTATIONS if k in notes and notes[k] != alert.title
    )
    labels = {str(k): str(v) for k, v in (alert.labels or {}).items() if k != "alertname"}
    order = sorted(labels.items(), key=lambda kv: (kv[0] not in vary, kv[0]))  # what tells it apart first
    chips = "".join(f"<li{_VARY if k in vary else ''}><b>{e(k)}</b>={e(v)}</li>" for k, v in order)
    ended = f" · ended {when(alert.ends_at)}" if alert.ends_at else ""
    times = f"started {when(alert.starts_at)}{ended}"
    if alert.ends_at:
        times += f" · lasted {span(alert.starts_at, alert.ends_at)}"
    notified = f"notified {alert.duplicates + 1}×" if alert.duplicates else "notified once"
    links = alert_links(alert)
    link_list = (
        '<ul class="links">' + "".join(f"<li>{link(u, w)}</li>" for w, u in links) + "</ul>" if links else ""
    )
    status = alert.status if alert.status in ("firing", "resolved") else "other"
    name = "" if alert.alertname in alert.title else f' <span class="muted">{e(alert.alertname)}</span>'
    own = badge(alert.severity) if alert.severity != severity else ""  # only when it differs
    return (
        f'<article class="card {status}"><div class="row">{state(alert.status)}'
        f"<h3>{e(alert.title)}{name}</h3>{own}</div>{texts}"
        f'<ul class="chips">{chips}</ul>'
        f'<p class="muted">{times} · {e(notified)} · from {e(alert.source)}</p>{link_list}</article>'
    )


def alert_links(alert: Alert) -> list[tuple[str, str]]:
    """(words, URL) for each safe link the alert carries: Grafana's panel, dashboard and silence, the source
    (Prometheus or Grafana), Alertmanager and a silence there for exactly this alert, a runbook."""
    stored = {str(k): str(v) for k, v in (alert.links or {}).items() if v}
    if "source" not in stored and alert.generator_url:
        stored["source"] = alert.generator_url
    notes = {str(k): str(v) for k, v in (alert.annotations or {}).items() if v}
    found = [(words, stored[key]) for key, words in LINK_WORDS if key in stored]
    am = safe_url(stored.get("alertmanager"))
    if am and "silence" not in stored:
        matchers = ",".join(
            f'{k}="{_quoted(v)}"' for k, v in sorted((alert.labels or {}).items()) if _label_name(str(k))
        )
        query = urllib.parse.urlencode({"filter": "{" + matchers + "}"}, quote_via=urllib.parse.quote)
        found.append(("Silence in Alertmanager", f"{am.rstrip('/')}/#/silences/new?{query}"))
    runbook = next((notes[k] for k in _RUNBOOK_KEYS if k in notes), None)
    if runbook:
        found.append(("Runbook", runbook))
    return [(words, url) for words, url in found if safe_url(url)]


def _quoted(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_name(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)


def _timeline(view: IncidentView) -> str:
    page = view.timeline_page
    out = [f'<section id="timeline"><h2>Timeline ({page.total})</h2>']
    if view.timeline:
        vary = varying_labels(view.alerts)
        names = {
            a.fingerprint: ", ".join(f"{k}={(a.labels or {}).get(k)}" for k in sorted(vary)) or a.title
            for a in view.alerts
        }
        rows = "".join(
            f'<tr><td class="when">{when(ev.at)}</td><td>{e(EVENT_WORDS.get(ev.kind, ev.kind))}</td>'
            f"<td>{e(person(ev.actor)) if ev.actor else '-'}</td><td>{_event_data(ev.data, names)}</td></tr>"
            for ev in view.timeline
        )
        out.append(
            f"<table><tr><th>When (UTC)</th><th>What</th><th>Who</th><th>Details</th></tr>{rows}</table>"
        )
    else:
        out.append("<p>No events on this page.</p>")
    rest = page.total - page.offset - page.shown
    if rest > 0:
        nxt = f"/incidents/{view.incident.id}?timeline_offset={page.offset + page.shown}#timeline"
        out.append(f'<p class="more">and {rest} more — <a href="{e(nxt)}">show the next ones</a></p>')
    out.append("</section>")
    return "".join(out)


def _event_data(data: Mapping[str, Any] | None, names: Mapping[str, str]) -> str:
    """An event's details in words; an alert named by what tells it apart (its fingerprint when not shown)."""
    values = dict(data or {})
    alert = names.get(str(values.get("fingerprint")))
    if alert is not None:
        values.pop("fingerprint")
        values.pop("alertname", None)
    shown = [f"{k}: {v}" for k, v in values.items() if k != "by" and v not in (None, "", False)]
    return e(", ".join([alert, *shown] if alert else shown))


def _drafts(drafts: Iterable[StoredDraft]) -> str:
    cards = [
        f'<article class="card"><h3>{e(d.kind.capitalize())}</h3>'
        f'<p class="muted">{e(d.source)}{" · " + e(d.model) if d.model else ""} · {when(d.created_at)}</p>'
        f"<pre>{e(d.text)}</pre></article>"
        for d in drafts
    ]
    body = "".join(cards) if cards else '<p class="muted">No drafts yet.</p>'
    return f'<section id="drafts"><h2>Drafts</h2>{body}</section>'
