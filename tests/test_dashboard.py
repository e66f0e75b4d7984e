from pathlib import Path

import pytest
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_overview_shows_honest_empty_states(viewer):
    response = _client(viewer).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "No incidents yet.",
        "No error events received yet.",
        "No monitors configured yet.",
        "No status pages yet.",
    ):
        assert text in html


def test_overview_lists_each_status_page_with_what_its_visitors_see_now_the_worst_first(viewer):
    from statuspages.models import Component, ComponentStatus
    from tests.factories import make_page

    make_page(slug="calm", title="#1 all calm")  # sorts first by title: the order below is by status
    stormy = make_page(slug="storm", title="<b>Storm</b> & co", is_public=False)
    Component.objects.create(page=stormy, name="API", status=ComponentStatus.MAJOR)

    html = _client(viewer).get("/").content.decode()
    card = html.split('id="status-page-list"', 1)[1].split("</ul>", 1)[0]
    assert card.index("Storm") < card.index("all calm")  # the worst first
    assert "&lt;b&gt;Storm&lt;/b&gt; &amp; co" in card and "<b>Storm" not in card
    assert 'href="/status-pages/storm/"' in card and "(private)" in card
    assert "sp-indicator-critical" in card and "sp-indicator-none" in card
    assert "No status pages yet." not in html


def test_navigation_links_every_section_and_marks_the_current_one(viewer):
    html = _client(viewer).get("/monitors/").content.decode()
    for href in ('href="/"', 'href="/incidents/"', 'href="/issues/"', 'href="/monitors/"', 'href="/status-pages/"'):
        assert href in html
    assert '<a href="/monitors/" aria-current="page">Monitors</a>' in html
    assert 'href="/admin/"' not in html


def test_admins_see_the_admin_link(admin_user):
    assert 'href="/admin/"' in _client(admin_user).get("/").content.decode()


def test_htmx_is_served_locally_with_the_csrf_header(viewer):
    html = _client(viewer).get("/").content.decode()
    assert 'src="/static/django_htmx/htmx-2.min.js"' in html
    assert 'hx-headers=\'{"x-csrftoken": "' in html
    assert "cdn" not in html.lower()


def test_sections_have_empty_states(viewer):
    client = _client(viewer)
    for path, text in (
        ("/incidents/", "No incidents yet."),
        ("/issues/", "No projects yet, so no errors can arrive."),
        ("/monitors/", "No monitors yet."),
        ("/status-pages/", "No status pages yet."),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert text in response.content.decode()


def test_a_user_without_a_role_is_refused(db):
    response = _client(make_user()).get("/")
    assert response.status_code == 403
    assert b"Permission denied" in response.content


def test_stylesheet_has_light_and_dark_themes(viewer):
    from django.contrib.staticfiles import finders

    css = Path(finders.find("css/tracepoint.css")).read_text()
    assert "@media (prefers-color-scheme: dark)" in css


def test_api_docs_and_schema_render(viewer):
    client = _client(viewer)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/auth/token/" in schema.json()["paths"]


def test_django_admin_is_for_admins_only(viewer, admin_user):
    assert _client(viewer).get("/admin/").status_code == 302
    assert _client(admin_user).get("/admin/").status_code == 200


@pytest.mark.urls("tests.urls")
def test_an_unexpected_page_error_is_a_plain_500_page(viewer):
    client = _client(viewer)
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"page failure" not in response.content


def test_the_openapi_schema_is_valid_and_warning_free(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "tokenAuth" in text
    assert "/api/v1/incidents/{id}/timeline" in text


def test_overview_counts_unresolved_issues_of_the_users_projects_only(viewer):
    import uuid

    from django.utils import timezone

    from events import digestion, ingest, keys
    from events.ingest import NewEvent

    mine = keys.create_project(name="Mine", slug="mine")
    theirs = keys.create_project(name="Theirs", slug="theirs")
    mine.members.add(viewer)
    for project, title in ((mine, "Visible boom"), (theirs, "Hidden boom")):
        ingest.store_events(
            project,
            [
                NewEvent(
                    event_id=uuid.uuid4(),
                    event_type="ERROR",
                    service="api",
                    timestamp=timezone.now(),
                    data={"exception": [{"type": "ValueError", "value": title, "stacktrace": {"frames": []}}]},
                )
            ],
        )
    digestion.sweep_undigested(older_than_seconds=0)
    html = _client(viewer).get("/").content.decode()
    assert 'id="issue-counts"' in html
    assert "Visible boom" in html and "Hidden boom" not in html
    assert '<span class="value">1</span><span class="label">unresolved</span>' in html
