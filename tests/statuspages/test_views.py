"""Dashboard pages: the list and setup (admins), component status and maintenance (responders), and the
incident page's status page panel (publish, post updates)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from incidents.models import Status
from statuspages.models import Component, Maintenance, MaintenanceStatus, PageIncident, StatusPage
from tests.factories import make_incident, make_layout, make_page, make_user


def test_the_list_shows_each_page_with_its_status_and_admins_create_pages(client, db):
    page = make_page(title="Shop <b>")
    make_layout(page)
    client.force_login(make_user("viewer"))
    html = client.get("/status-pages/").content.decode()
    assert "Shop &lt;b&gt;" in html and "All Systems Operational" in html and "New status page" not in html
    assert client.post("/status-pages/new/", {"title": "x", "slug": "x", "time_zone": "Etc/UTC"}).status_code == 403
    client.force_login(make_user("admin"))
    assert "New status page" in client.get("/status-pages/").content.decode()
    created = client.post(
        "/status-pages/new/", {"title": "Docs", "slug": "docs", "time_zone": "Europe/Paris", "is_public": "on"}
    )
    assert created.status_code == 302 and created["Location"] == "/status-pages/docs/setup/components/"
    assert StatusPage.objects.get(slug="docs").time_zone == "Europe/Paris"
    bad = client.post("/status-pages/new/", {"title": "Bad", "slug": "Bad Slug", "time_zone": "Nowhere"})
    assert bad.status_code == 400 and "time zone" in bad.content.decode()


def test_anonymous_users_go_to_the_login(client, db):
    make_page()
    for path in ("/status-pages/", "/status-pages/acme/"):
        response = client.get(path)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_admins_add_components_and_responders_set_a_status_by_hand(client, db):
    page = make_page()
    layout = make_layout(page)
    client.force_login(make_user("admin"))
    added = client.post(
        "/status-pages/acme/components/",
        {"name": "Search", "position": 3, "monitors": [layout["monitors"]["web"].pk], "showcase": "on"},
    )
    assert added.status_code == 302
    search = Component.objects.get(name="Search")
    assert list(search.monitors.all()) == [layout["monitors"]["web"]]
    client.force_login(make_user("responder"))
    assert client.post("/status-pages/acme/components/", {"name": "x", "position": 1}).status_code == 403
    client.post(f"/status-pages/acme/components/{search.public_id}/status/", {"status": "partial_outage"})
    assert Component.objects.get(pk=search.pk).status == "partial_outage"
    html = client.get("/status-pages/acme/").content.decode()
    assert "Partial outage" in html and "(by hand)" in html
    client.post(f"/status-pages/acme/components/{search.public_id}/status/", {"status": ""})
    assert Component.objects.get(pk=search.pk).status == "operational"


def test_responders_schedule_and_complete_maintenance(client, db):
    page = make_page()
    layout = make_layout(page)
    client.force_login(make_user("responder"))
    start = timezone.now() - timedelta(minutes=1)
    response = client.post(
        "/status-pages/acme/maintenance/",
        {
            "title": "Upgrade",
            "components": [layout["website"].pk],
            "scheduled_for": start.strftime("%Y-%m-%dT%H:%M"),
            "scheduled_until": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    window = Maintenance.objects.get()
    assert window.status == MaintenanceStatus.IN_PROGRESS
    client.post(f"/status-pages/acme/maintenance/{window.public_id}/complete/")
    window.refresh_from_db()
    assert window.status == MaintenanceStatus.COMPLETED
    backwards = client.post(
        "/status-pages/acme/maintenance/",
        {"title": "x", "scheduled_for": "2030-01-02T10:00", "scheduled_until": "2030-01-02T09:00"},
    )
    assert backwards.status_code == 400


def test_the_incident_page_publishes_and_posts_public_updates(client, db):
    page = make_page()
    layout = make_layout(page)
    incident = make_incident(title="Search down")
    client.force_login(make_user("viewer"))
    assert "Publish on a status page" not in client.get(f"/incidents/{incident.pk}/").content.decode()
    client.force_login(make_user("responder"))
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Publish on a status page" in html and "Not shown on any status page" in html
    published = client.post(
        f"/status-pages/publish/{incident.pk}/",
        {"page": page.pk, "components": [layout["rest"].pk], "body": "We are on it."},
    )
    assert published.status_code == 302
    link = PageIncident.objects.get()
    assert link.published_at and list(link.components.all()) == [layout["rest"]]
    client.post(f"/status-pages/updates/{link.public_id}/", {"body": "Fixed.", "status": "resolved"})
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "2 public updates" in html
    wrong = client.post(f"/status-pages/publish/{incident.pk}/", {"page": page.pk, "components": [999999], "body": "x"})
    assert wrong.status_code == 302 and PageIncident.objects.count() == 1
