"""Deploy correlation and ``GET /api/v1/services/{service}/timeline``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from events import digestion
from events.ingest import store_events
from events.models import Issue
from incidents import services as incident_services
from tests import helpers
from tests.factories import make_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ingest = partial(helpers.ingest, now=T0 + timedelta(hours=1))
URL = "/api/v1/services/checkout/timeline"


@pytest.fixture
def story(project, viewer):
    """An old error, a deploy, a new error 3 minutes later, a late one 20 minutes later, another service."""
    project.members.add(viewer)
    ingest(project, make_event(at=T0 - timedelta(minutes=30), value="Cart 1 empty"))
    ingest(project, make_event(event_type="DEPLOY", at=T0, release="shop@2.0", message="deploy shop@2.0"))
    ingest(project, make_event(at=T0 + timedelta(minutes=3), value="Price 7 missing"))
    ingest(project, make_event(at=T0 + timedelta(minutes=20), value="Price 8 missing"))
    ingest(project, make_event(at=T0 + timedelta(minutes=2), service="billing", value="Invoice 1 gone"))
    return project


def test_errors_shortly_after_a_deploy_name_it_and_their_new_issue_is_introduced_by_it(viewer_client, story):
    response = viewer_client.get(
        URL, {"since": (T0 - timedelta(hours=1)).isoformat(), "until": T0 + timedelta(hours=1)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["correlation_window_minutes"] == 5
    kinds = [
        (item["event_type"], item.get("suspected_cause") and item["suspected_cause"]["release"])
        for item in body["items"]
    ]
    assert kinds == [("ERROR", None), ("DEPLOY", None), ("ERROR", "shop@2.0"), ("ERROR", None)]
    timestamps = [item["timestamp"] for item in body["items"]]
    assert timestamps == sorted(timestamps)  # oldest first
    [introduced] = body["issues_introduced"]
    assert introduced["title"] == "LookupError: Price 7 missing"
    assert introduced["introduced_by"]["release"] == "shop@2.0"
    assert Issue.objects.get(title="LookupError: Price 7 missing").introduced_by.release == "shop@2.0"
    assert Issue.objects.get(title="LookupError: Cart 1 empty").introduced_by is None


def test_incident_transitions_of_the_service_are_merged_in(viewer_client, admin_user, story):
    incident = incident_services.create_incident(
        title="Checkout errors", service="checkout", severity="SEV2", by=admin_user, now=T0 + timedelta(minutes=4)
    )
    incident_services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=admin_user, now=T0 + timedelta(minutes=6))
    incident_services.create_incident(title="Billing", service="billing", severity="SEV3", by=admin_user, now=T0)
    body = viewer_client.get(URL, {"since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}).json()
    rows = [(item["kind"], item.get("event_type") or item["action"]) for item in body["items"]]
    assert rows == [
        ("event", "DEPLOY"),
        ("event", "ERROR"),
        ("incident", "CREATED"),
        ("incident", "STATUS_CHANGED"),
        ("event", "ERROR"),
    ]
    change = body["items"][3]
    assert (change["title"], change["from"], change["to"]) == ("Checkout errors", "OPEN", "ACKNOWLEDGED")


def test_the_window_is_a_setting(viewer_client, story, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "DEPLOY_CORRELATION_MINUTES": 30}
    body = viewer_client.get(URL, {"since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}).json()
    causes = [item["suspected_cause"] is not None for item in body["items"] if item["event_type"] == "ERROR"]
    assert causes == [True, True]


def test_non_members_see_no_events_of_the_project(client, responder, story):
    client.force_login(responder)  # not a member of the project
    body = client.get(URL, {"since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}).json()
    assert body["items"] == [] and body["issues_introduced"] == []


def test_a_long_range_is_truncated_and_resumable(viewer_client, story, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "TIMELINE_MAX_EVENTS": 2}
    first = viewer_client.get(
        URL, {"since": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}
    ).json()
    assert first["truncated"] is True and len(first["items"]) == 2
    rest = viewer_client.get(URL, {"since": first["next_since"], "until": (T0 + timedelta(hours=1)).isoformat()}).json()
    assert [item["event_type"] for item in rest["items"]] == ["DEPLOY", "ERROR"]  # the boundary event again, then on


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_ranges_are_400_naming_the_field(viewer_client, params, field):
    response = viewer_client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_a_bad_service_name_is_400(viewer_client):
    response = viewer_client.get("/api/v1/services/Bad%20Name/timeline")
    assert response.status_code == 400
    assert "service" in response.json()["details"]


def test_anonymous_is_401_and_it_is_read_only(anonymous_client, viewer_client, admin_client):
    assert anonymous_client.get(URL).status_code == 401
    assert viewer_client.post(URL, {}).status_code == 405
    response = admin_client.delete(URL)
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_the_service_page_draws_errors_deploys_and_incidents(client, viewer, admin_user, project):
    from django.utils import timezone

    now = timezone.now()
    project.members.add(viewer)
    store_events(
        project,
        [
            make_event(
                event_type="DEPLOY", at=now - timedelta(minutes=30), release="shop@3.1", message="deploy shop@3.1"
            ),
            make_event(at=now - timedelta(minutes=28), value="Price <b>9</b> missing"),
        ],
        now=now,
    )
    while digestion.digest_pending(now=now):
        pass
    incident_services.create_incident(
        title="Checkout down", service="checkout", severity="SEV1", by=admin_user, now=now - timedelta(minutes=20)
    )
    client.force_login(viewer)
    response = client.get("/issues/services/checkout/", {"range": "1h"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="error-bar"') == 1
    assert page.count('class="deploy-marker"') == 1
    assert page.count('class="incident-span"') == 1
    assert "suspected cause: deploy shop@3.1" in page
    assert "Issues introduced by a deploy" in page
    assert "Price &lt;b&gt;9&lt;/b&gt; missing" in page and "<b>9</b>" not in page  # user text escaped
    issue_page = client.get(f"/issues/{Issue.objects.get().pk}/").content.decode()
    assert 'id="introduced-by"' in issue_page and "shop@3.1" in issue_page


def test_the_service_page_needs_a_login_and_a_valid_name(client, viewer):
    assert client.get("/issues/services/checkout/").status_code == 302
    client.force_login(viewer)
    assert client.get("/issues/services/Not%20A%20Service/").status_code == 404
    empty = client.get("/issues/services/checkout/", {"range": "forever"})
    assert empty.status_code == 200 and "Nothing happened to checkout" in empty.content.decode()
