"""``sevbot incidents list|show|why``: the newest incidents, one incident in full, why it has its severity."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from analytics.records import IncidentStatus
from bot.cli.args import whole_number
from bot.settings import Settings


def register(sub: Any) -> None:
    incidents = sub.add_parser("incidents", help="look at incidents")
    inc_sub = incidents.add_subparsers(dest="incidents_command", required=True)
    listing = inc_sub.add_parser("list", help="newest incidents first")
    listing.add_argument("--status", choices=[status.value for status in IncidentStatus])
    listing.add_argument("--limit", type=whole_number(1, 10_000), default=20)
    listing.set_defaults(handler=cmd_incidents_list)
    show = inc_sub.add_parser("show", help="one incident with its alerts and timeline")
    show.add_argument("id", type=whole_number(1, 2**63 - 1))
    show.add_argument("--json", action="store_true", help="print the same JSON as GET /api/incidents/ID")
    show.set_defaults(handler=cmd_incidents_show)
    why = inc_sub.add_parser("why", help="why an incident got its severity, and similar past incidents")
    why.add_argument("id", type=whole_number(1, 2**63 - 1))
    why.add_argument("--json", action="store_true", help="print the explanation as JSON")
    why.set_defaults(handler=cmd_incidents_why)


def cmd_incidents_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from storage.incident_reads import IncidentFilter, IncidentReads

    services = build_services(settings)
    with services.db.read() as conn:
        items, total = IncidentReads(conn).search(
            IncidentFilter(status=args.status), limit=args.limit, offset=0
        )
    services.close()
    print(f"{'ID':>6}  {'SEV':4}  {'STATUS':12}  {'ALERTS':>6}  {'OPENED (UTC)':16}  {'SERVICE':16}  TITLE")
    for i in items:
        print(
            f"{i.id:>6}  {i.severity:4}  {i.status:12}  {i.alert_count:>6}  {i.opened_at:%Y-%m-%d %H:%M}  "
            f"{(i.service or '-')[:16]:16}  {i.title[:60]}"
        )
    print(f"({len(items)} of {total})")
    return 0


def cmd_incidents_show(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.explain import signed
    from bot.bootstrap import build_services
    from bot.http.api import alert_json, event_json, incident_json
    from storage.incident_reads import IncidentReads

    services = build_services(settings)
    with services.db.read() as conn:
        repo = IncidentReads(conn)
        incident = repo.get(args.id)
        alerts = repo.alerts_of(args.id) if incident else []
        timeline = repo.timeline_of(args.id) if incident else []
    services.close()
    if incident is None:
        print(f"sevbot: no incident {args.id}", file=sys.stderr)
        return 1
    doc: dict[str, Any] = {
        "incident": incident_json(incident),
        "alerts": [alert_json(a) for a in alerts],
        "timeline": [event_json(e) for e in timeline],
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    inc = doc["incident"]
    print(f"Incident #{inc['id']}: {inc['title']}")
    print(
        f"  {inc['severity']['level']} ({inc['severity']['source']}, "
        f"confidence {inc['severity']['confidence']:.2f})"
        f" · {inc['status']} · service {inc['service'] or '-'} · {inc['alert_count']} alert(s)"
        f"{' · FLAPPING' if inc['flapping'] else ''}"
    )
    print(
        f"  opened {inc['opened_at']}" + (f" · resolved {inc['resolved_at']}" if inc["resolved_at"] else "")
    )
    for reason in inc["severity"]["explanation"]:
        print(f"  why: {reason['text']} {signed(reason['weight'])}")
    print("Alerts:")
    for a in doc["alerts"]:
        print(
            f"  [{a['status']}] {a['alertname']} {a['severity']['level']} since {a['starts_at']}"
            f"{' (+' + str(a['duplicates']) + ' duplicates)' if a['duplicates'] else ''}"
        )
    print("Timeline:")
    for e in doc["timeline"]:
        print(f"  {e['at']}  {e['kind']}")
    return 0


def cmd_incidents_why(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from bot.incidents.explain import explain_incident, render_explanation

    services = build_services(settings)
    try:
        with services.db.read() as conn:
            explanation = explain_incident(conn, args.id)
    finally:
        services.close()
    if explanation is None:
        print(f"sevbot: no incident {args.id}", file=sys.stderr)
        return 1
    print(json.dumps(explanation, indent=2) if args.json else render_explanation(explanation))
    return 0
