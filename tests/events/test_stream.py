"""The live stream: SSE over a real ASGI server (uvicorn), fanned out through Redis, resumable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings

from events import digestion, ingest, keys, lifecycle, stream
from events.models import Issue, IssueStatus
from tests.factories import make_event, make_token
from tests.helpers import SSEReader
from tracepoint import stream as live_streams

ROOT = Path(__file__).resolve().parents[2]
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the live stream needs Redis; set REDIS_URL")


def open_stream(base: str, project, token: str, *, last_event_id: str | None = None) -> SSEReader:
    headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    response = requests.get(f"{base}/api/v1/projects/{project.pk}/stream", headers=headers, stream=True, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return SSEReader(response)


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_new_events_and_status_changes_arrive_and_a_reconnect_replays_what_was_missed(
    asgi_server, project, viewer, admin_user
):
    project.members.add(viewer)
    token = make_token(viewer)
    reader = open_stream(asgi_server, project, token)

    ingest.store_events(project, [make_event("Order 1 not found"), make_event("Order 2 not found")])
    digestion.digest_pending()
    first = reader.next_event()
    assert first["event"] == "events"
    assert first["data"]["count"] == 2 and first["data"]["project"] == project.pk
    [issue] = first["data"]["issues"]
    assert issue["title"] == "LookupError: Order 1 not found" and issue["new"] is True and issue["event_count"] == 2

    lifecycle.set_issue_status(Issue.objects.get().pk, status=IssueStatus.RESOLVED, by=admin_user)
    change = reader.next_event()
    assert (change["event"], change["data"]["issue"]["status"], change["data"]["by"]) == ("issue", "resolved", "ada")
    reader.response.close()

    # While this client is away, two more changes happen; it comes back with Last-Event-ID.
    lifecycle.set_issue_status(Issue.objects.get().pk, status=IssueStatus.UNRESOLVED, by=admin_user)
    lifecycle.set_issue_status(Issue.objects.get().pk, status=IssueStatus.IGNORED, by=admin_user)
    again = open_stream(asgi_server, project, token, last_event_id=change["id"])
    replayed = [again.next_event(), again.next_event()]
    assert [e["data"]["issue"]["status"] for e in replayed] == ["unresolved", "ignored"]
    assert replayed[0]["id"] > change["id"]
    again.response.close()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_message_published_by_another_process_reaches_the_stream(asgi_server, project, viewer):
    project.members.add(viewer)
    reader = open_stream(asgi_server, project, make_token(viewer))
    script = (
        "import django; django.setup(); from events import stream; "
        f"print(stream.publish({project.pk}, 'events', {{'count': 7, 'issues': []}}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tracepoint.settings", "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    event = reader.next_event()
    assert event["id"] == out.stdout.strip().splitlines()[-1]
    assert event["data"]["count"] == 7
    reader.response.close()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_open_streams_do_not_starve_normal_requests(asgi_server, project, viewer):
    """Forty open streams on one ASGI worker; the API still answers at once."""
    project.members.add(viewer)
    token = make_token(viewer)
    readers = [open_stream(asgi_server, project, token) for _ in range(40)]
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda _: (
                        requests.get(
                            f"{asgi_server}/api/v1/issues", headers={"Authorization": f"Token {token}"}, timeout=10
                        ).status_code
                    ),
                    range(16),
                )
            )
        elapsed = time.monotonic() - started
        assert answers == [200] * 16
        assert elapsed < 5, f"16 API requests took {elapsed:.1f} s beside 40 open streams"
        # And every stream is still live.
        stream.publish(project.pk, "events", {"count": 1, "issues": []})
        assert all(reader.next_event()["data"]["count"] == 1 for reader in readers)
    finally:
        for reader in readers:
            reader.response.close()


@pytest.mark.django_db(transaction=True)
def test_anonymous_is_401_non_members_404_and_writes_405(asgi_server, project, viewer, responder):
    url = f"{asgi_server}/api/v1/projects/{project.pk}/stream"
    assert requests.get(url, timeout=10).status_code == 401
    response = requests.get(url, headers={"Authorization": f"Token {make_token(responder)}"}, timeout=10)
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    response = requests.post(url, headers={"Authorization": f"Token {make_token(viewer)}"}, timeout=10)
    assert response.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_stream_says_so_and_the_page_polls(asgi_server, project, viewer, settings, client):
    settings.REDIS_URL = None
    project.members.add(viewer)
    response = requests.get(
        f"{asgi_server}/api/v1/projects/{project.pk}/stream",
        headers={"Authorization": f"Token {make_token(viewer)}"},
        timeout=10,
    )
    assert response.status_code == 503
    assert response.json()["details"] == {"dependency": "redis"}
    client.force_login(viewer)
    page = client.get("/issues/").content.decode()
    assert 'hx-trigger="every 30s"' in page and "sse-connect" not in page


@needs_redis
def test_with_a_stream_service_the_issues_page_listens_to_it(client, viewer, db, settings):
    client.force_login(viewer)
    assert "sse-connect" not in client.get("/issues/").content.decode()  # none configured: it polls
    settings.TRACEPOINT = {**settings.TRACEPOINT, "STREAM_BASE_URL": "same-origin"}
    page = client.get("/issues/").content.decode()
    assert 'sse-connect="/issues/live/"' in page
    assert "sse:events" in page
    assert "django_htmx/ext/hx-sse-2.min.js" in page


@pytest.mark.parametrize(
    ("header", "ids", "expected"),
    [
        ("1700000000000-0", [3], {3: "1700000000000-0"}),
        ("3:1700000000000-1,4:1700000000001-0", [3, 4], {3: "1700000000000-1", 4: "1700000000001-0"}),
        ("9:1700000000000-0", [3], {}),  # not one of these projects
        ("garbage", [3], {}),
        ("1_0-0", [3], {}),  # int() would take it; a stream id may not
        ("1- 2", [3], {}),
        ("1700000000000-0", [3, 4], {}),  # ambiguous with several projects
        (None, [3], {}),
    ],
)
def test_last_event_id_parsing(header, ids, expected):
    assert live_streams.parse_last_event_id(header, ids) == expected


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_the_page_on_another_origin_may_read_the_stream_with_its_cookies(asgi_server, settings, viewer, client):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "BASE_URL": "http://tracepoint.example.com",
        "STREAM_BASE_URL": asgi_server,
    }
    client.force_login(viewer)
    page = client.get("/issues/").content.decode()
    assert f'sse-connect="{asgi_server}/issues/live/"' in page
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    allowed = requests.get(
        f"{asgi_server}/issues/live/",
        headers={"Origin": "http://tracepoint.example.com"},
        cookies=cookies,
        stream=True,
        timeout=10,
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://tracepoint.example.com"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    allowed.close()
    foreign = requests.get(
        f"{asgi_server}/issues/live/",
        headers={"Origin": "https://evil.example"},
        cookies=cookies,
        stream=True,
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in foreign.headers  # the browser will not hand it to that page
    foreign.close()
    assert requests.get(f"{asgi_server}/issues/live/", timeout=10).status_code == 401


@needs_redis
def test_a_wsgi_server_refuses_streams_so_they_cannot_starve_it(client, viewer, project):
    project.members.add(viewer)
    client.force_login(viewer)
    for url in (f"/api/v1/projects/{project.pk}/stream", "/issues/live/"):
        response = client.get(url)
        assert response.status_code == 503
        assert response.json()["details"] == {"dependency": "stream service"}


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_only_the_sites_exact_origins_may_read_streams_with_cookies(asgi_server, settings, viewer, client):
    settings.ALLOWED_HOSTS = ["*"]
    settings.TRACEPOINT = {**settings.TRACEPOINT, "BASE_URL": "https://tracepoint.example.com"}
    client.force_login(viewer)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    for origin, allowed in [
        ("https://tracepoint.example.com", True),
        ("http://tracepoint.example.com", False),  # a downgrade
        ("https://other.example.com", False),  # a sibling
        ("https://evil.example", False),  # ALLOWED_HOSTS=* is not a CORS allow-list
    ]:
        response = requests.get(
            f"{asgi_server}/issues/live/", headers={"Origin": origin}, cookies=cookies, stream=True, timeout=10
        )
        assert ("Access-Control-Allow-Origin" in response.headers) is allowed, origin
        response.close()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_multi_project_stream_resumes_every_project(asgi_server, viewer, client):
    first = keys.create_project(name="One", slug="one", services=["a"])
    second = keys.create_project(name="Two", slug="two", services=["b"])
    first.members.add(viewer)
    second.members.add(viewer)
    client.force_login(viewer)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    response = requests.get(f"{asgi_server}/issues/live/", cookies=cookies, stream=True, timeout=10)
    reader = SSEReader(response)
    stream.publish(first.pk, "events", {"count": 1, "issues": []})
    stream.publish(second.pk, "events", {"count": 2, "issues": []})
    reader.next_event()
    last = reader.next_event()
    response.close()
    assert f"{first.pk}:" in last["id"] and f"{second.pk}:" in last["id"]  # both positions
    stream.publish(first.pk, "events", {"count": 3, "issues": []})  # while away
    stream.publish(second.pk, "events", {"count": 4, "issues": []})
    again = requests.get(
        f"{asgi_server}/issues/live/", cookies=cookies, headers={"Last-Event-ID": last["id"]}, stream=True, timeout=10
    )
    reader = SSEReader(again)
    assert sorted(reader.next_event()["data"]["count"] for _ in range(2)) == [3, 4]
    again.close()
