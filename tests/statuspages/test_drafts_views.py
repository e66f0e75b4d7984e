"""The incident page's status-page drafts over HTTP: the panel, publishing a draft and posting a draft
update (roles, CSRF, wrong methods, htmx fragments, the no-JS path)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from incidents import services as incident_services
from incidents.models import Incident, Status
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from statuspages import drafts, services
from statuspages.models import Component, PageIncident, PublicUpdate
from tests.factories import make_incident, make_monitor, make_page, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def outage(db):
    """The checkout monitor went DOWN: an incident linked (unpublished) to the Shop page's Checkout API."""
    page = make_page(slug="shop", title="Shop")
    monitor = make_monitor("checkout health", service="checkout-api", open_incident=True, incident_severity="SEV1")
    checkout = Component.objects.create(page=page, name="Checkout API", position=1)
    checkout.monitors.add(monitor)
    payments = Component.objects.create(page=page, name="Payments <b>", position=2)
    record_result(monitor.pk, CheckResult("down", None, "HTTP 503"), now=T0)
    incident = Incident.objects.get()
    return {"page": page, "incident": incident, "checkout": checkout, "payments": payments}


@pytest.fixture
def as_responder(client, db):
    client.force_login(make_user("responder"))
    return client


@pytest.fixture
def as_viewer(client, db):
    client.force_login(make_user("viewer"))
    return client


def publish_url(outage) -> str:
    return f"/status-pages/drafts/{outage['incident'].pk}/publish/shop/"


def draft_data(outage, **changes) -> dict:
    [draft] = drafts.propose_publications(outage["incident"])
    prefix = f"draft-{draft.page.public_id}"
    data = {
        "name": draft.name,
        "components": [c.pk for c in draft.selected],
        "impact": draft.impact,
        "body": draft.body,
        "status": draft.status,
    } | changes
    return {f"{prefix}-{key}": value for key, value in data.items()}


def test_the_incident_page_proposes_a_draft_with_the_component_preselected(outage, as_responder):
    html = as_responder.get(f"/incidents/{outage['incident'].pk}/").content.decode()
    prefix = f"draft-{outage['page'].public_id}"
    assert "Draft for “Shop”" in html
    assert f'value="{outage["checkout"].pk}" id="id_{prefix}-components_0" checked' in html
    assert f'value="{outage["payments"].pk}" id="id_{prefix}-components_1">' in html  # offered, not ticked
    assert "Payments &lt;b&gt;" in html and "Payments <b>" not in html
    assert '<option value="critical" selected>' in html  # SEV1
    assert 'value="checkout health is down"' in html
    assert "We are investigating an outage of Checkout API." in html
    assert "Publish on Shop</button>" in html
    assert f'action="{publish_url(outage)}"' in html


def test_viewers_see_that_a_draft_waits_but_no_form(outage, as_viewer):
    html = as_viewer.get(f"/incidents/{outage['incident'].pk}/").content.decode()
    assert "A draft is ready to publish on “Shop”" in html
    assert "Publish on Shop" not in html and "publish-draft" not in html


def test_nothing_is_public_before_the_click_and_one_click_publishes(
    outage, as_responder, django_capture_on_commit_callbacks
):
    public = Client()
    assert "checkout health is down" not in public.get("/status/shop/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the page's cached outputs are forgotten on commit
        response = as_responder.post(publish_url(outage), draft_data(outage))
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{outage['incident'].pk}/#status-pages"
    link = PageIncident.objects.get()
    assert link.published_at is not None and list(link.components.all()) == [outage["checkout"]]
    html = public.get("/status/shop/").content.decode()
    assert "checkout health is down" in html and "We are investigating an outage of Checkout API." in html
    page = as_responder.get(response["Location"]).content.decode()
    assert "Published on “Shop”." in page and "Draft for “Shop”" not in page


def test_publishing_with_htmx_returns_the_panel_and_a_toast(outage, as_responder):
    response = as_responder.post(publish_url(outage), draft_data(outage, name="Checkout is down"), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<section") and "<html" not in html
    assert 'id="status-pages"' in html and "published</a> as “Checkout is down”" in html
    assert json.loads(response["HX-Trigger"]) == {"toast": {"message": "Published on “Shop”.", "level": "success"}}


def test_an_invalid_draft_shows_again_with_its_errors(outage, as_responder):
    data = draft_data(outage, name="", body="Edited text")
    response = as_responder.post(publish_url(outage), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html and "Edited text" in html and "<html" in html
    assert PageIncident.objects.get().published_at is None
    fragment = as_responder.post(publish_url(outage), data, **HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert "This field is required." in fragment.content.decode() and "Edited text" in fragment.content.decode()
    assert json.loads(fragment["HX-Trigger"])["toast"]["level"] == "error"


def test_a_component_of_another_page_is_refused(outage, as_responder):
    other = Component.objects.create(page=make_page(slug="other", title="Other"), name="Elsewhere")
    response = as_responder.post(publish_url(outage), draft_data(outage, components=[other.pk]))
    assert response.status_code == 400
    assert PageIncident.objects.get(page=outage["page"]).published_at is None


def test_a_stale_draft_says_why_and_publishes_nothing(outage, as_responder):
    data = draft_data(outage)
    incident_services.transition_incident(outage["incident"].pk, to=Status.ACKNOWLEDGED, by=None)
    response = as_responder.post(publish_url(outage), data, follow=True)
    assert "The incident is now acknowledged: review the new draft" in response.content.decode()
    assert PageIncident.objects.get().published_at is None and PublicUpdate.objects.count() == 0


def test_publishing_twice_is_refused(outage, as_responder):
    data = draft_data(outage)
    as_responder.post(publish_url(outage), data)
    response = as_responder.post(publish_url(outage), data, **HTMX)
    assert json.loads(response["HX-Trigger"])["toast"]["level"] == "error"
    assert PublicUpdate.objects.count() == 1


def test_publishing_needs_a_responder_a_post_and_a_csrf_token(outage, client):
    url = publish_url(outage)
    anonymous = client.post(url, draft_data(outage))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(make_user("viewer"))
    assert client.post(url, draft_data(outage)).status_code == 403
    client.force_login(make_user("responder"))
    assert client.get(url).status_code == 405
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(make_user("responder"))
    assert checked.post(url, draft_data(outage)).status_code == 403
    assert PageIncident.objects.get().published_at is None
    assert client.post(f"/status-pages/drafts/{outage['incident'].pk}/publish/nope/", {}).status_code == 404


def test_the_panel_refreshes_only_when_something_changed(outage, as_viewer):
    url = f"/status-pages/drafts/{outage['incident'].pk}/"
    first = as_viewer.get(url, **HTMX)
    assert first.status_code == 200 and "<html" not in first.content.decode()
    key = first.content.decode().split("?key=")[1].split('"')[0].split("&")[0]
    assert as_viewer.get(f"{url}?key={key}", **HTMX).status_code == 204
    services.publish_incident(outage["page"], outage["incident"], components=[outage["checkout"]], body="On it.")
    changed = as_viewer.get(f"{url}?key={key}", **HTMX)
    assert changed.status_code == 200 and "published</a>" in changed.content.decode()
    plain = as_viewer.get(url)
    assert plain.status_code == 302 and plain["Location"] == f"/incidents/{outage['incident'].pk}/#status-pages"
    assert as_viewer.post(url, **HTMX).status_code == 405


def test_the_panel_needs_a_login_and_stops_polling_a_deleted_incident(outage, client):
    url = f"/status-pages/drafts/{outage['incident'].pk}/"
    anonymous = client.get(url, **HTMX)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(make_user("viewer"))
    Incident.objects.filter(pk=outage["incident"].pk).update(deleted_at=T0)
    assert client.get(url, **HTMX).status_code == 286


# --- draft updates ------------------------------------------------------------------------------------


@pytest.fixture
def resolved(outage):
    link = services.publish_incident(outage["page"], outage["incident"], components=[outage["checkout"]], body="On it.")
    incident_services.transition_incident(outage["incident"].pk, to=Status.RESOLVED, by=None)
    return link


def update_url(link) -> str:
    return f"/status-pages/drafts/{link.incident_id}/updates/{link.public_id}/"


def update_data(link, **changes) -> dict:
    data = {"body": "Checkout works again.", "status": "resolved"} | changes
    return {f"update-{link.public_id}-{key}": value for key, value in data.items()}


def test_a_resolved_update_is_proposed_and_posted_in_one_click(resolved, as_responder):
    html = as_responder.get(f"/incidents/{resolved.incident_id}/").content.decode()
    assert "Update for “Shop”" in html and "Post “Resolved” update</button>" in html
    assert "This incident has been resolved: Checkout API is operating normally again." in html
    assert "newest update says “Investigating”" in html
    response = as_responder.post(update_url(resolved), update_data(resolved))
    assert response.status_code == 302
    newest = resolved.updates.order_by("-display_at", "-id").first()
    assert (newest.status, newest.body) == ("resolved", "Checkout works again.")
    assert "Checkout works again." in Client().get(f"/status/shop/incidents/{resolved.public_id}/").content.decode()
    assert "Update for “Shop”" not in as_responder.get(f"/incidents/{resolved.incident_id}/").content.decode()


def test_an_acknowledged_incident_proposes_an_identified_update(outage, as_responder):
    link = services.publish_incident(outage["page"], outage["incident"], body="On it.")
    incident_services.transition_incident(outage["incident"].pk, to=Status.ACKNOWLEDGED, by=None)
    response = as_responder.post(update_url(link), update_data(link, status="identified", body="Found it."), **HTMX)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert json.loads(response["HX-Trigger"])["toast"]["message"] == "“Identified” update posted on “Shop”."
    assert link.updates.order_by("-display_at", "-id").first().status == "identified"


def test_posting_an_update_needs_a_responder_a_post_and_a_draft(resolved, client):
    url = update_url(resolved)
    anonymous = client.post(url, update_data(resolved))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(make_user("viewer"))
    assert client.post(url, update_data(resolved)).status_code == 403
    client.force_login(make_user("responder"))
    assert client.get(url).status_code == 405
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(make_user("responder"))
    assert checked.post(url, update_data(resolved)).status_code == 403
    assert resolved.updates.count() == 1
    empty = client.post(url, update_data(resolved, body=""))
    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    client.post(url, update_data(resolved))
    again = client.post(url, update_data(resolved), follow=True)
    assert "Nothing to post on “Shop”: it is up to date." in again.content.decode()
    assert resolved.updates.count() == 2


def test_a_stale_update_draft_is_refused(resolved, as_responder):
    response = as_responder.post(update_url(resolved), update_data(resolved, status="monitoring"), **HTMX)
    assert json.loads(response["HX-Trigger"])["toast"]["level"] == "error"
    assert resolved.updates.count() == 1


def test_an_update_of_another_incident_is_not_found(resolved, as_responder):
    other = make_incident(title="Other")
    url = f"/status-pages/drafts/{other.pk}/updates/{resolved.public_id}/"
    assert as_responder.post(url, update_data(resolved)).status_code == 404


def test_component_names_are_escaped_everywhere_in_the_draft(outage, as_responder):
    Component.objects.filter(pk=outage["checkout"].pk).update(name="Checkout <img src=x onerror=alert(1)>")
    html = as_responder.get(f"/incidents/{outage['incident'].pk}/").content.decode()
    assert "<img src=x" not in html
    assert "Pre-selected: Checkout &lt;img src=x onerror=alert(1)&gt;, touched" in html
