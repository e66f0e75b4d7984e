"""/api/v1/status-pages: admins set pages up, responders publish incidents, post updates and schedule work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Status
from statuspages.models import Component, Maintenance, MaintenanceStatus, StatusPage
from tests.factories import make_incident, make_layout, make_page, make_token, make_user


@pytest.fixture
def admin_client(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user('admin'))}")
    return client


def test_admins_create_and_edit_pages_others_cannot(admin_client, viewer_client, responder_client, anonymous_client):
    body = {
        "slug": "shop",
        "title": "Shop",
        "time_zone": "Europe/Paris",
        "password": "s3cret",
        "is_public": False,
        "footer_links": [{"label": "Help", "url": "https://help.example"}],
    }
    assert anonymous_client.post("/api/v1/status-pages", body, format="json").status_code == 401
    assert viewer_client.post("/api/v1/status-pages", body, format="json").status_code == 403
    assert responder_client.post("/api/v1/status-pages", body, format="json").status_code == 403
    created = admin_client.post("/api/v1/status-pages", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["has_password"] is True and "password" not in data and data["url"].endswith("/status/shop/")
    page = StatusPage.objects.get(slug="shop")
    assert page.check_password("s3cret") and page.password != "s3cret"
    assert viewer_client.get("/api/v1/status-pages/shop").json()["title"] == "Shop"
    changed = admin_client.patch("/api/v1/status-pages/shop", {"title": "Shop & Co", "password": ""}, format="json")
    assert changed.status_code == 200 and changed.json()["has_password"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus"),
        ("slug", "Not A Slug"),
        ("footer_links", [{"label": "x", "url": "javascript:alert(1)"}]),
        ("logo_url", "javascript:alert(1)"),
    ],
)
def test_bad_page_settings_are_refused_with_details(admin_client, field, value):
    body = {"slug": "shop", "title": "Shop", field: value}
    response = admin_client.post("/api/v1/status-pages", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]


def test_components_are_managed_by_admins_and_set_by_hand_by_responders(admin_client, responder_client, db):
    page = make_page()
    layout = make_layout(page)
    created = admin_client.post(
        "/api/v1/status-pages/acme/components",
        {"name": "Search", "group": layout["group"].public_id, "monitors": [layout["monitors"]["web"].pk]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    search = created.json()["id"]
    assert responder_client.patch(f"/api/v1/status-pages/acme/components/{search}", {"name": "x"}).status_code == 403
    manual = responder_client.post(
        f"/api/v1/status-pages/acme/components/{search}/status", {"status": "partial_outage"}, format="json"
    )
    assert manual.status_code == 200 and manual.json()["status"] == "partial_outage"
    assert Component.objects.get(public_id=search).status_override == "partial_outage"
    bad = responder_client.post(
        f"/api/v1/status-pages/acme/components/{search}/status", {"status": "meh"}, format="json"
    )
    assert bad.status_code == 400
    listed = admin_client.get("/api/v1/status-pages/acme/components").json()
    assert {c["name"] for c in listed["results"]} >= {"REST API", "Search"}
    other = make_page(slug="other", title="Other")
    foreign = admin_client.post(
        "/api/v1/status-pages/other/components", {"name": "x", "group": layout["group"].public_id}, format="json"
    )
    assert foreign.status_code == 400 and "group" in foreign.json()["details"] and other.pk


def test_responders_publish_an_incident_and_updates_move_it_forward(responder_client, viewer_client, db):
    page = make_page()
    layout = make_layout(page)
    incident = make_incident(title="Checkout down", severity="SEV1")
    body = {"incident": str(incident.pk), "components": [layout["rest"].public_id], "body": "Investigating."}
    assert viewer_client.post("/api/v1/status-pages/acme/incidents", body, format="json").status_code == 403
    published = responder_client.post("/api/v1/status-pages/acme/incidents", body, format="json")
    assert published.status_code == 201, published.json()
    link = published.json()
    assert (link["status"], link["impact"], link["components"]) == (
        "investigating",
        "critical",
        [layout["rest"].public_id],
    )
    update = responder_client.post(
        f"/api/v1/status-pages/acme/incidents/{link['id']}/updates",
        {"body": "Fixed, watching.", "status": "monitoring"},
        format="json",
    )
    assert update.status_code == 201 and update.json()["status"] == "monitoring"
    incident.refresh_from_db()
    assert incident.status == Status.MITIGATED
    backwards = responder_client.post(
        f"/api/v1/status-pages/acme/incidents/{link['id']}/updates",
        {"body": "x", "status": "investigating"},
        format="json",
    )
    assert backwards.status_code == 400 and backwards.json()["code"] == "INVALID_STATUS_TRANSITION"
    unknown = responder_client.post(
        "/api/v1/status-pages/acme/incidents",
        {"incident": str(incident.pk), "components": ["zzzzzzzzzzzz"]},
        format="json",
    )
    assert unknown.status_code == 400


def test_maintenance_windows_are_scheduled_and_completed_by_responders(responder_client, db):
    page = make_page()
    layout = make_layout(page)
    start = timezone.now() + timedelta(hours=1)
    body = {
        "title": "Upgrade",
        "components": [layout["website"].public_id],
        "scheduled_for": start.isoformat(),
        "scheduled_until": (start - timedelta(minutes=5)).isoformat(),
    }
    backwards = responder_client.post("/api/v1/status-pages/acme/maintenances", body, format="json")
    assert backwards.status_code == 400 and "scheduled_until" in backwards.json()["details"]
    body["scheduled_for"] = (timezone.now() - timedelta(minutes=1)).isoformat()  # already started
    body["scheduled_until"] = (start + timedelta(hours=1)).isoformat()
    created = responder_client.post("/api/v1/status-pages/acme/maintenances", body, format="json")
    assert created.status_code == 201, created.json()
    window = Maintenance.objects.get()
    assert window.status == MaintenanceStatus.IN_PROGRESS
    assert Component.objects.get(pk=layout["website"].pk).status == "under_maintenance"
    done = responder_client.post(f"/api/v1/status-pages/acme/maintenances/{window.public_id}/complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert Component.objects.get(pk=layout["website"].pk).status == "operational"


def test_the_timeline_gives_daily_status_per_component(viewer_client, db):
    page = make_page()
    make_layout(page)
    timeline = viewer_client.get("/api/v1/status-pages/acme/timeline?days=7").json()
    assert timeline["days"] == 7 and len(timeline["components"]) == 3
    assert all(len(c["days"]) == 7 for c in timeline["components"])
    assert set(timeline["components"][0]["days"][0]) == {"date", "state", "uptime", "incidents"}
    assert viewer_client.get("/api/v1/status-pages/acme/timeline?days=0").status_code == 400
    assert viewer_client.get("/api/v1/status-pages/acme/timeline?days=91").status_code == 400
    assert viewer_client.get("/api/v1/status-pages/nope/timeline").status_code == 404


def test_subscribers_are_for_admins_and_email_ones_still_confirm(admin_client, responder_client, db):
    make_page()
    assert responder_client.get("/api/v1/status-pages/acme/subscribers").status_code == 403
    created = admin_client.post(
        "/api/v1/status-pages/acme/subscribers", {"kind": "email", "email": "ops@example.com"}, format="json"
    )
    assert created.status_code == 201 and created.json()["confirmed_at"] is None
    hook = admin_client.post(
        "/api/v1/status-pages/acme/subscribers", {"kind": "webhook", "url": "https://hooks.example/x"}, format="json"
    )
    assert hook.status_code == 201 and hook.json()["confirmed_at"] is not None
    missing = admin_client.post("/api/v1/status-pages/acme/subscribers", {"kind": "webhook"}, format="json")
    assert missing.status_code == 400 and "url" in missing.json()["details"]
    assert admin_client.get("/api/v1/status-pages/acme/subscribers").json()["count"] == 2
    assert admin_client.delete(f"/api/v1/status-pages/acme/subscribers/{hook.json()['id']}").status_code == 204
    assert "token" not in created.json()  # the confirmation link's secret stays in the mail
