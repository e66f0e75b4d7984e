# ruff: noqa: S314 - the XML parsed here is our own feeds and badges
"""The public page, its Statuspage JSON, feeds and badges: shapes, escaping, caching, private pages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents.models import Status
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from statuspages import services
from statuspages.models import Maintenance
from tests.factories import make_incident, make_layout, make_page, make_user

DOWN = CheckResult("down", None, "connection refused")
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
    "group_id", "page_id", "group", "only_show_if_degraded",
}  # fmt: skip
INCIDENT_KEYS = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact", "shortlink",
    "started_at", "page_id", "incident_updates", "components", "reminder_intervals",
}  # fmt: skip
UPDATE_KEYS = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components",
    "deliver_notifications", "custom_tweet", "tweet_id",
}  # fmt: skip
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def acme(db, django_capture_on_commit_callbacks):
    """A page whose REST API is down, with a published incident (two updates) and an upcoming maintenance."""
    page = make_page()
    layout = make_layout(page)
    with django_capture_on_commit_callbacks(execute=True):
        record_result(layout["monitors"]["rest"].pk, DOWN, now=timezone.now() - timedelta(hours=1))
    incident = make_incident(title="Elevated API errors", severity="SEV2")
    link = services.publish_incident(page, incident, components=[layout["rest"]], body="We are looking into it.")
    services.post_update(link, body="Root cause found; **fix** rolling out.", status="identified")
    window = Maintenance.objects.create(
        page=page,
        title="Database upgrade",
        message="Expect *short* blips.",
        scheduled_for=timezone.now() + timedelta(days=2),
        scheduled_until=timezone.now() + timedelta(days=2, hours=1),
    )
    window.components.add(layout["website"])
    page.refresh_from_db()
    return {"page": page, "link": link, "window": window, **layout}


def get_json(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json" and response["Access-Control-Allow-Origin"] == "*"
    return response.json()


def test_the_page_shows_the_banner_components_bars_incident_timeline_and_maintenance(client, acme):
    response = client.get("/status/acme/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Major System Outage" in html  # the REST API (its only monitor down) is a major outage
    assert 'data-status="major_outage"' in html and "REST API" in html and "Website" in html
    assert html.count('class="sp-bars"') == 3 and html.count('<rect class="bar-') == 3 * 90
    assert "Elevated API errors" in html and "<strong>fix</strong>" in html and "Identified" in html
    assert "Database upgrade" in html and "<em>short</em>" in html
    assert "sessionid" not in response.cookies and "Cookie" not in response.get("Vary", "")


def test_the_rollup_is_the_worst_of_components_and_incident_impacts(acme):
    snap = __import__("statuspages.snapshot", fromlist=["take"]).take(acme["page"])
    # REST API major outage → critical; the SEV2 incident (major) does not lower it.
    assert (snap.indicator, snap.description) == ("critical", "Major System Outage")


def test_every_json_resource_has_the_spec_keys(client, acme):
    base = "/status/acme/api/v2/"
    summary = get_json(client, base + "summary.json")
    assert list(summary) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    assert set(summary["page"]) == PAGE_KEYS and STAMP.match(summary["page"]["updated_at"])
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    components = {c["name"]: c for c in summary["components"]}
    group = components["API"]
    assert set(group) == COMPONENT_KEYS | {"components"} and group["group"] is True
    assert group["status"] == "major_outage" and group["components"] == [
        acme["rest"].public_id,
        acme["graphql"].public_id,
    ]
    rest = components["REST API"]
    assert set(rest) == COMPONENT_KEYS and rest["group_id"] == group["id"] and rest["description"] == "Public REST"
    assert components["GraphQL"]["description"] is None and isinstance(rest["position"], int)
    [incident] = summary["incidents"]
    assert set(incident) == INCIDENT_KEYS
    assert (incident["status"], incident["impact"]) == ("identified", "major")
    assert incident["shortlink"].endswith(f"/status/acme/incidents/{acme['link'].public_id}/")
    first, second = incident["incident_updates"]  # newest first
    assert set(first) == UPDATE_KEYS and first["status"] == "identified" and second["status"] == "investigating"
    assert first["affected_components"][0]["code"] == acme["rest"].public_id
    assert [c["id"] for c in incident["components"]] == [acme["rest"].public_id]
    [window] = summary["scheduled_maintenances"]
    assert set(window) == INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
    assert (window["status"], window["impact"]) == ("scheduled", "maintenance")
    assert list(get_json(client, base + "status.json")) == ["page", "status"]
    assert len(get_json(client, base + "components.json")["components"]) == 4
    assert len(get_json(client, base + "incidents.json")["incidents"]) == 1
    assert len(get_json(client, base + "incidents/unresolved.json")["incidents"]) == 1
    assert len(get_json(client, base + "scheduled-maintenances.json")["scheduled_maintenances"]) == 1
    assert len(get_json(client, base + "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]) == 1
    assert get_json(client, base + "scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    missing = client.get(base + "nope.json")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"


def test_a_resolved_incident_leaves_unresolved_json(client, acme):
    from incidents import services as incident_services

    incident_services.transition_incident(acme["link"].incident_id, to=Status.RESOLVED, by=None)
    assert get_json(client, "/status/acme/api/v2/incidents/unresolved.json")["incidents"] == []
    [incident] = get_json(client, "/status/acme/api/v2/incidents.json")["incidents"]
    assert incident["status"] == "resolved" and STAMP.match(incident["resolved_at"])


def test_feeds_are_valid_xml_with_the_incident_and_the_maintenance(client, acme):
    atom = client.get("/status/acme/feed.atom")
    assert atom["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(atom.content)
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert "Elevated API errors (identified)" in titles and "Maintenance: Database upgrade (scheduled)" in titles
    rss = ET.fromstring(client.get("/status/acme/feed.rss").content)
    assert len(rss.findall("./channel/item")) == 2


def test_badges_are_svg_for_the_page_and_a_component(client, acme):
    page_badge = client.get("/badge/acme.svg")
    assert page_badge["Content-Type"] == "image/svg+xml" and "max-age" in page_badge["Cache-Control"]
    svg = ET.fromstring(page_badge.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and "major system outage" in page_badge.content.decode()
    component = client.get(f"/badge/acme/{acme['website'].public_id}.svg")
    assert ET.fromstring(component.content).get("aria-label") == "Website: operational"
    assert client.get("/badge/acme/aaaaaaaaaaaa.svg").status_code == 404
    assert client.get("/badge/nobody.svg").status_code == 404


def test_answers_carry_an_etag_and_a_304_comes_back_until_something_changes(
    client, acme, django_capture_on_commit_callbacks
):
    first = client.get("/status/acme/api/v2/summary.json")
    etag = first["ETag"]
    assert first["Last-Modified"]
    assert client.get("/status/acme/api/v2/summary.json", HTTP_IF_NONE_MATCH=etag).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        services.post_update(acme["link"], body="Fix deployed, watching.", status="monitoring")
    again = client.get("/status/acme/api/v2/summary.json", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and again["ETag"] != etag
    assert again.json()["incidents"][0]["status"] == "monitoring"


def test_a_component_change_shows_at_once_despite_the_cache(client, acme, django_capture_on_commit_callbacks):
    assert 'data-status="operational"' in client.get("/status/acme/").content.decode().split("Website")[1][:400]
    with django_capture_on_commit_callbacks(execute=True):
        record_result(acme["monitors"]["web"].pk, DOWN)
    html = client.get("/status/acme/").content.decode()
    assert 'data-status="major_outage"' in html.split("Website")[1][:400]


def test_user_text_is_escaped_everywhere(client, db):
    page = make_page(title=EVIL, description=EVIL)
    layout = make_layout(page)
    layout["website"].name = EVIL
    layout["website"].save()
    incident = make_incident(title=EVIL)
    link = services.publish_incident(
        page, incident, components=[layout["website"]], body=EVIL + " [x](javascript:alert(1))"
    )
    html = client.get("/status/acme/").content.decode()
    for body in (html, client.get(f"/status/acme/incidents/{link.public_id}/").content.decode()):
        assert "<script>" not in body and "<img src=x" not in body and 'href="javascript' not in body
        assert "&lt;script&gt;" in body
    summary = client.get("/status/acme/api/v2/summary.json").content.decode()
    assert "<script>" not in summary  # JSON carries text, escaped as \u003c by the encoder or left to clients
    feed = client.get("/status/acme/feed.atom").content.decode()
    ET.fromstring(feed)
    assert "<script>" not in feed
    badge = client.get(f"/badge/acme/{layout['website'].public_id}.svg").content.decode()
    ET.fromstring(badge)
    assert "<script>" not in badge


def test_a_private_page_shows_nothing_to_strangers(db):
    page = make_page(slug="inside", is_public=False, raw_password="open sesame")
    make_layout(page)
    stranger = Client()
    assert stranger.get("/status/inside/").status_code == 302
    for path in ("/status/inside/api/v2/summary.json", "/status/inside/feed.atom", "/badge/inside.svg",
                 "/status/inside/history/"):  # fmt: skip
        assert stranger.get(path).status_code == 404, path
    assert Client().get("/status/acme-nothing/").status_code == 404
    wrong = stranger.post("/status/inside/access/", {"password": "nope"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    right = stranger.post("/status/inside/access/", {"password": "open sesame", "next": "https://evil.example/"})
    assert right.status_code == 302 and right["Location"] == "/status/inside/"
    page_response = stranger.get("/status/inside/")
    assert page_response.status_code == 200 and "private" in page_response["Cache-Control"]
    assert stranger.get("/badge/inside.svg").status_code == 200
    member = Client()
    member.force_login(make_user("viewer"))
    assert member.get("/status/inside/api/v2/status.json").status_code == 200


def test_history_pages_by_month(client, acme):
    this_month = timezone.now().strftime("%Y-%m")
    html = client.get(f"/status/acme/history/?month={this_month}").content.decode()
    assert "Elevated API errors" in html and "Database upgrade" in html
    assert client.get("/status/acme/history/?month=2999-01").status_code == 404
    assert client.get("/status/acme/history/?month=garbage").status_code == 404
    assert client.get(f"/status/acme/incidents/{acme['link'].public_id}/").status_code == 200
    assert client.get("/status/acme/incidents/zzzzzzzzzzzz/").status_code == 404
