"""``/api/v1/projects``: the ingest rate (admins set it), the spike guard and dropped events (everyone reads)."""

import pytest
from django.conf import settings

from events import keys, quota
from events.models import Project

URL = "/api/v1/projects"


def test_a_project_follows_the_default_rate_until_an_admin_sets_its_own(admin_client, project, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_PER_MINUTE": 600, "PROJECT_EVENTS_BURST_PERCENT": 50}
    body = admin_client.get(f"{URL}/{project.pk}").json()
    assert body["events_per_minute"] is None
    assert (body["effective_events_per_minute"], body["events_burst_limit"], body["dropped_events"]) == (600, 300, 0)

    response = admin_client.patch(f"{URL}/{project.pk}", {"events_per_minute": 120}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["events_per_minute"], body["effective_events_per_minute"], body["events_burst_limit"]) == (
        120,
        120,
        60,
    )
    assert Project.objects.get(pk=project.pk).events_per_minute == 120

    response = admin_client.patch(f"{URL}/{project.pk}", {"events_per_minute": None}, format="json")
    assert (response.json()["events_per_minute"], response.json()["effective_events_per_minute"]) == (None, 600)


def test_a_project_created_with_a_rate_keeps_it(admin_client):
    response = admin_client.post(URL, {"name": "Web", "slug": "web", "events_per_minute": 30}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["events_per_minute"] == 30
    assert Project.objects.get(slug="web").events_per_minute == 30


@pytest.mark.parametrize("bad", [0, -5, 1_000_001, "many", 2.5, True])
def test_the_rate_is_a_positive_whole_number_within_bounds(admin_client, project, bad):
    response = admin_client.patch(f"{URL}/{project.pk}", {"events_per_minute": bad}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "events_per_minute" in body["details"]
    assert Project.objects.get(pk=project.pk).events_per_minute is None


def test_the_bounds_are_accepted(admin_client, project):
    for rate in (1, 1_000_000):
        assert admin_client.patch(f"{URL}/{project.pk}", {"events_per_minute": rate}, format="json").status_code == 200


@pytest.mark.parametrize("role, status", [("anonymous", 401), ("viewer", 403), ("responder", 403)])
def test_only_admins_set_the_rate(role_clients, project, viewer, responder, role, status):
    project.members.add(viewer, responder)
    response = role_clients[role].patch(f"{URL}/{project.pk}", {"events_per_minute": 5}, format="json")
    assert response.status_code == status
    assert Project.objects.get(pk=project.pk).events_per_minute is None


def test_members_read_the_quota_and_dropped_events_are_read_only(admin_client, viewer_client, project, viewer):
    project.members.add(viewer)
    Project.objects.filter(pk=project.pk).update(dropped_event_count=7)
    body = viewer_client.get(URL).json()["results"][0]
    assert body["dropped_events"] == 7
    response = admin_client.patch(
        f"{URL}/{project.pk}", {"dropped_events": 0, "effective_events_per_minute": 3}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["dropped_events"], response.json()["events_per_minute"]) == (7, None)


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")
def test_dropped_events_include_those_waiting_in_redis(admin_client, project):
    Project.objects.filter(pk=project.pk).update(dropped_event_count=7)
    other = keys.create_project(name="Blog", slug="blog")
    quota.set_events_per_minute(project, 1)
    assert quota.check(project).allowed
    assert not quota.check(project, 2).allowed
    results = {row["slug"]: row["dropped_events"] for row in admin_client.get(URL).json()["results"]}
    assert results == {"shop": 9, "blog": 0}
    assert other.dropped_event_count == 0


def test_a_new_rate_applies_to_ingest_at_once_in_this_process(admin_client, project, project_key):
    keys.authenticate_key(project_key)  # remembered, with its project
    assert admin_client.patch(f"{URL}/{project.pk}", {"events_per_minute": 1}, format="json").status_code == 200
    remembered = keys.authenticate_key(project_key).project
    assert remembered.event_rate() == 1
