"""Incident detail is cached, invalidated by every write, and a broken cache never fails a request."""

import pytest
from django.test import override_settings

from incidents import cache as incident_cache
from incidents.models import Incident
from tests.factories import make_incident

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents"


def test_detail_is_served_from_the_cache(viewer_client, responder, django_assert_num_queries):
    incident = make_incident(by=responder)
    viewer_client.get(f"{URL}/{incident.pk}")
    Incident.objects.filter(pk=incident.pk).update(title="changed behind the cache's back")
    assert viewer_client.get(f"{URL}/{incident.pk}").json()["title"] == "Checkout errors"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "", {"title": "Renamed"}),
        ("patch", "/status", {"status": "ACKNOWLEDGED"}),
        ("post", "/comments", {"body": "note"}),
    ],
)
def test_every_write_invalidates_the_cached_detail(
    viewer_client, responder_client, responder, django_capture_on_commit_callbacks, method, path, body
):
    incident = make_incident(by=responder)
    before = viewer_client.get(f"{URL}/{incident.pk}").json()
    with django_capture_on_commit_callbacks(execute=True):
        assert getattr(responder_client, method)(f"{URL}/{incident.pk}{path}", body, format="json").status_code < 300
    after = viewer_client.get(f"{URL}/{incident.pk}").json()
    assert after["updated_at"] != before["updated_at"]
    if "title" in body:
        assert after["title"] == "Renamed"


def test_delete_invalidates_so_the_detail_is_gone(
    viewer_client, admin_client, responder, django_capture_on_commit_callbacks
):
    incident = make_incident(by=responder)
    assert viewer_client.get(f"{URL}/{incident.pk}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.delete(f"{URL}/{incident.pk}")
    assert viewer_client.get(f"{URL}/{incident.pk}").status_code == 404


def test_a_reader_racing_a_writer_cannot_leave_a_stale_detail(responder):
    incident = make_incident(by=responder)
    # A reader loads the row, then a write commits and invalidates, then the
    # slow reader stores what it loaded: later readers must not see it.
    stale = {"title": "stale"}
    key_version_before = incident_cache._version(incident.pk)
    incident_cache.invalidate(incident.pk)
    from django.core.cache import cache

    cache.set(f"incident:{incident.pk}:detail:v{key_version_before}", stale)
    assert incident_cache.get_or_set(incident.pk, lambda: {"title": "fresh"}) == {"title": "fresh"}


UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def test_an_unreachable_cache_never_fails_a_request(viewer_client, responder_client, responder, caplog):
    incident = make_incident(by=responder)
    with override_settings(CACHES=UNREACHABLE_REDIS):
        assert viewer_client.get(f"{URL}/{incident.pk}").status_code == 200
        response = responder_client.patch(f"{URL}/{incident.pk}", {"title": "Still works"}, format="json")
        assert response.status_code == 200
        assert viewer_client.get(f"{URL}/{incident.pk}").json()["title"] == "Still works"
    assert "incident cache unavailable" in caplog.text


def test_caching_can_be_switched_off(viewer_client, responder, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INCIDENT_CACHE_SECONDS": 0}
    incident = make_incident(by=responder)
    viewer_client.get(f"{URL}/{incident.pk}")
    Incident.objects.filter(pk=incident.pk).update(title="direct")
    assert viewer_client.get(f"{URL}/{incident.pk}").json()["title"] == "direct"
