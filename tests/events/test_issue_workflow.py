"""Working on an issue from its page: assignee (assign to me, to someone, unassign), comments, and an incident
opened for it. Services first, then the HTML/HTMX views with their role and membership checks."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from events import workflow
from events.models import Issue, IssueActivity, IssueComment, IssueIncident
from incidents.models import Incident, IncidentSignal, SignalKind
from tests import helpers
from tests.factories import make_cart_error, make_incident, make_user
from tracepoint.errors import DomainError

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def issue(project, viewer, responder) -> Issue:
    project.members.add(viewer, responder)
    helpers.ingest(project, make_cart_error("ValueError", "bad quantity", minutes_ago=5), now=timezone.now())
    return Issue.objects.get(project=project)


# --- services ---------------------------------------------------------------------------------------


def test_assign_and_unassign_write_activity_and_repeat_is_a_no_op(issue, responder, admin_user):
    workflow.assign_issue(issue.pk, assignee=responder, by=admin_user)
    workflow.assign_issue(issue.pk, assignee=responder, by=admin_user)
    assert Issue.objects.get(pk=issue.pk).assignee == responder
    workflow.assign_issue(issue.pk, assignee=None, by=responder)
    assert Issue.objects.get(pk=issue.pk).assignee is None
    entries = list(issue.activity.filter(kind__in=["assigned", "unassigned"]).values_list("kind", "note", "actor"))
    assert entries == [("assigned", "rita", admin_user.pk), ("unassigned", "rita", responder.pk)]


def test_only_responders_who_see_the_project_can_take_an_issue(issue, viewer, responder):
    outsider = make_user("responder", username="oscar")  # not a member
    admin = make_user("admin", username="root")  # admins see every project
    for user in (viewer, outsider):
        with pytest.raises(DomainError) as caught:
            workflow.assign_issue(issue.pk, assignee=user, by=responder)
        assert "assignee" in caught.value.details
    workflow.assign_issue(issue.pk, assignee=admin, by=responder)
    assert Issue.objects.get(pk=issue.pk).assignee == admin
    # Ordered by username; the viewer and the non-member are not offered.
    assert list(workflow.assignable_users(issue.project)) == [responder, admin]


def test_a_comment_needs_text(issue, responder):
    with pytest.raises(DomainError):
        workflow.add_issue_comment(issue.pk, body="   ", by=responder)
    comment = workflow.add_issue_comment(issue.pk, body="  Looks like the Safari build. ", by=responder)
    assert (comment.body, comment.author, comment.issue_id) == ("Looks like the Safari build.", responder, issue.pk)


def test_open_incident_for_the_issue_links_both_ways(issue, responder):
    defaults = workflow.incident_defaults(issue)
    assert defaults["title"] == "Errors in checkout: ValueError: bad quantity"
    assert defaults["severity"] == workflow.INCIDENT_SEVERITY[issue.severity]
    incident, opened = workflow.open_issue_incident(issue.pk, by=responder, **defaults)
    assert opened and incident.service == "checkout" and incident.created_by == responder
    assert incident.title == defaults["title"] and incident.severity == defaults["severity"]
    link = IssueIncident.objects.get(issue=issue)
    assert link.incident == incident and link.resolve_issue_with_incident and link.rule is None
    signal = IncidentSignal.objects.get(incident=incident)
    assert (signal.kind, signal.ref, signal.url) == (SignalKind.ISSUE, str(issue.pk), f"/issues/{issue.pk}/")
    assert issue.activity.filter(kind=IssueActivity.Kind.INCIDENT, note=incident.title).count() == 1
    # Again: the same incident, no second link or activity entry.
    again, opened = workflow.open_issue_incident(issue.pk, by=responder, title="x", severity="SEV2")
    assert again == incident and not opened
    assert IssueIncident.objects.filter(issue=issue).count() == 1
    assert issue.activity.filter(kind=IssueActivity.Kind.INCIDENT).count() == 1


def test_open_incident_joins_the_services_open_incident(issue, responder):
    running = make_incident(by=responder, title="Checkout is slow", service="checkout")
    incident, opened = workflow.open_issue_incident(issue.pk, by=responder, title="Errors", severity="SEV4")
    assert incident == running and not opened
    assert Incident.objects.count() == 1
    assert IssueIncident.objects.get(issue=issue).incident == running


def test_open_incident_refuses_an_unknown_severity(issue, responder):
    with pytest.raises(DomainError):
        workflow.open_issue_incident(issue.pk, by=responder, title="x", severity="SEV9")
    assert Incident.objects.count() == 0


# --- views: assignee -------------------------------------------------------------------------------


def test_assign_to_me_with_htmx_returns_the_summary_fragment(issue, responder):
    client = logged_in(responder)
    html = client.get(f"/issues/{issue.pk}/").content.decode()
    assert "Assign to me" in html and 'id="issue-assignee"' in html
    response = client.post(f"/issues/{issue.pk}/assign/", {"assignee": responder.pk}, **HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<div id="issue-summary"') and "<html" not in fragment
    assert "<strong>rita</strong> assigned the issue to <strong>rita</strong>" in " ".join(fragment.split())
    assert "Assign to me" not in fragment and ">Unassign<" in fragment
    assert "Issue assigned to you." in response["HX-Trigger"]
    assert Issue.objects.get(pk=issue.pk).assignee == responder


def test_assign_someone_else_and_unassign_without_htmx(issue, responder, admin_user):
    client = logged_in(responder)
    response = client.post(f"/issues/{issue.pk}/assign/", {"assignee": admin_user.pk})
    assert response.status_code == 302 and response["Location"] == f"/issues/{issue.pk}/"
    assert Issue.objects.get(pk=issue.pk).assignee == admin_user
    html = client.get(response["Location"]).content.decode()
    assert "Issue assigned to ada." in html
    client.post(f"/issues/{issue.pk}/assign/", {"assignee": ""})
    assert Issue.objects.get(pk=issue.pk).assignee is None


def test_assigning_someone_outside_the_project_is_refused(issue, responder):
    outsider = make_user("responder", username="oscar")
    response = logged_in(responder).post(f"/issues/{issue.pk}/assign/", {"assignee": outsider.pk}, **HTMX)
    assert response.status_code == 200 and "Choose a responder or admin of this project." in response.content.decode()
    assert Issue.objects.get(pk=issue.pk).assignee is None


def test_viewers_cannot_assign_and_see_no_assign_form(issue, viewer):
    client = logged_in(viewer)
    html = client.get(f"/issues/{issue.pk}/").content.decode()
    assert "Assign to me" not in html and "Open incident" not in html and "Add comment" not in html
    assert client.post(f"/issues/{issue.pk}/assign/", {"assignee": viewer.pk}).status_code == 403
    assert Issue.objects.get(pk=issue.pk).assignee is None


def test_workflow_endpoints_send_anonymous_users_to_login_and_refuse_get(issue, responder):
    for action in ("assign", "comments", "incident"):
        response = Client().post(f"/issues/{issue.pk}/{action}/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        assert logged_in(responder).get(f"/issues/{issue.pk}/{action}/").status_code == 405


def test_workflow_endpoints_hide_other_projects_issues(issue):
    outsider = make_user("responder", username="oscar")
    client = logged_in(outsider)
    assert client.post(f"/issues/{issue.pk}/assign/", {"assignee": outsider.pk}).status_code == 404
    assert client.post(f"/issues/{issue.pk}/comments/", {"body": "hi"}).status_code == 404
    assert client.post(f"/issues/{issue.pk}/incident/", {"title": "x", "severity": "SEV3"}).status_code == 404
    assert not IssueComment.objects.exists() and not Incident.objects.exists()


# --- views: comments -------------------------------------------------------------------------------


def test_comment_with_htmx_returns_the_thread_escaped(issue, responder, viewer):
    client = logged_in(responder)
    body = "Repro: <script>alert('x')</script>\nsecond line"
    response = client.post(f"/issues/{issue.pk}/comments/", {"body": body}, **HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<section class="card" aria-labelledby="comments-h" id="comments">')
    assert "<html" not in fragment and "<script>alert" not in fragment
    assert "Repro: &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>second line" in fragment
    assert "<strong>rita</strong>" in fragment
    # Viewers read the thread, without the form.
    html = logged_in(viewer).get(f"/issues/{issue.pk}/").content.decode()
    assert "second line" in html and "Add comment" not in html
    assert logged_in(viewer).post(f"/issues/{issue.pk}/comments/", {"body": "me too"}).status_code == 403
    assert IssueComment.objects.count() == 1


def test_an_empty_comment_shows_the_error_inline(issue, responder):
    response = logged_in(responder).post(f"/issues/{issue.pk}/comments/", {"body": ""}, **HTMX)
    html = response.content.decode()
    assert "Write something first." in html and "field-errors" in html
    assert not IssueComment.objects.exists()
    response = logged_in(responder).post(f"/issues/{issue.pk}/comments/", {"body": "Fixed in 2.1"})
    assert response.status_code == 302 and response["Location"] == f"/issues/{issue.pk}/#comments"


# --- views: open incident --------------------------------------------------------------------------


def test_the_incident_form_proposes_title_and_severity(issue, responder):
    html = logged_in(responder).get(f"/issues/{issue.pk}/").content.decode()
    assert 'value="Errors in checkout: ValueError: bad quantity"' in html
    severity = workflow.INCIDENT_SEVERITY[issue.severity]
    assert f'<option value="{severity}" selected>' in html
    assert '<button type="submit" class="primary">Open incident</button>' in html


def test_open_incident_with_htmx_links_it_on_the_issue(issue, responder):
    client = logged_in(responder)
    data = {
        "title": "Checkout broken",
        "severity": "SEV2",
        "summary": "Carts fail",
        "resolve_issue_with_incident": "on",
    }
    response = client.post(f"/issues/{issue.pk}/incident/", data, **HTMX)
    fragment = response.content.decode()
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.summary, incident.service) == (
        "Checkout broken",
        "SEV2",
        "Carts fail",
        "checkout",
    )
    assert fragment.lstrip().startswith('<div id="issue-summary"')
    assert f'href="/incidents/{incident.pk}/"' in fragment and "Checkout broken" in fragment
    assert "Opened incident" in response["HX-Trigger"]
    assert IssueIncident.objects.get(issue=issue).resolve_issue_with_incident is True


def test_invalid_incident_form_shows_errors(issue, responder):
    client = logged_in(responder)
    response = client.post(f"/issues/{issue.pk}/incident/", {"title": "", "severity": "SEV9"}, **HTMX)
    html = response.content.decode()
    assert "This field is required." in html and "Select a valid choice" in html
    assert '<details id="open-incident" open>' in html
    response = client.post(f"/issues/{issue.pk}/incident/", {"title": "", "severity": "SEV3"})
    assert response.status_code == 400 and "<html" in response.content.decode()
    assert not Incident.objects.exists()


def test_viewers_cannot_open_incidents(issue, viewer):
    response = logged_in(viewer).post(f"/issues/{issue.pk}/incident/", {"title": "x", "severity": "SEV3"})
    assert response.status_code == 403 and not Incident.objects.exists()
