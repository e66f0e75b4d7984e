"""``GET /api/v1/events``: events of visible projects, filters, newest first, cursor paging."""

from datetime import UTC, datetime, timedelta

import pytest

from events import ingest, keys
from events.models import Event
from tests.factories import make_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "/api/v1/events"


@pytest.fixture
def events(project, viewer):
    project.members.add(viewer)
    ingest.store_events(
        project,
        [
            make_event("first", at=T0, message="first"),
            make_event("second", at=T0 + timedelta(minutes=1), service="api", message="second"),
            make_event(at=T0 + timedelta(minutes=2), event_type="DEPLOY", message="third"),
            make_event("fourth", at=T0 + timedelta(minutes=3), message="fourth"),
        ],
        now=T0,
    )
    other = keys.create_project(name="Internal", slug="internal")
    ingest.store_events(other, [make_event("secret", at=T0, service="hr", message="secret")], now=T0)


def messages(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["message"] for row in response.json()["results"]]


def test_anonymous_is_401(anonymous_client, events):
    assert anonymous_client.get(URL).status_code == 401


def test_members_see_their_events_newest_first(viewer_client, events):
    assert messages(viewer_client.get(URL)) == ["fourth", "third", "second", "first"]


def test_admins_see_all_events(admin_client, events):
    assert "secret" in messages(admin_client.get(URL))


def test_a_user_who_is_no_member_sees_nothing(responder_client, events):
    assert messages(responder_client.get(URL)) == []
    pk = Event.objects.get(message="first").pk
    assert responder_client.get(f"{URL}/{pk}").status_code == 404


def test_detail(viewer_client, events, project):
    event = Event.objects.get(message="second")
    body = viewer_client.get(f"{URL}/{event.pk}").json()
    assert body["event_id"] == str(event.event_id)
    assert (body["project"], body["service"], body["event_type"]) == (project.pk, "api", "ERROR")
    assert body["timestamp"] == "2026-03-01T12:01:00Z"
    assert viewer_client.get(f"{URL}/{Event.objects.get(message='secret').pk}").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=api", ["second"]),
        ("event_type=DEPLOY", ["third"]),
        ("since=2026-03-01T12:01:00Z", ["fourth", "third", "second"]),
        ("until=2026-03-01T12:01:00Z", ["first"]),
        ("since=2026-03-01T12:01:00Z&until=2026-03-01T12:03:00Z&event_type=ERROR", ["second"]),
    ],
)
def test_filters(viewer_client, events, query, expected):
    assert messages(viewer_client.get(f"{URL}?{query}")) == expected


def test_filter_by_project(admin_client, events, project):
    assert len(messages(admin_client.get(f"{URL}?project={project.pk}"))) == 4


def test_cursor_pages_through_everything_once(viewer_client, events):
    seen, url = [], f"{URL}?page_size=3"
    while url:
        body = viewer_client.get(url).json()
        assert body["page_size"] == 3
        seen += [row["message"] for row in body["results"]]
        url = body["next"]
    assert seen == ["fourth", "third", "second", "first"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("event_type=CRASH", "event_type"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("project=x", "project"),
        ("page_size=0", "page_size"),
        ("page_size=abc", "page_size"),
        ("page_size=1000", "page_size"),
    ],
)
def test_bad_query_values_are_400(viewer_client, events, query, field):
    response = viewer_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_a_bad_cursor_is_400(viewer_client, events):
    response = viewer_client.get(f"{URL}?cursor=garbage")
    assert response.status_code == 400
    assert "cursor" in response.json()["details"]


@pytest.mark.parametrize(
    ("method", "path"), [("put", "/{pk}"), ("patch", "/{pk}"), ("delete", "/{pk}"), ("post", "/{pk}")]
)
def test_other_methods_are_405(admin_client, events, method, path):
    pk = Event.objects.first().pk
    response = getattr(admin_client, method)(URL + path.format(pk=pk), {}, format="json")
    assert response.status_code == 405


def test_ingest_still_answers_on_the_same_url(events, project_key, anonymous_client):
    anonymous_client.credentials(HTTP_X_PROJECT_KEY=project_key)
    response = anonymous_client.post(URL, {"service": "checkout", "message": "hi"}, format="json")
    assert response.status_code == 202
