"""Issue and project pages: full page, HTMX fragments, role checks, visibility, no-JS fallbacks."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from events import digestion, ingest, lifecycle
from events.keys import create_project
from events.models import Issue, IssueActivity, IssueStatus, ProjectKey
from tests import helpers
from tests.factories import in_app_frame, make_cart_error, make_event, make_user

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_issues(project, *events) -> list[Issue]:
    """Ingest ``events`` now; the project's issues, oldest first."""
    helpers.ingest(project, *events, now=timezone.now())
    return list(Issue.objects.filter(project=project).order_by("pk"))


@pytest.fixture
def issues(project, viewer, responder):
    project.members.add(viewer, responder)
    made = make_issues(
        project,
        make_cart_error(
            "ValueError",
            "bad quantity",
            minutes_ago=5,
            release="1.0",
            user_id="u1",
            data={"tags": {"browser": "Firefox"}},
        ),
        make_cart_error(
            "ValueError",
            "bad quantity",
            minutes_ago=60,
            release="0.9",
            user_id="u1",
            data={"tags": {"browser": "Chrome"}},
        ),
        make_cart_error(
            "KeyError",
            "<script>alert('x')</script>",
            minutes_ago=5,
            service="api",
            release="1.0",
            user_id="u1",
            frames=[in_app_frame("shop.api", "show", filename="shop/api.py", lineno=7)],
        ),
        make_cart_error(
            "ZeroDivisionError",
            "division by zero",
            minutes_ago=600,
            release="1.0",
            user_id="u1",
            frames=[{"module": "shop.reports", "function": "rate", "filename": "shop/reports.py", "lineno": 3}],
        ),
    )
    assert len(made) == 3
    return {issue.title.split(":")[0]: issue for issue in made}


def test_anonymous_users_are_sent_to_login():
    for url in ["/issues/", "/issues/1/", "/issues/projects/", "/issues/projects/1/"]:
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_list_page_and_its_table_fragment(viewer, issues):
    client = logged_in(viewer)
    page = client.get("/issues/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="issue-filters"' in html and "<html" in html
    assert "ValueError: bad quantity" in html and "shop.cart in add_item" in html
    assert "<script>alert('x')</script>" not in html and "&lt;script&gt;" in html
    assert 'Unresolved <span class="count">3</span>' in html
    fragment = client.get("/issues/?q=division", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="issue-table"')
    assert "<html" not in fragment
    assert "ZeroDivisionError" in fragment and "ValueError" not in fragment


def test_list_tabs_search_project_and_sort(viewer, responder, issues, project):
    lifecycle.set_issue_status(issues["KeyError"].pk, status=IssueStatus.RESOLVED, by=responder)
    client = logged_in(viewer)
    html = client.get("/issues/").content.decode()
    assert "KeyError" not in html
    html = client.get("/issues/?status=resolved").content.decode()
    assert "KeyError" in html and "ValueError" not in html
    html = client.get("/issues/?status=all").content.decode()
    assert "KeyError" in html and "ValueError" in html
    html = client.get("/issues/?q=shop.reports").content.decode()  # culprit search
    assert "ZeroDivisionError" in html and "ValueError" not in html
    html = client.get(f"/issues/?project={project.pk}&sort=events").content.decode()
    assert html.index("ValueError") < html.index("ZeroDivisionError")
    html = client.get("/issues/?sort=first_seen").content.decode()
    assert html.index("ValueError") < html.index("ZeroDivisionError")
    html = client.get("/issues/?sort=last_seen").content.decode()
    assert html.index("ValueError") < html.index("ZeroDivisionError")


def test_invalid_filters_are_reported_not_ignored(viewer, issues):
    html = logged_in(viewer).get("/issues/?sort=bogus").content.decode()
    assert "Some filters are not valid" in html and "ValueError" not in html


def test_list_shows_only_visible_projects_issues(issues, project):
    outsider = make_user("viewer")
    other = create_project(name="Other", slug="other")
    make_issues(other, make_cart_error("OtherError", "elsewhere", minutes_ago=5))
    client = logged_in(outsider)
    html = client.get("/issues/").content.decode()
    assert "ValueError" not in html and "OtherError" not in html and "No projects yet" in html
    other.members.add(outsider)
    html = client.get("/issues/").content.decode()
    assert "OtherError" in html and "ValueError" not in html and "Shop</option>" not in html
    # A project the user cannot see is an invalid choice, not a way in.
    html = client.get(f"/issues/?project={project.pk}").content.decode()
    assert "Some filters are not valid" in html and "ValueError" not in html
    assert client.get(f"/issues/{issues['ValueError'].pk}/").status_code == 404


def test_admins_see_every_project(admin_user, issues):
    html = logged_in(admin_user).get("/issues/").content.decode()
    assert "ValueError" in html


def test_empty_state_is_honest(viewer, project):
    project.members.add(viewer)
    html = logged_in(viewer).get("/issues/").content.decode()
    assert "No unresolved issues" in html


def test_detail_shows_stack_trace_breakdown_and_events(viewer, issues):
    issue = issues["ValueError"]
    html = logged_in(viewer).get(f"/issues/{issue.pk}/").content.decode()
    assert "<h1" in html and "ValueError: bad quantity" in html
    assert 'class="frame in-app"' in html and "qty = int(raw)" in html and "shop/cart.py:42" in html
    # Newest frame first.
    assert html.index("add_item") < html.index("get_response")
    assert "0.9" in html and "Firefox" in html and "Chrome" in html and "production" in html
    assert "Recent events" in html and html.count('<tr title="') == 2
    assert "First seen" in html
    # Viewers see no buttons.
    assert "Your role can read this issue" in html and ">Resolve<" not in html


def test_detail_escapes_event_text(viewer, issues):
    html = logged_in(viewer).get(f"/issues/{issues['KeyError'].pk}/").content.decode()
    assert "<script>alert('x')</script>" not in html and "&lt;script&gt;" in html


def test_detail_of_unknown_issue_is_404(viewer):
    assert logged_in(viewer).get("/issues/999999/").status_code == 404


def test_viewer_cannot_change_status(viewer, issues):
    response = logged_in(viewer).post(f"/issues/{issues['ValueError'].pk}/status/", {"status": "resolved"})
    assert response.status_code == 403
    assert Issue.objects.get(pk=issues["ValueError"].pk).status == IssueStatus.UNRESOLVED


def test_responder_resolves_with_htmx_and_gets_the_fragment(responder, issues):
    issue = issues["ValueError"]
    client = logged_in(responder)
    html = client.get(f"/issues/{issue.pk}/").content.decode()
    assert ">Resolve<" in html and ">Ignore<" in html and ">Unresolve<" not in html
    response = client.post(f"/issues/{issue.pk}/status/", {"status": "resolved"}, **HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<div id="issue-summary"') and "<html" not in fragment
    assert 'id="issue-status">Resolved<' in fragment and ">Unresolve<" in fragment
    assert "Issue resolved." in response["HX-Trigger"]
    issue.refresh_from_db()
    assert issue.status == IssueStatus.RESOLVED and issue.resolved_by == responder
    assert IssueActivity.objects.filter(issue=issue, kind="resolved", actor=responder).exists()


def test_status_change_without_js_redirects_with_a_message(responder, issues):
    issue = issues["ValueError"]
    client = logged_in(responder)
    response = client.post(f"/issues/{issue.pk}/status/", {"status": "ignored"})
    assert response.status_code == 302 and response["Location"] == f"/issues/{issue.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert "Issue ignored." in html and 'id="issue-status">Ignored<' in html
    assert "rita</strong> ignored the issue" in html
    response = client.post(f"/issues/{issue.pk}/status/", {"status": "bogus"})
    assert "Unknown status." in client.get(response["Location"]).content.decode()


def test_status_is_post_only_and_hidden_issues_404(responder, issues):
    client = logged_in(responder)
    assert client.get(f"/issues/{issues['ValueError'].pk}/status/").status_code == 405
    other = create_project(name="Other", slug="other")
    hidden = make_issues(other, make_cart_error("HiddenError", "boom", minutes_ago=5))[0]
    assert client.post(f"/issues/{hidden.pk}/status/", {"status": "resolved"}).status_code == 404
    assert Issue.objects.get(pk=hidden.pk).status == IssueStatus.UNRESOLVED


def test_an_issue_deleted_while_its_status_changes_is_not_found(responder, issues, monkeypatch):
    issue = issues["ValueError"]
    change = lifecycle.set_issue_status

    def delete_first(issue_id, **kwargs):
        Issue.objects.filter(pk=issue_id).delete()
        return change(issue_id, **kwargs)

    monkeypatch.setattr(lifecycle, "set_issue_status", delete_first)
    assert logged_in(responder).post(f"/issues/{issue.pk}/status/", {"status": "resolved"}).status_code == 404


def test_regression_and_deploy_resolution_are_shown(responder, issues, project):
    issue = issues["ValueError"]
    lifecycle.set_issue_status(
        issue.pk, status=IssueStatus.RESOLVED, by=responder, now=timezone.now() - timedelta(minutes=5)
    )
    make_issues(project, make_cart_error("ValueError", "bad quantity", minutes_ago=1))
    client = logged_in(responder)
    html = client.get("/issues/").content.decode()
    assert "Regressed" in html
    html = client.get(f"/issues/{issue.pk}/").content.decode()
    assert "Regressed" in html and "seen again after it was resolved" in html
    deploy = ingest.store_events(
        project,
        [make_event(event_type="DEPLOY", service="checkout", at=timezone.now(), release="2.0")],
    )
    digestion.sweep_undigested(older_than_seconds=0)
    marker = project.events.get(event_id=deploy[0])
    Issue.objects.filter(pk=issue.pk).update(status=IssueStatus.RESOLVED, resolved_by_deploy=marker)
    html = client.get(f"/issues/{issue.pk}/").content.decode()
    assert "by the deploy of <b>checkout</b> release <b>2.0</b>" in html


# --- projects ---------------------------------------------------------------------------


def test_project_list_shows_only_visible_projects(viewer, project):
    create_project(name="Secret", slug="secret")
    client = logged_in(viewer)
    html = client.get("/issues/projects/").content.decode()
    assert "Secret" not in html and "Shop" not in html and "not a member" in html
    project.members.add(viewer)
    html = client.get("/issues/projects/").content.decode()
    assert "Shop" in html and "Secret" not in html and "New project" not in html
    assert client.get(f"/issues/projects/{project.pk}/").status_code == 200
    secret = create_project(name="Secret 2", slug="secret-2")
    assert client.get(f"/issues/projects/{secret.pk}/").status_code == 404


def test_project_page_shows_dsn_and_snippets(viewer, project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "BASE_URL": "https://tp.example.com"}
    project.members.add(viewer)
    html = logged_in(viewer).get(f"/issues/projects/{project.pk}/").content.decode()
    dsn = f"https://{project_key}@tp.example.com/{project.pk}"
    assert dsn in html
    assert f"sentry_sdk.init(dsn=&quot;{dsn}&quot;)" in html
    assert f"Sentry.init({{ dsn: &quot;{dsn}&quot; }})" in html
    assert "curl -X POST https://tp.example.com/api/v1/events" in html and f"X-Project-Key: {project_key}" in html
    # Viewers cannot manage keys.
    assert "Revoke" not in html and "Rotate" not in html


def test_dsns_name_the_ingest_service_when_it_has_its_own_address(viewer, project, project_key, settings):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "BASE_URL": "https://tp.example.com",
        "INGEST_BASE_URL": "https://ingest.example.com:8443",
    }
    project.members.add(viewer)
    client = logged_in(viewer)
    html = client.get(f"/issues/projects/{project.pk}/").content.decode()
    dsn = f"https://{project_key}@ingest.example.com:8443/{project.pk}"
    assert f"sentry_sdk.init(dsn=&quot;{dsn}&quot;)" in html
    assert "curl -X POST https://tp.example.com/api/v1/events" in html  # the native API stays on the web
    assert client.get(f"/api/v1/projects/{project.pk}").json()["dsn"] == dsn


def test_admin_rotates_and_revokes_keys(admin_user, project, project_key):
    client = logged_in(admin_user)
    html = client.get(f"/issues/projects/{project.pk}/").content.decode()
    assert "Rotate" in html and "Revoke" in html
    response = client.post(f"/issues/projects/{project.pk}/keys/rotate/", **HTMX)
    assert response.status_code == 200 and response.content.decode().lstrip().startswith('<div id="project-settings"')
    new = project.active_key()
    assert new.public_key != project_key and new.public_key in response.content.decode()
    old = ProjectKey.objects.get(public_key=project_key)
    response = client.post(f"/issues/projects/{project.pk}/keys/{old.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == f"/issues/projects/{project.pk}/"
    old.refresh_from_db()
    assert not old.is_active and old.revoked_at is not None
    assert "revoked" in client.get(response["Location"]).content.decode()


def test_key_actions_are_admin_only_and_post_only(responder, admin_user, project):
    project.members.add(responder)
    key = project.active_key()
    client = logged_in(responder)
    assert client.post(f"/issues/projects/{project.pk}/keys/rotate/").status_code == 403
    assert client.post(f"/issues/projects/{project.pk}/keys/{key.pk}/revoke/").status_code == 403
    assert logged_in(admin_user).get(f"/issues/projects/{project.pk}/keys/rotate/").status_code == 405
    assert project.keys.count() == 1 and project.active_key() == key


def test_admin_creates_a_project(admin_user):
    client = logged_in(admin_user)
    assert "New project" in client.get("/issues/projects/").content.decode()
    response = client.post("/issues/projects/new/", {"name": "Web shop", "slug": "web-shop", "services": "web, API"})
    assert response.status_code == 302
    from events.models import Project

    project = Project.objects.get(slug="web-shop")
    assert project.services == ["web", "api"] and project.active_key() is not None
    assert response["Location"] == f"/issues/projects/{project.pk}/"
    # Duplicate slug: inline error, in the fragment for htmx, as a 400 page without.
    response = client.post("/issues/projects/new/", {"name": "Again", "slug": "web-shop"}, **HTMX)
    assert response.status_code == 200 and "exists already" in response.content.decode()
    assert response.content.decode().lstrip().startswith('<form id="project-form"')
    response = client.post("/issues/projects/new/", {"name": "Bad", "slug": "bad", "services": "Not Valid"})
    assert response.status_code == 400 and "Use lowercase letters" in response.content.decode()


def test_only_admins_create_projects(responder):
    client = logged_in(responder)
    assert client.post("/issues/projects/new/", {"name": "X", "slug": "x"}).status_code == 403
    assert logged_in(responder).get("/issues/projects/new/").status_code == 403
