"""Incident pages: full page, HTMX fragments, role checks, no-JS fallbacks."""

import pytest
from django.test import Client

from incidents.models import Incident, TimelineEntry
from tests.factories import make_incident

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def some(responder):
    return [
        make_incident(by=responder, title="Checkout outage", service="checkout", severity="SEV1"),
        make_incident(by=responder, title="Slow search", service="search", severity="SEV3", status="MITIGATED"),
        make_incident(by=responder, title="<script>alert('x')</script>", service="web", severity="SEV4"),
    ]


def test_list_page_and_its_table_fragment(viewer, some):
    client = logged_in(viewer)
    page = client.get("/incidents/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="incident-filters"' in html and "<html" in html
    assert "Checkout outage" in html
    assert "<script>alert('x')</script>" not in html and "&lt;script&gt;" in html
    fragment = client.get("/incidents/?severity=SEV1", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="incident-table"')
    assert "<html" not in fragment
    assert "Checkout outage" in fragment and "Slow search" not in fragment


def test_list_filters_search_and_sort(viewer, some):
    client = logged_in(viewer)
    html = client.get("/incidents/?status=MITIGATED").content.decode()
    assert "Slow search" in html and "Checkout outage" not in html
    html = client.get("/incidents/?q=outage").content.decode()
    assert "Checkout outage" in html and "Slow search" not in html
    html = client.get("/incidents/?service=search").content.decode()
    assert "Slow search" in html and "Checkout outage" not in html
    html = client.get("/incidents/?ordering=severity").content.decode()
    assert html.index("Checkout outage") < html.index("Slow search")
    assert 'aria-sort="ascending"' in html
    html = client.get("/incidents/?ordering=-severity").content.decode()
    assert html.index("Slow search") < html.index("Checkout outage")


def test_invalid_filters_are_reported_not_ignored(viewer, some):
    html = logged_in(viewer).get("/incidents/?severity=SEV9").content.decode()
    assert "Some filters are not valid" in html
    assert "Checkout outage" not in html


def test_viewers_see_no_write_controls(viewer, some):
    client = logged_in(viewer)
    assert "Open an incident" not in client.get("/incidents/").content.decode()
    html = client.get(f"/incidents/{some[0].pk}/").content.decode()
    assert "Acknowledge" not in html and "Add comment" not in html
    assert client.post(f"/incidents/{some[0].pk}/transition/", {"status": "ACKNOWLEDGED"}).status_code == 403
    assert client.post(f"/incidents/{some[0].pk}/comments/", {"body": "hi"}).status_code == 403
    assert client.get("/incidents/new/").status_code == 403


def test_detail_shows_exactly_the_allowed_transitions(responder, some):
    client = logged_in(responder)
    html = client.get(f"/incidents/{some[1].pk}/").content.decode()  # MITIGATED
    assert "Resolve" in html and "Acknowledge" not in html and "Mark mitigated" not in html
    html = client.get(f"/incidents/{some[0].pk}/").content.decode()  # OPEN
    assert "Acknowledge" in html and "Mark mitigated" in html and "Resolve" in html
    assert "Delete" not in html  # admins only


def test_transition_with_htmx_returns_the_updated_incident_fragment(responder, some):
    client = logged_in(responder)
    response = client.post(f"/incidents/{some[0].pk}/transition/", {"status": "ACKNOWLEDGED"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="incident"')
    assert 'id="incident-status">Acknowledged<' in html
    assert "changed status from <b>OPEN</b> to <b>ACKNOWLEDGED</b>" in html
    assert '"toast"' in response["HX-Trigger"]
    assert Incident.objects.get(pk=some[0].pk).status == "ACKNOWLEDGED"


def test_transition_without_js_redirects_with_a_message(responder, some):
    client = logged_in(responder)
    response = client.post(f"/incidents/{some[0].pk}/transition/", {"status": "RESOLVED"}, follow=True)
    assert response.redirect_chain == [(f"/incidents/{some[0].pk}/", 302)]
    assert "Incident resolved." in response.content.decode()


def test_an_illegal_transition_shows_why(responder, some):
    client = logged_in(responder)
    response = client.post(f"/incidents/{some[1].pk}/transition/", {"status": "ACKNOWLEDGED"}, **HTMX)
    assert "Cannot move an incident from MITIGATED to ACKNOWLEDGED" in response.content.decode()
    assert Incident.objects.get(pk=some[1].pk).status == "MITIGATED"


def test_comment_appears_in_the_timeline(responder, some):
    client = logged_in(responder)
    response = client.post(f"/incidents/{some[0].pk}/comments/", {"body": "Rolling back <b>now</b>"}, **HTMX)
    html = response.content.decode()
    assert "Rolling back &lt;b&gt;now&lt;/b&gt;" in html
    assert TimelineEntry.objects.filter(kind="COMMENT", incident=some[0]).count() == 1
    empty = client.post(f"/incidents/{some[0].pk}/comments/", {"body": ""}, **HTMX)
    assert "Write something first." in empty.content.decode()


def test_timeline_fragment_for_polling(viewer, some):
    response = logged_in(viewer).get(f"/incidents/{some[0].pk}/?part=timeline", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<ol id="timeline"')
    assert "opened the incident" in html


def test_reopen_and_delete(responder, admin_user, some):
    client = logged_in(responder)
    client.post(f"/incidents/{some[0].pk}/transition/", {"status": "RESOLVED"})
    html = client.get(f"/incidents/{some[0].pk}/").content.decode()
    assert "Reopen" in html
    client.post(f"/incidents/{some[0].pk}/reopen/")
    assert Incident.objects.get(pk=some[0].pk).status == "OPEN"
    assert client.post(f"/incidents/{some[0].pk}/delete/").status_code == 403
    admin = logged_in(admin_user)
    response = admin.post(f"/incidents/{some[0].pk}/delete/", **HTMX)
    assert response["HX-Redirect"] == "/incidents/"
    assert admin.get(f"/incidents/{some[0].pk}/").status_code == 404


def test_changing_a_deleted_incident_is_not_found_and_an_illegal_reopen_says_why(responder, admin_user, some):
    client = logged_in(responder)
    response = client.post(f"/incidents/{some[0].pk}/reopen/", follow=True)
    assert "Cannot move an incident from OPEN to reopen" in response.content.decode()
    logged_in(admin_user).post(f"/incidents/{some[0].pk}/delete/")
    assert client.post(f"/incidents/{some[0].pk}/transition/", {"status": "RESOLVED"}).status_code == 404
    assert client.post(f"/incidents/{some[0].pk}/reopen/").status_code == 404


def test_create_form_shows_inline_errors_and_creates(responder):
    client = logged_in(responder)
    response = client.post("/incidents/new/", {"title": "", "service": "Bad Service", "severity": "SEV2"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<form id="incident-form"')
    assert "This field is required." in html
    assert "Use lowercase letters" in html
    assert not Incident.objects.exists()
    no_js = client.post("/incidents/new/", {"title": "", "service": "x", "severity": "SEV2"})
    assert no_js.status_code == 400
    response = client.post(
        "/incidents/new/", {"title": "Broken builds", "service": "ci", "severity": "SEV2", "owner": "rita"}, **HTMX
    )
    incident = Incident.objects.get()
    assert response["HX-Redirect"] == f"/incidents/{incident.pk}/"
    assert incident.owner.username == "rita" and incident.created_by.username == "rita"


def test_pages_need_login(some):
    for path in ("/incidents/", f"/incidents/{some[0].pk}/", "/incidents/new/"):
        assert Client().get(path)["Location"].startswith("/login/")


def test_actions_are_post_only(responder, some):
    assert logged_in(responder).get(f"/incidents/{some[0].pk}/transition/").status_code == 405


def test_overview_shows_open_incidents_and_response_times(viewer, responder, some):
    html = logged_in(viewer).get("/").content.decode()
    assert 'id="open-by-severity"' in html
    assert "Checkout outage" in html
    assert "median time to acknowledge" in html


def test_the_list_pages_keep_the_filters_in_their_links(viewer, responder):
    for number in range(27):
        make_incident(by=responder, title=f"Incident {number:02d}", severity="SEV2")
    client = logged_in(viewer)
    html = client.get("/incidents/?severity=SEV2").content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?severity=SEV2&amp;page=2"' in html and 'hx-target="#incident-table"' in html
    second = client.get("/incidents/?severity=SEV2&page=2", **HTMX).content.decode()
    assert "Page 2 of 2" in second and "← Previous" in second and "Next →" not in second
