"""``/api/v1/issues``: the assignee (PATCH), the comment thread and an incident opened for an issue."""

from __future__ import annotations

import pytest
from django.utils import timezone

from events import keys
from events.models import Issue, IssueComment, IssueIncident
from incidents.models import Incident
from tests import helpers
from tests.factories import make_cart_error, make_incident, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/issues"


@pytest.fixture
def issue(project, viewer, responder) -> Issue:
    project.members.add(viewer, responder)
    helpers.ingest(project, make_cart_error("ValueError", "bad quantity", minutes_ago=5), now=timezone.now())
    return Issue.objects.get(project=project)


def test_assignee_is_part_of_every_issue(viewer_client, issue):
    assert viewer_client.get(f"{URL}/{issue.pk}").json()["assignee"] is None
    assert viewer_client.get(URL).json()["results"][0]["assignee"] is None


def test_patch_assigns_and_unassigns(responder_client, issue):
    response = responder_client.patch(f"{URL}/{issue.pk}", {"assignee": "rita"}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] == "rita"
    assert response.json()["status"] == "unresolved"
    response = responder_client.patch(f"{URL}/{issue.pk}", {"assignee": None}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] is None
    assert list(issue.activity.filter(kind__in=["assigned", "unassigned"]).values_list("kind", flat=True)) == [
        "assigned",
        "unassigned",
    ]


def test_patch_status_and_assignee_together(responder_client, issue):
    response = responder_client.patch(f"{URL}/{issue.pk}", {"assignee": "rita", "status": "resolved"}, format="json")
    assert response.status_code == 200
    assert (response.json()["assignee"], response.json()["status"]) == ("rita", "resolved")


def test_patch_refuses_unknown_users_viewers_and_an_empty_body(responder_client, issue, viewer):
    response = responder_client.patch(f"{URL}/{issue.pk}", {"assignee": "nobody"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert "assignee" in response.json()["details"]
    response = responder_client.patch(f"{URL}/{issue.pk}", {"assignee": viewer.username}, format="json")
    assert response.status_code == 400 and "assignee" in response.json()["details"]
    response = responder_client.patch(f"{URL}/{issue.pk}", {}, format="json")
    assert response.status_code == 400
    assert Issue.objects.get(pk=issue.pk).assignee is None


def test_viewers_cannot_assign_and_anonymous_is_401(viewer_client, anonymous_client, issue):
    response = viewer_client.patch(f"{URL}/{issue.pk}", {"assignee": "rita"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
    assert anonymous_client.patch(f"{URL}/{issue.pk}", {"assignee": "rita"}, format="json").status_code == 401
    assert Issue.objects.get(pk=issue.pk).assignee is None


def test_comments_list_and_add(responder_client, viewer_client, anonymous_client, issue):
    response = responder_client.post(f"{URL}/{issue.pk}/comments", {"body": "Safari only?"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["author"], body["body"]) == ("rita", "Safari only?") and body["created_at"]
    listing = viewer_client.get(f"{URL}/{issue.pk}/comments").json()
    assert listing["count"] == 1 and listing["results"][0]["body"] == "Safari only?"
    assert viewer_client.post(f"{URL}/{issue.pk}/comments", {"body": "me"}, format="json").status_code == 403
    assert anonymous_client.get(f"{URL}/{issue.pk}/comments").status_code == 401
    blank = responder_client.post(f"{URL}/{issue.pk}/comments", {"body": "  "}, format="json")
    assert blank.status_code == 400 and "body" in blank.json()["details"]
    assert IssueComment.objects.count() == 1


def test_comments_of_other_projects_are_404(viewer_client, issue):
    other = keys.create_project(name="Internal", slug="internal", services=["hr"])
    helpers.ingest(other, make_cart_error("KeyError", "x", minutes_ago=1, service="hr"), now=timezone.now())
    hidden = Issue.objects.get(project=other)
    assert viewer_client.get(f"{URL}/{hidden.pk}/comments").status_code == 404


def test_open_incident_with_defaults_then_again(responder_client, issue):
    response = responder_client.post(f"{URL}/{issue.pk}/incident", {}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    incident = Incident.objects.get()
    assert body == {
        "incident": str(incident.pk),
        "opened": True,
        "title": "Errors in checkout: ValueError: bad quantity",
        "severity": incident.severity,
        "status": "OPEN",
    }
    assert IssueIncident.objects.get(issue=issue).incident == incident
    again = responder_client.post(f"{URL}/{issue.pk}/incident", {"severity": "SEV1"}, format="json")
    assert again.status_code == 200 and again.json()["opened"] is False
    assert again.json()["incident"] == str(incident.pk)


def test_open_incident_joins_a_running_one_and_checks_roles(responder_client, viewer_client, issue, responder):
    assert viewer_client.post(f"{URL}/{issue.pk}/incident", {}, format="json").status_code == 403
    running = make_incident(by=responder, title="Checkout down", service="checkout")
    response = responder_client.post(
        f"{URL}/{issue.pk}/incident",
        {"title": "x", "severity": "SEV2", "resolve_issue_with_incident": False},
        format="json",
    )
    assert response.status_code == 200 and response.json()["incident"] == str(running.pk)
    assert IssueIncident.objects.get(issue=issue).resolve_issue_with_incident is False
    bad = responder_client.post(f"{URL}/{issue.pk}/incident", {"severity": "SEV9"}, format="json")
    assert bad.status_code == 400 and "severity" in bad.json()["details"]


def test_get_on_incident_is_405(responder_client, issue):
    assert responder_client.get(f"{URL}/{issue.pk}/incident").status_code == 405


def test_an_admin_can_assign_to_an_admin_who_is_no_member(admin_client, issue):
    make_user("admin", username="boss")
    response = admin_client.patch(f"{URL}/{issue.pk}", {"assignee": "boss"}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] == "boss"
