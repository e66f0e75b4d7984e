from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import make_token, make_user

# Tests that start real servers, workers, beats or a browser, or fuzz the whole API: seconds each.
# `make test PYTEST_ARGS="-m 'not slow'"` leaves them out for a quick run; CI runs everything.
SLOW_MODULES = {
    "tests/test_beat_lock.py",
    "tests/monitors/test_quorum_workers.py",
    "tests/test_redis_loss.py",
    "tests/test_db_resilience.py",
    "tests/test_embedded_run.py",
    "tests/test_health_ready.py",
    "tests/test_supervise.py",
    "tests/statuspages/test_subscriber_fanout_crash.py",
    "tests/events/test_sentry_sdk_backoff.py",
    "tests/events/test_stream.py",
    "tests/api/test_schemathesis.py",
    "tests/notifications/test_concurrent_delivery.py",
    "tests/oncall/test_escalation_concurrency.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if path in SLOW_MODULES or path.startswith("tests/browser/"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fresh_rate_limits_and_cache():
    """Every test starts with empty counters (keys carry this run's prefix)."""
    yield
    from events import ingest, keys, quota
    from monitors import pingbuffer
    from statuspages import public_cache

    # Process-wide caches: remembered keys would outlive the test's rows, a pause would outlive its failure.
    keys.reset()
    ingest.reset()
    pingbuffer.reset()
    quota.reset()
    public_cache.reset()
    if settings.REDIS_URL:
        from tracepoint import redis

        client = redis.client()
        stale = list(client.scan_iter(f"*{settings.CACHE_KEY_PREFIX}*", count=500))
        if stale:
            client.delete(*stale)
    else:
        cache.clear()


@pytest.fixture
def viewer(db):
    return make_user("viewer", username="vera")


@pytest.fixture
def responder(db):
    return make_user("responder", username="rita")


@pytest.fixture
def admin_user(db):
    return make_user("admin", username="ada")


@pytest.fixture
def anonymous_client():
    return APIClient()


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client


@pytest.fixture
def viewer_client(viewer):
    return _token_client(viewer)


@pytest.fixture
def responder_client(responder):
    return _token_client(responder)


@pytest.fixture
def admin_client(admin_user):
    return _token_client(admin_user)


@pytest.fixture
def role_clients(anonymous_client, viewer_client, responder_client, admin_client):
    return {
        "anonymous": anonymous_client,
        "viewer": viewer_client,
        "responder": responder_client,
        "admin": admin_client,
    }


@pytest.fixture
def mid_window(time_machine):
    """Start the clock mid-minute at noon, so fixed rate-limit windows cannot roll over during a test."""
    time_machine.move_to("2026-11-22 12:00:30+00:00", tick=True)


@pytest.fixture
def asgi_server():
    """``tracepoint.asgi.application`` under uvicorn, on a real socket, in this process (it sees the test database)."""
    from tests.helpers import serve_asgi
    from tracepoint.asgi import application

    with serve_asgi(application) as url:
        yield url
