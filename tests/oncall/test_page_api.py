"""``/api/v1/incidents/{id}/pages``: the pages of an incident's escalations, with their contacts (read-only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from incidents.oncall.models import ContactKind, Escalation, Page, PageContact
from tests.factories import make_incident, make_schedule, make_team, make_user
from tests.oncall.test_api import assert_error

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def url(incident) -> str:
    return f"/api/v1/incidents/{incident.pk}/pages"


@pytest.fixture
def paged():
    """An incident paged twice: Ann through her schedule at step 1 (delivered, then acknowledged by
    push), then Bob by name at step 2 (his email failed). Rows are made directly: no engine runs."""
    incident = make_incident(service="search")  # a service no team owns: nothing else pages for it
    ann = make_user(username="ann", first_name="Ann", last_name="Lee")
    bob = make_user(username="bob")
    schedule = make_schedule(make_team("Payments"), name="Primary")
    run = Escalation.objects.create(incident=incident, name="Payments primary", steps=[{}, {}], started_at=T0)
    later = Page.objects.create(
        escalation=run,
        incident=incident,
        user=bob,
        round=0,
        step_index=1,
        status=Page.Status.FAILED,
        created_at=T0 + timedelta(minutes=5),
        last_error="550 mailbox unavailable",
    )
    first = Page.objects.create(
        escalation=run,
        incident=incident,
        user=ann,
        round=0,
        step_index=0,
        schedule=schedule,
        status=Page.Status.ACKNOWLEDGED,
        created_at=T0,
        delivered_at=T0 + timedelta(seconds=3),
        delivered_via="Phone (ntfy)",
        acknowledged_at=T0 + timedelta(minutes=2),
        acknowledged_via="Ann via Phone (ntfy) page link",
    )
    PageContact.objects.create(
        page=first,
        position=1,
        kind=ContactKind.EMAIL,
        label="Work (Email)",
        delay_minutes=5,
        due_at=T0 + timedelta(minutes=5),
        status=PageContact.Status.SKIPPED,
    )
    PageContact.objects.create(
        page=first,
        position=0,
        kind=ContactKind.APPRISE,
        label="Phone (ntfy)",
        delay_minutes=0,
        due_at=T0,
        status=PageContact.Status.DELIVERED,
        sent_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=3),
    )
    PageContact.objects.create(
        page=later,
        position=0,
        kind=ContactKind.EMAIL,
        label="Account email",
        due_at=T0 + timedelta(minutes=5),
        status=PageContact.Status.FAILED,
        error="550 mailbox unavailable",
    )
    return {"incident": incident, "run": run, "schedule": schedule, "first": first, "later": later}


def test_a_viewer_reads_the_pages_oldest_first_with_their_contacts(viewer_client, paged):
    response = viewer_client.get(url(paged["incident"]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["count"], body["page"], body["total_pages"]) == (2, 1, 1)
    first, later = body["results"]
    assert first["id"] == paged["first"].pk and first["escalation"] == paged["run"].pk
    assert first["user"] == {"id": paged["first"].user_id, "username": "ann", "name": "Ann Lee"}
    assert (first["round"], first["step"], first["status"]) == (0, 1, "acknowledged")
    assert first["schedule"] == {"id": paged["schedule"].pk, "name": "Primary"}
    assert first["created_at"] == "2026-03-02T09:00:00Z"
    assert first["delivered_via"] == "Phone (ntfy)"
    assert first["acknowledged_via"] == "Ann via Phone (ntfy) page link"
    assert [c["label"] for c in first["contacts"]] == ["Phone (ntfy)", "Work (Email)"]  # by position
    assert first["contacts"][0] == {
        "label": "Phone (ntfy)",
        "kind": "apprise",
        "delay_minutes": 0,
        "due_at": "2026-03-02T09:00:00Z",
        "status": "delivered",
        "sent_at": "2026-03-02T09:00:01Z",
        "finished_at": "2026-03-02T09:00:03Z",
        "error": "",
    }
    assert (later["step"], later["schedule"], later["status"], later["delivered_at"]) == (2, None, "failed", None)
    assert later["contacts"][0]["error"] == "550 mailbox unavailable"


def test_an_incident_without_pages_has_an_empty_list(viewer_client):
    response = viewer_client.get(url(make_incident(service="search")))
    assert response.status_code == 200 and response.json()["results"] == []


def test_an_unknown_or_deleted_incident_is_404(viewer_client, admin_user):
    from incidents import services as incidents

    assert_error(viewer_client.get(f"/api/v1/incidents/{uuid.uuid4()}/pages"), 404, "NOT_FOUND")
    assert_error(viewer_client.get("/api/v1/incidents/not-a-uuid/pages"), 404, "NOT_FOUND")
    incident = make_incident(service="search")
    incidents.delete_incident(incident.pk, by=admin_user)
    assert_error(viewer_client.get(url(incident)), 404, "NOT_FOUND")


def test_anonymous_is_401_and_every_write_is_405(anonymous_client, viewer_client, admin_client, paged):
    assert_error(anonymous_client.get(url(paged["incident"])), 401, "AUTHENTICATION_REQUIRED")
    for client in (viewer_client, admin_client):
        for method in ("post", "put", "patch", "delete"):
            assert_error(getattr(client, method)(url(paged["incident"])), 405, "METHOD_NOT_ALLOWED")
    assert Page.objects.count() == 2


def test_the_pages_route_leaves_the_incident_routes_alone(viewer_client, paged):
    incident = paged["incident"]
    assert viewer_client.get(f"/api/v1/incidents/{incident.pk}").json()["id"] == str(incident.pk)
    assert viewer_client.get(f"/api/v1/incidents/{incident.pk}/timeline").status_code == 200
    assert viewer_client.get(f"/api/v1/incidents/{incident.pk}/pages/").status_code == 200  # trailing slash too


def test_pages_are_paginated(viewer_client, paged):
    body = viewer_client.get(url(paged["incident"]) + "?page_size=1&page=2").json()
    assert [p["id"] for p in body["results"]] == [paged["later"].pk]
    assert_error(viewer_client.get(url(paged["incident"]) + "?page=0"), 400, "VALIDATION_ERROR", "page")
