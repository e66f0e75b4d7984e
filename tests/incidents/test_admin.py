import pytest
from django.test import Client

from incidents.models import Incident
from tests.factories import make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_html(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_changelist_filters_search_and_shows_deleted_ones(admin_client_html, responder, admin_user):
    from incidents import services

    kept = make_incident(by=responder, title="Disk full on db-1")
    gone = make_incident(by=responder, title="Deleted one")
    services.delete_incident(gone.pk, by=admin_user)
    html = admin_client_html.get("/admin/incidents/incident/").content.decode()
    assert "Disk full on db-1" in html and "Deleted one" in html
    html = admin_client_html.get("/admin/incidents/incident/?deleted=no").content.decode()
    assert "Deleted one" not in html
    html = admin_client_html.get("/admin/incidents/incident/?q=disk").content.decode()
    assert "Disk full on db-1" in html and "Deleted one" not in html
    html = admin_client_html.get(f"/admin/incidents/incident/{kept.pk}/change/").content.decode()
    assert "opened" in html.lower() or "Created" in html  # the read-only timeline inline


def test_bulk_resolve_goes_through_the_state_machine(admin_client_html, responder):
    open_one = make_incident(by=responder, title="a")
    already = make_incident(by=responder, title="b", status="RESOLVED")
    response = admin_client_html.post(
        "/admin/incidents/incident/",
        {"action": "resolve_selected", "_selected_action": [str(open_one.pk), str(already.pk)]},
        follow=True,
    )
    assert "Resolved 1 incident(s)." in response.content.decode()
    open_one.refresh_from_db()
    assert open_one.status == "RESOLVED" and open_one.resolved_by.username == "ada"
    assert open_one.timeline.filter(kind="STATUS_CHANGED", to_value="RESOLVED").count() == 1
    assert already.timeline.filter(kind="STATUS_CHANGED", to_value="RESOLVED").count() == 1  # unchanged


def test_editing_in_admin_writes_timeline_entries(admin_client_html, responder):
    incident = make_incident(by=responder, title="Old title")
    response = admin_client_html.post(
        f"/admin/incidents/incident/{incident.pk}/change/",
        {
            "title": "New title",
            "service": "checkout",
            "severity": "SEV2",
            "owner": "",
            "summary": "",
            "timeline-TOTAL_FORMS": "1",
            "timeline-INITIAL_FORMS": "1",
            "timeline-MIN_NUM_FORMS": "0",
            "timeline-MAX_NUM_FORMS": "1000",
            "timeline-0-id": str(incident.timeline.get().pk),
            "timeline-0-incident": str(incident.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    incident.refresh_from_db()
    assert (incident.title, incident.severity) == ("New title", "SEV2")
    fields = set(incident.timeline.filter(kind="FIELD_CHANGED").values_list("field", flat=True))
    assert fields == {"title", "severity"}


def test_admin_cannot_hard_delete_or_add(admin_client_html, responder):
    incident = make_incident(by=responder)
    assert admin_client_html.get(f"/admin/incidents/incident/{incident.pk}/delete/").status_code == 403
    assert admin_client_html.get("/admin/incidents/incident/add/").status_code == 403
    assert Incident.objects.filter(pk=incident.pk).exists()
