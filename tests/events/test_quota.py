"""Project ingest quotas: the rate, the spike guard, the 429 SDKs back off from, dropped counters."""

from __future__ import annotations

import gzip
import json
import types
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from events import keys, quota, sentry, tasks
from events.models import Event, Project, ReceivedEvent
from tests.helpers import call, envelope, samples, value

# 12:00:23 UTC: 37 seconds left in the minute, 7 in the 10-second window.
FROZEN = datetime(2026, 3, 2, 12, 0, 23, tzinfo=UTC)
EXPOSED = "x-sentry-error, x-sentry-rate-limits, retry-after"


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(FROZEN, tick=False)


@pytest.fixture
def no_spike_guard(settings):
    """The spike guard as large as the rate, for tests of the rate alone."""
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_BURST_PERCENT": 100}


def with_rate(project: Project, rate: int) -> Project:
    return quota.set_events_per_minute(project, rate)


def sentry_event(**fields) -> bytes:
    event_id = uuid.uuid4().hex
    item = {"event_id": event_id, "platform": "python", "level": "error", "message": "checkout failed", **fields}
    return envelope(
        ({"type": "event", "content_type": "application/json"}, json.dumps(item).encode()),
        header={"event_id": event_id},
    )


def auth(key: str) -> dict:
    return {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"}


def send(route: str, project: Project, key: str, endpoint: str = "envelope") -> tuple[int, dict, dict]:
    """One event through the production WSGI fast path or Django's normal path: (status, headers, body)."""
    body = sentry_event()
    if endpoint == "store":  # the legacy body: the event alone
        body = body.split(b"\n")[2]
    path = f"/api/{project.pk}/{endpoint}/"
    if route == "fastpath":
        status, headers, content = call(path, body, headers=auth(key))
        return status, headers, json.loads(content)
    response = Client().generic("POST", path, body, content_type="application/x-sentry-envelope", **auth(key))
    return response.status_code, dict(response.headers), response.json()


# --- the 429 SDKs read ------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["envelope", "store"])
@pytest.mark.parametrize("route", ["fastpath", "django"])
def test_over_the_rate_both_endpoints_answer_429_with_the_sentry_headers(
    project, project_key, store, frozen, no_spike_guard, route, endpoint
):
    with_rate(project, 2)
    assert [send(route, project, project_key, endpoint)[0] for _ in range(2)] == [200, 200]

    status, headers, body = send(route, project, project_key, endpoint)

    assert status == 429
    assert headers["Retry-After"] == "37"
    assert headers["X-Sentry-Rate-Limits"] == "37:error:key"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == EXPOSED
    assert headers["X-Sentry-Error"] == "rate_limit: 2 events per 60s"
    assert headers["X-Request-ID"] == body["request_id"]
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    assert body["details"] == {"retry_after_seconds": 37, "reason": "rate_limit", "limit": 2, "window_seconds": 60}
    assert ReceivedEvent.objects.filter(project=project).count() == 2


def test_the_spike_guard_caps_each_10_second_window(project, project_key, store, frozen, time_machine):
    with_rate(project, 12)  # the spike guard: 50% of 12 = 6 events per 10 seconds
    assert project.event_burst_limit() == 6
    assert [send("fastpath", project, project_key)[0] for _ in range(7)] == [200] * 6 + [429]
    status, headers, body = send("fastpath", project, project_key)
    assert (status, headers["Retry-After"], headers["X-Sentry-Rate-Limits"]) == (429, "7", "7:error:key")
    assert body["details"]["reason"] == "spike_guard"
    assert body["details"]["window_seconds"] == 10

    time_machine.move_to(datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC), tick=False)  # the next window
    assert [send("fastpath", project, project_key)[0] for _ in range(7)] == [200] * 6 + [429]
    # 12 stored this minute: now the rate refuses, until the minute ends.
    time_machine.move_to(datetime(2026, 3, 2, 12, 0, 41, tzinfo=UTC), tick=False)
    status, headers, body = send("fastpath", project, project_key)
    assert (status, headers["Retry-After"], body["details"]["reason"]) == (429, "19", "rate_limit")


def test_the_spike_guard_follows_its_percent_setting(project, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_BURST_PERCENT": 25}
    assert with_rate(project, 100).event_burst_limit() == 25
    assert with_rate(project, 1).event_burst_limit() == 1


def test_a_project_rate_overrides_the_default(project, project_key, store, frozen, no_spike_guard, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_PER_MINUTE": 2}
    other = keys.create_project(name="Blog", slug="blog")
    other_key = other.active_key().public_key
    assert [send("fastpath", other, other_key)[0] for _ in range(3)] == [200, 200, 429]

    with_rate(project, 4)
    assert [send("fastpath", project, project_key)[0] for _ in range(5)] == [200] * 4 + [429]

    quota.set_events_per_minute(project, None)  # back to the default, already used up this minute
    assert Project.objects.get(pk=project.pk).event_rate() == 2
    assert send("fastpath", project, project_key)[0] == 429


def test_an_envelope_without_an_event_uses_no_quota(project, project_key, store, frozen, no_spike_guard):
    with_rate(project, 1)
    assert send("fastpath", project, project_key)[0] == 200
    assert send("fastpath", project, project_key)[0] == 429
    report = envelope(({"type": "client_report"}, b'{"discarded_events":[]}'), header={})
    status, _, body = call(f"/api/{project.pk}/envelope/", report, headers=auth(project_key))
    assert (status, body) == (200, b"{}")


# --- counting ---------------------------------------------------------------------------


def test_windows_are_counted_per_project_and_a_refused_batch_uses_no_budget(project, store):
    with_rate(project, 10)  # spike guard: 5 per 10 s
    now = FROZEN.timestamp()
    assert quota.check(project, 4, now=now).allowed
    refused = quota.check(project, 2, now=now)  # 6 > 5: the spike guard refuses the whole batch
    assert (refused.allowed, refused.reason, refused.retry_after) == (False, "spike_guard", 7)
    assert quota.check(project, 1, now=now).allowed  # the refused 2 were not counted
    assert not quota.check(project, 6, now=now + 10).allowed  # larger than the spike guard: never fits
    assert quota.check(project, 5, now=now + 10).allowed  # 10 this minute
    refused = quota.check(project, 1, now=now + 20)
    assert (refused.reason, refused.retry_after) == ("rate_limit", 17)
    assert quota.check(project, 5, now=now + 37).allowed  # a new minute

    other = keys.create_project(name="Blog", slug="blog")
    assert quota.check(with_rate(other, 10), 5, now=now + 20).allowed


def test_dropped_events_are_counted_per_project(project, store):
    with_rate(project, 1)
    now = FROZEN.timestamp()
    assert quota.check(project, 1, now=now).allowed
    assert not quota.check(project, 1, now=now).allowed
    assert not quota.check(project, 3, now=now).allowed

    if store == "redis":  # waiting in Redis (no database write per refused request) until the beat task
        assert Project.objects.get(pk=project.pk).dropped_event_count == 0
        assert quota.pending_dropped() == {project.pk: 4}
        assert tasks.flush_dropped_counts() == 4
        assert quota.pending_dropped() == {}
    project.refresh_from_db()
    assert project.dropped_event_count == 4
    assert quota.dropped_events(project) == 4


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")
def test_with_redis_a_request_costs_one_round_trip_and_no_query(
    project, project_key, frozen, monkeypatch, django_assert_num_queries
):
    from tracepoint import redis

    with_rate(project, 1)
    assert send("fastpath", project, project_key)[0] == 200  # the key is remembered from now on
    client, commands = redis.client(), []
    execute = client.execute_command

    def counting(*args, **options):
        commands.append(args[0])
        return execute(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)
    with django_assert_num_queries(0):
        assert send("fastpath", project, project_key)[0] == 429
    assert commands == ["EVALSHA"]


def test_the_database_fallback_costs_two_statements_per_admitted_request(
    project, project_key, frozen, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(quota, "redis", types.SimpleNamespace(client=lambda: None))
    with_rate(project, 100)
    with django_assert_num_queries(2):
        assert quota.check(project).allowed


def test_a_failing_store_admits_events_and_is_left_alone_for_a_while(project, monkeypatch, caplog):
    calls = []

    def broken():
        calls.append(1)
        raise ConnectionError("redis is away")

    monkeypatch.setattr(quota, "redis", types.SimpleNamespace(client=broken))
    quota.reset()
    with_rate(project, 1)
    assert all(quota.check(project).allowed for _ in range(3))
    assert len(calls) == 1
    assert "quota store unavailable" in caplog.text


# --- native ingest, metrics -------------------------------------------------------------


def test_native_ingest_applies_the_quota_to_the_whole_batch(project, project_key, store, frozen):
    with_rate(project, 6)  # spike guard: 3 per 10 s
    client = APIClient()
    client.credentials(HTTP_X_PROJECT_KEY=project_key)

    def batch(n):
        return client.post("/api/v1/events", [{"service": "checkout", "message": "boom"}] * n, format="json")

    assert batch(2).status_code == 202
    response = batch(2)
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert response.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert response.json()["details"] == {"retry_after_seconds": 7}
    assert batch(1).status_code == 202
    assert Event.objects.filter(project=project).count() == 3

    # A batch that could never fit (above the spike guard) is a 400 saying so, not a 429 to retry.
    too_big = batch(4)
    assert too_big.status_code == 400
    assert too_big.json()["details"] == {
        "events": ["At most 3 events per request for this project (its ingest quota)."]
    }
    assert Event.objects.filter(project=project).count() == 3


def test_dropped_events_are_exported_in_metrics(project, project_key, store, frozen, no_spike_guard):
    name = "tracepoint_ingest_dropped_total"
    before = value(samples(Client().get("/metrics").content.decode()), name, project="shop", reason="rate_limit")
    with_rate(project, 1)
    statuses = [send("fastpath", project, project_key)[0] for _ in range(3)]
    assert statuses == [200, 429, 429]

    after = samples(Client().get("/metrics").content.decode())
    assert value(after, name, project="shop", reason="rate_limit") == before + 2


# --- the project page ---------------------------------------------------------------------


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(project: Project) -> str:
    return f"/issues/projects/{project.pk}/"


def test_the_project_page_shows_the_quota_and_the_dropped_events(viewer, project, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROJECT_EVENTS_PER_MINUTE": 600, "PROJECT_EVENTS_BURST_PERCENT": 50}
    project.members.add(viewer)
    Project.objects.filter(pk=project.pk).update(dropped_event_count=41)
    if settings.REDIS_URL:  # plus what waits in Redis
        with_rate(project, 1)
        quota.check(project)
        quota.check(project)
        quota.set_events_per_minute(project, None)
    html = logged_in(viewer).get(page(project)).content.decode()
    assert '<dd id="quota-rate">600 events per minute <span class="muted">(default)</span></dd>' in html
    assert "300 events per 10 seconds" in html
    dropped = 42 if settings.REDIS_URL else 41
    assert f'<dd id="quota-dropped">{dropped} events</dd>' in html
    assert "Save rate" not in html  # viewers cannot change it


def test_an_admin_sets_the_rate_on_the_project_page(admin_user, project):
    client = logged_in(admin_user)
    assert "Save rate" in client.get(page(project)).content.decode()
    response = client.post(f"{page(project)}quota/", {"events_per_minute": "90"})
    assert response.status_code == 302 and response["Location"] == page(project)
    assert Project.objects.get(pk=project.pk).events_per_minute == 90
    assert '<dd id="quota-rate">90 events per minute</dd>' in client.get(page(project)).content.decode()

    response = client.post(f"{page(project)}quota/", {"events_per_minute": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="project-settings"')
    assert "HX-Trigger" in response
    assert Project.objects.get(pk=project.pk).events_per_minute is None


@pytest.mark.parametrize("bad", ["0", "-1", "1000001", "fast"])
def test_the_page_refuses_a_bad_rate(admin_user, project, bad):
    response = logged_in(admin_user).post(f"{page(project)}quota/", {"events_per_minute": bad})
    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert Project.objects.get(pk=project.pk).events_per_minute is None


def test_only_admins_set_the_rate_on_the_page(responder, admin_user, project):
    project.members.add(responder)
    assert logged_in(responder).post(f"{page(project)}quota/", {"events_per_minute": "5"}).status_code == 403
    assert logged_in(admin_user).get(f"{page(project)}quota/").status_code == 405
    anonymous = Client().post(f"{page(project)}quota/", {"events_per_minute": "5"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert Project.objects.get(pk=project.pk).events_per_minute is None


def test_the_checks_run_without_a_request_and_one_attempt_is_counted_once(project, store, frozen, no_spike_guard):
    # ``accept_envelope`` is what the views call once the body is read: an ingest front without Django's
    # request objects calls it too. An attempt retried after a lost connection is counted once.
    with_rate(project, 1)
    body = gzip.compress(sentry_event())
    attempt = sentry.Attempt()
    first = sentry.accept_envelope(project.pk, project=project, body=body, encoding="gzip", attempt=attempt)
    again = sentry.accept_envelope(project.pk, project=project, body=body, encoding="gzip", attempt=attempt)
    event_id, received = first
    assert again == first and attempt.admitted
    assert received.body == body and received.encoding == "gzip" and received.envelope  # stored as it came
    assert received.project == project and received.event_id == event_id
    assert not ReceivedEvent.objects.exists()  # checked, not stored
    with pytest.raises(sentry.RateLimited):  # a new request: the rate of 1 is used up
        sentry.accept_envelope(project.pk, project=project, body=body, encoding="gzip", attempt=sentry.Attempt())
