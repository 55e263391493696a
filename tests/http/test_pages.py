"""The incident pages over real HTTP: what they show and escape, whom they answer, the sign-in cookie."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.explain import signed
from bot.http.pages import ALERTS_PER_PAGE, COOKIE
from bot.incidents.explain import explain_incident
from tests.support.clock import Clock
from tests.support.incident_page import (
    ALERTMANAGER_URL,
    API_TOKEN,
    DRAFT_TEXT,
    INSTANCES,
    PageSite,
    checkout_incident,
    grafana_incident,
    page_site,
    post_alerts,
)
from tests.support.payloads import T0, am_alert, am_payload, grafana_payload

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def site(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[PageSite]:
    with page_site(tmp_path, database_url, clock) as running:
        yield running


@pytest.fixture
def sqlite_site(tmp_path: Path, sqlite_url: str, clock: Clock) -> Iterator[PageSite]:
    with page_site(tmp_path, sqlite_url, clock) as running:
        yield running


def assert_secured(headers: dict[str, str] | object) -> None:
    got = {name: headers[name] for name in SECURITY_HEADERS}  # type: ignore[index]
    assert got == SECURITY_HEADERS
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert csp.startswith("default-src 'none'; style-src 'nonce-")
    assert "script-src" not in csp and "unsafe-inline" not in csp


def test_the_page_shows_the_incident_its_owner_alerts_timeline_reasons_and_drafts(
    site: PageSite, clock: Clock
) -> None:
    checkout_incident(site, clock)

    with site.bearer() as client:
        response = client.get("/incidents/1")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_secured(response.headers)
    page = response.text
    title = re.search(r"<h1>(.*?)</h1>", page)
    assert title is not None and "CheckoutHighErrorRate" in html.unescape(title.group(1))
    assert '<span class="badge SEV1 big">SEV1 · page now</span>' in page
    assert '<span class="state acknowledged">Acknowledged</span>' in page
    assert "payments · @SPAYMENTS1 (user group)" in page  # the catalog's owner and team
    assert "3 (3 firing)" in page and "firing for 7 min" in page
    # Every alert, with its distinguishing label and its links (only http/https ones).
    assert page.count('<article class="card firing">') == 3
    assert all(f"<b>instance</b>={html.escape(i)}" in page for i in INSTANCES)
    assert f'href="{ALERTMANAGER_URL}"' in page
    assert (
        f'href="{ALERTMANAGER_URL}/#/silences/new?filter=%7Balertname%3D%22CheckoutHighErrorRate%22' in page
    )
    assert 'href="http://prometheus.internal:9090/graph?g0.expr=' in page
    # The timeline in time order, with who acted.
    timeline = page[page.index('id="timeline"') : page.index('id="drafts"')]
    kinds = re.findall(r"</time></td><td>([^<]+)</td>", timeline)
    assert kinds[0] == "Incident opened" and kinds[-1] == "Acknowledged" and kinds.count("Alert firing") == 3
    assert "<td>@U_ALICE</td>" in timeline
    # The exact explanation /api and "why" give: each reason with its signed contribution, in order.
    with site.services.db.read() as conn:
        why = explain_incident(conn, 1)
    assert why is not None and why["reasons"]
    shown = re.findall(r'<li>(.*?) <span class="weight">(.*?)</span></li>', page)
    assert shown == [(html.escape(r["text"]), html.escape(signed(r["weight"]))) for r in why["reasons"]]
    assert f"set by {why['severity_source']}" in page
    assert html.escape(DRAFT_TEXT) in page


def test_grafana_links_are_shown_where_the_alert_has_them(sqlite_site: PageSite) -> None:
    incident_id = grafana_incident(sqlite_site)

    with sqlite_site.bearer() as client:
        page = client.get(f"/incidents/{incident_id}").text

    links = dict(re.findall(r'<a href="([^"]+)" rel="noopener noreferrer">([^<]+)</a>', page))
    assert {words: html.unescape(url) for url, words in links.items()} == {
        "Grafana panel": "https://grafana.internal/d/ledger-overview?viewPanel=4",
        "Grafana dashboard": "https://grafana.internal/d/ledger-overview",
        "Source": "https://grafana.internal/alerting/grafana/cdq1xeeqt/view?orgId=1",
        "Silence in Grafana": grafana_payload()["alerts"][0]["silenceURL"],
        "Runbook": "https://runbooks.internal/memory",
    }


def test_hostile_alert_text_is_escaped_and_unsafe_links_are_not_links(sqlite_site: PageSite) -> None:
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    alert = am_alert(
        "Evil<script>",
        instance=hostile,
        extra_labels={"note": 'it\'s "quoted" & <b>bold</b>'},
        annotations={
            "summary": f"summary {hostile}",
            "description": "<iframe src=javascript:alert(3)>",
            "runbook_url": "javascript:alert(4)",
        },
    )
    alert["generatorURL"] = "javascript:alert(document.cookie)//http://x"
    payload = {
        **am_payload([alert], group_key="evil"),
        "externalURL": "data:text/html,<script>alert(5)</script>",
    }
    post_alerts(sqlite_site, payload)

    with sqlite_site.bearer() as client:
        page = client.get("/incidents/1").text

    assert "<script" not in page and "<img" not in page and "<iframe" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#x27;" in page and "&quot;quoted&quot;" in page  # quotes cannot leave an attribute
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith(("/incidents", "http://", "https://")) for h in hrefs)
    assert "javascript:" not in " ".join(hrefs) and "data:" not in " ".join(hrefs)
    assert "Runbook" not in page and "Alertmanager" not in page  # their only URLs were unsafe


def test_without_the_token_the_pages_refuse_with_the_form_and_no_incident_data(
    sqlite_site: PageSite, clock: Clock
) -> None:
    checkout_incident(sqlite_site, clock)
    attempts = {
        "no header": ({}, "/incidents/1"),
        "wrong token": ({"Authorization": "Bearer not-the-token"}, "/incidents/1"),
        "token in the query": ({}, f"/incidents/1?token={API_TOKEN}"),
        "token as a cookie": ({"Cookie": f"{COOKIE}={API_TOKEN}"}, "/incidents/1"),
        "the list": ({}, "/incidents"),
    }

    for what, (headers, path) in attempts.items():
        with sqlite_site.client(**headers) as client:
            response = client.get(path)
        assert response.status_code == 401, what
        assert_secured(response.headers)
        assert 'action="/incidents/login"' in response.text and 'name="token"' in response.text
        assert "CheckoutHighErrorRate" not in response.text and "checkout" not in response.text, what


def test_sign_in_sets_a_strict_http_only_cookie_and_returns_to_the_page(
    sqlite_site: PageSite, clock: Clock
) -> None:
    checkout_incident(sqlite_site, clock)

    with sqlite_site.client() as client:
        refused = client.post("/incidents/login", data={"token": "guess", "next": "/incidents/1"})
        signed_in = client.post("/incidents/login", data={"token": API_TOKEN, "next": "/incidents/1"})
        cookie = signed_in.cookies[COOKIE]
        elsewhere = client.post(
            "/incidents/login", data={"token": API_TOKEN, "next": "https://evil.example/"}
        )

    assert refused.status_code == 401 and "not sevbot&#x27;s API token" in refused.text
    assert "set-cookie" not in refused.headers
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/incidents/1")
    attributes = signed_in.headers["set-cookie"].lower()
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/incidents" in attributes
    assert "secure" not in attributes  # plain http and no https public URL
    assert API_TOKEN not in cookie
    assert elsewhere.headers["location"] == "/incidents"  # never an open redirect

    with sqlite_site.client(Cookie=f"{COOKIE}={cookie}") as browser:
        assert browser.get("/incidents/1").status_code == 200
        assert "CheckoutHighErrorRate" in browser.get("/incidents").text
        assert browser.get("/api/incidents/1").status_code == 401  # the cookie opens the pages only
    with sqlite_site.client(Authorization=f"Bearer {cookie}") as client:
        assert client.get("/api/incidents/1").status_code == 401
    tampered = cookie[:-1] + ("0" if cookie[-1] != "0" else "1")
    with sqlite_site.client(Cookie=f"{COOKIE}={tampered}") as client:
        assert client.get("/incidents/1").status_code == 401


def test_the_cookie_is_secure_when_the_public_url_is_https(
    tmp_path: Path, sqlite_url: str, clock: Clock
) -> None:
    https = {"public_url": "https://sevbot.example.com"}
    with page_site(tmp_path, sqlite_url, clock, **https) as running, running.client() as client:
        signed_in = client.post("/incidents/login", data={"token": API_TOKEN, "next": "/incidents"})

    assert signed_in.status_code == 303
    assert "; secure" in signed_in.headers["set-cookie"].lower()


def test_a_missing_incident_is_404_and_a_bad_id_422(sqlite_site: PageSite) -> None:
    with sqlite_site.bearer() as client:
        missing = client.get("/incidents/999")
        bad = [
            client.get(path) for path in ("/incidents/abc", "/incidents/0", "/incidents/1?alerts_offset=-1")
        ]

    assert missing.status_code == 404 and "No incident #999" in missing.text
    assert_secured(missing.headers)
    assert [r.status_code for r in bad] == [422, 422, 422]
    assert [r.json()["fields"][0]["field"] for r in bad] == ["incident_id", "incident_id", "alerts_offset"]


def test_without_an_api_token_the_pages_answer_this_machine_only(
    tmp_path: Path, sqlite_url: str, clock: Clock
) -> None:
    with page_site(tmp_path, sqlite_url, clock, api_token=None) as running:
        checkout_incident(running, clock)
        with running.client() as local, running.client(**{"X-Forwarded-For": "198.51.100.4"}) as proxied:
            direct = local.get("/incidents/1")
            remote = proxied.get("/incidents/1")

    assert direct.status_code == 200 and "CheckoutHighErrorRate" in direct.text
    assert remote.status_code == 401 and "SEVBOT_API_TOKEN" in remote.text
    assert 'name="token"' not in remote.text and "checkout" not in remote.text


def test_many_alerts_are_paged_with_and_n_more(sqlite_site: PageSite) -> None:
    alerts = [
        am_alert("PodCrashLooping", instance=f"pod-{n:03d}", starts_at=T0) for n in range(ALERTS_PER_PAGE + 5)
    ]
    post_alerts(sqlite_site, am_payload(alerts, group_key="storm"))

    with sqlite_site.bearer() as client:
        first = client.get("/incidents/1").text
        rest = client.get("/incidents/1", params={"alerts_offset": ALERTS_PER_PAGE}).text

    assert first.count('<article class="card firing">') == ALERTS_PER_PAGE
    assert "and 5 more" in first and f'href="/incidents/1?alerts_offset={ALERTS_PER_PAGE}#alerts"' in first
    assert rest.count('<article class="card firing">') == 5 and "<b>instance</b>=pod-104" in rest


def test_the_list_links_each_incident(sqlite_site: PageSite, clock: Clock) -> None:
    checkout_incident(sqlite_site, clock)
    grafana_incident(sqlite_site)

    with sqlite_site.bearer() as client:
        page = client.get("/incidents").text

    assert re.findall(r'<td><a href="/incidents/\d+">#(\d+)</a></td>', page) == ["2", "1"]
    assert "Incidents (2)" in page
