"""The incidents live stream: every change is one message to every open incidents page (Redis + ASGI)."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from incidents import services
from tests.factories import make_incident, make_user
from tests.helpers import SSEReader

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the live stream needs Redis; set REDIS_URL")


def session_cookie(client, user) -> dict:
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_new_incidents_transitions_and_comments_reach_open_pages(asgi_server, client):
    responder = make_user("responder")
    cookies = session_cookie(client, make_user("viewer"))
    response = requests.get(f"{asgi_server}/incidents/live/", cookies=cookies, stream=True, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    reader = SSEReader(response)
    try:
        incident = make_incident(by=responder, title="Disk full", severity="SEV2")
        first = reader.next_event()
        assert first["event"] == "incident"
        assert first["data"]["id"] == str(incident.pk) and first["data"]["status"] == "OPEN"
        services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=responder)
        assert reader.next_event()["data"]["status"] == "ACKNOWLEDGED"
        services.add_comment(incident.pk, body="Cleaning up old logs", by=responder)
        assert reader.next_event()["data"]["id"] == str(incident.pk)
    finally:
        response.close()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_the_stream_is_for_users_with_a_role(asgi_server, client):
    url = f"{asgi_server}/incidents/live/"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, cookies=session_cookie(client, make_user(None)), timeout=10).status_code == 403
    viewer_cookies = session_cookie(client, make_user("viewer"))
    assert requests.post(url, cookies=viewer_cookies, timeout=10).status_code == 405


@needs_redis
def test_with_a_stream_service_the_incident_pages_listen_to_it(client, db, settings):
    client.force_login(make_user("viewer"))
    incident = make_incident()
    assert "sse-connect" not in client.get("/incidents/").content.decode()
    settings.TRACEPOINT = {**settings.TRACEPOINT, "STREAM_BASE_URL": "same-origin"}
    listing = client.get("/incidents/").content.decode()
    assert 'sse-connect="/incidents/live/"' in listing and "sse:incident" in listing
    detail = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'sse-connect="/incidents/live/"' in detail and "?part=summary" in detail
    part = client.get(f"/incidents/{incident.pk}/?part=summary", HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith('<div id="incident-summary"') and "<html" not in part and "comment-form" not in part
