"""``/api/v1/issues``: list, filters, ordering, detail, status changes, events and activity."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from events import keys, lifecycle
from events.models import Event, Issue
from tests import helpers
from tests.factories import in_app_frame, make_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
error = partial(make_event, kind="ValueError", at=T0, route="/checkout", frames=[in_app_frame()])
ingest = partial(helpers.ingest, now=T0, until_done=False)
URL = "/api/v1/issues"


@pytest.fixture
def issues(project, viewer, responder):
    """Three issues in the viewer's and responder's project, one in a project they are not members of."""
    project.members.add(viewer, responder)
    ingest(project, error("Cart is empty", at=T0, release="1.0", user_id="a"))
    ingest(project, *[error("Out of stock", at=T0 + timedelta(minutes=i), release="1.1") for i in range(3)])
    ingest(project, error("Coupon expired", at=T0 + timedelta(hours=1), service="api"))
    other = keys.create_project(name="Internal", slug="internal", services=["hr"])
    ingest(other, error("Secret failure", service="hr"))
    return {issue.title.split(": ")[1]: issue for issue in Issue.objects.all()}


def titles(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["title"].split(": ")[1] for row in response.json()["results"]]


def test_anonymous_is_401(anonymous_client, issues):
    assert anonymous_client.get(URL).status_code == 401
    assert anonymous_client.get(f"{URL}/{issues['Cart is empty'].pk}").status_code == 401


def test_members_see_their_projects_issues_newest_first(viewer_client, issues):
    response = viewer_client.get(URL)
    assert titles(response) == ["Coupon expired", "Out of stock", "Cart is empty"]
    assert response.json()["count"] == 3


def test_admins_see_every_project(admin_client, issues):
    assert "Secret failure" in titles(admin_client.get(URL))


def test_a_viewer_who_is_no_member_sees_nothing(viewer_client, viewer, project, issues):
    project.members.remove(viewer)
    assert viewer_client.get(URL).json()["results"] == []
    assert viewer_client.get(f"{URL}/{issues['Cart is empty'].pk}").status_code == 404


def test_issues_of_other_projects_are_404(viewer_client, issues):
    response = viewer_client.get(f"{URL}/{issues['Secret failure'].pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_detail_fields(viewer_client, issues, project):
    issue = issues["Out of stock"]
    body = viewer_client.get(f"{URL}/{issue.pk}").json()
    assert body["id"] == issue.pk
    assert body["project"] == project.pk
    assert body["service"] == "checkout"
    assert body["title"] == "ValueError: Out of stock"
    assert body["culprit"] == "shop.cart in add"
    assert body["level"] == "error"
    assert body["status"] == "unresolved"
    assert body["event_count"] == body["count"] == 3
    assert body["user_count"] == 0
    assert body["regression_count"] == 0
    assert body["first_seen"] == "2026-03-01T12:00:00Z"
    assert body["last_seen"] == "2026-03-01T12:02:00Z"
    assert (body["first_release"], body["last_release"]) == ("1.1", "1.1")
    assert (body["resolved_at"], body["resolved_by"], body["resolved_by_deploy"]) == (None, None, None)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=api", ["Coupon expired"]),
        ("status=unresolved", ["Coupon expired", "Out of stock", "Cart is empty"]),
        ("status=resolved,ignored", []),
        ("search=stock", ["Out of stock"]),
        ("search=SHOP.CART", ["Coupon expired", "Out of stock", "Cart is empty"]),
        ("ordering=-count", ["Out of stock", "Coupon expired", "Cart is empty"]),
        ("ordering=-event_count", ["Out of stock", "Coupon expired", "Cart is empty"]),
        ("ordering=first_seen", ["Cart is empty", "Out of stock", "Coupon expired"]),
        ("ordering=last_seen", ["Cart is empty", "Out of stock", "Coupon expired"]),
    ],
)
def test_filters_and_ordering(viewer_client, issues, query, expected):
    assert titles(viewer_client.get(f"{URL}?{query}")) == expected


def test_filter_by_project(admin_client, issues, project):
    assert len(titles(admin_client.get(f"{URL}?project={project.pk}"))) == 3
    assert titles(admin_client.get(f"{URL}?project={project.pk + 1000}")) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed", "status"),
        ("status=resolved,nope", "status"),
        ("ordering=title", "ordering"),
        ("project=abc", "project"),
        ("page=0", "page"),
        ("page_size=101", "page_size"),
    ],
)
def test_bad_query_values_are_400(viewer_client, issues, query, field):
    response = viewer_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]


def test_a_responder_resolves_and_reopens(responder_client, responder, issues):
    issue = issues["Cart is empty"]
    response = responder_client.patch(f"{URL}/{issue.pk}", {"status": "resolved"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_by"] == responder.username
    assert response.json()["resolved_at"] is not None
    assert titles(responder_client.get(f"{URL}?status=resolved")) == ["Cart is empty"]
    response = responder_client.patch(f"{URL}/{issue.pk}", {"status": "unresolved"}, format="json")
    assert (response.json()["status"], response.json()["resolved_by"]) == ("unresolved", None)
    kinds = [row["kind"] for row in responder_client.get(f"{URL}/{issue.pk}/activity").json()["results"]]
    assert kinds == ["created", "resolved", "unresolved"]


def test_an_admin_ignores_issues_of_any_project(admin_client, issues):
    response = admin_client.patch(f"{URL}/{issues['Secret failure'].pk}", {"status": "ignored"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"


def test_viewers_cannot_change_status(viewer_client, issues):
    response = viewer_client.patch(f"{URL}/{issues['Cart is empty'].pk}", {"status": "resolved"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert Issue.objects.get(pk=issues["Cart is empty"].pk).status == "unresolved"


def test_a_responder_cannot_touch_another_projects_issue(responder_client, issues):
    response = responder_client.patch(f"{URL}/{issues['Secret failure'].pk}", {"status": "resolved"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("payload", [{"status": "closed"}, {}, {"status": None}])
def test_an_invalid_status_is_400(responder_client, issues, payload):
    response = responder_client.patch(f"{URL}/{issues['Cart is empty'].pk}", payload, format="json")
    assert response.status_code == 400
    assert "status" in response.json()["details"]


@pytest.mark.parametrize(("method", "path"), [("post", ""), ("put", "/{pk}"), ("delete", "/{pk}"), ("post", "/{pk}")])
def test_other_methods_are_405(admin_client, issues, method, path):
    response = getattr(admin_client, method)(URL + path.format(pk=issues["Cart is empty"].pk), {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_the_issues_events_newest_first_with_a_cursor(viewer_client, issues):
    issue = issues["Out of stock"]
    first = viewer_client.get(f"{URL}/{issue.pk}/events?page_size=2").json()
    assert [row["timestamp"] for row in first["results"]] == ["2026-03-01T12:02:00Z", "2026-03-01T12:01:00Z"]
    assert all(row["issue"] == issue.pk for row in first["results"])
    second = viewer_client.get(first["next"]).json()
    assert [row["timestamp"] for row in second["results"]] == ["2026-03-01T12:00:00Z"]
    assert second["next"] is None
    assert viewer_client.get(f"{URL}/{issue.pk}/events?page_size=0").status_code == 400


def test_events_and_activity_of_an_invisible_issue_are_404(viewer_client, issues):
    pk = issues["Secret failure"].pk
    assert viewer_client.get(f"{URL}/{pk}/events").status_code == 404
    assert viewer_client.get(f"{URL}/{pk}/activity").status_code == 404


def test_an_issue_resolved_by_a_deploy_names_it(viewer_client, issues, project):
    ingest(
        project,
        make_event(event_type="DEPLOY", service="checkout", at=T0 + timedelta(hours=2), release="2.0"),
    )
    lifecycle.resolve_quiet_issues_after_deploys(now=T0 + timedelta(hours=4))
    deploy = Event.objects.get(event_type="DEPLOY")
    body = viewer_client.get(f"{URL}/{issues['Out of stock'].pk}").json()
    assert body["status"] == "resolved"
    assert body["resolved_by_deploy"]["id"] == deploy.pk
    assert body["resolved_by_deploy"]["release"] == "2.0"
    activity = viewer_client.get(f"{URL}/{issues['Out of stock'].pk}/activity").json()["results"]
    assert activity[-1]["kind"] == "resolved_by_deploy"
    assert activity[-1]["event"] == deploy.pk


def test_listing_costs_a_fixed_number_of_queries(viewer_client, issues, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        assert viewer_client.get(URL).status_code == 200
