"""sevbot behind an API token with incidents worth reading, over real HTTP (for the incident page tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from analytics.records import DraftKind, DraftSource
from bot.app import create_app
from bot.bootstrap import Services
from bot.incidents.actions import IncidentActions
from storage.drafts import DraftRepository
from tests.support.asgi_server import serve
from tests.support.clock import Clock
from tests.support.payloads import T0, am_alert, am_payload, body, grafana_payload
from tests.support.settings import make_settings

API_TOKEN = "api-token-pages-3c8e1f"
WEBHOOK_TOKEN = "webhook-token-pages-9a2d"
OWNER = "<!subteam^SPAYMENTS1>"
CATALOG = f"""
services:
  checkout:
    owner: "{OWNER}"
    team: payments
    criticality: critical
"""
DRAFT_TEXT = "Checkout 5xx rose after the 07:55 deploy of checkout v2.31; roll back first."
INSTANCES = ("checkout-1:8080", "checkout-2:8080", "checkout-3:8080")
ALERTMANAGER_URL = "http://alertmanager.internal:9093"


@dataclass(frozen=True)
class PageSite:
    url: str
    services: Services

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, follow_redirects=False)

    def bearer(self) -> httpx.Client:
        return self.client(Authorization=f"Bearer {API_TOKEN}")


@contextmanager
def page_site(tmp_path: Path, database_url: str, clock: Clock, **overrides: Any) -> Iterator[PageSite]:
    """sevbot on a loopback port, with an API token and a catalog naming checkout's owner."""
    config = tmp_path / "sevbot.yaml"
    config.write_text(CATALOG)
    values: dict[str, Any] = {"api_token": API_TOKEN, "webhook_token": WEBHOOK_TOKEN, "config": config}
    values.update(overrides)
    app = create_app(make_settings(tmp_path, database_url, **values), clock=clock)
    with serve(app) as url:
        yield PageSite(url, app.state.services)


def post_alerts(site: PageSite, payload: dict[str, Any], source: str = "alertmanager") -> int:
    """Deliver a webhook; the id of the incident its first alert went to."""
    with site.client(Authorization=f"Bearer {WEBHOOK_TOKEN}") as client:
        response = client.post(f"/webhooks/{source}", content=body(payload))
    assert response.status_code == 202, response.text
    return int(response.json()["incidents"][0])


def checkout_incident(site: PageSite, clock: Clock) -> int:
    """Three checkout instances failing (via Alertmanager), acknowledged by U_ALICE, with a draft."""
    clock.now = T0 + timedelta(minutes=7)
    alerts = [am_alert("CheckoutHighErrorRate", instance=i, starts_at=T0) for i in INSTANCES]
    incident_id = post_alerts(
        site, {**am_payload(alerts, group_key="checkout"), "externalURL": ALERTMANAGER_URL}
    )
    acked = T0 + timedelta(minutes=5)
    with site.services.db.write() as conn:
        IncidentActions(conn).acknowledge(incident_id, user="U_ALICE", at=acked, now=acked)
        DraftRepository(conn).add_draft(
            {
                "incident_id": incident_id,
                "kind": DraftKind.SUMMARY,
                "source": DraftSource.TEMPLATE,
                "model": None,
                "prompt_name": None,
                "prompt_version": None,
                "input_hash": "0" * 64,
                "text": DRAFT_TEXT,
                "created_at": acked,
            }
        )
    return incident_id


def grafana_incident(site: PageSite) -> int:
    """Grafana's memory alert on ledger, with its panel, dashboard and silence links."""
    return post_alerts(site, grafana_payload(), source="grafana")
