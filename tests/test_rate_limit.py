"""Write rate limits live in Redis, so every process shares one count."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from tests.factories import make_token
from tracepoint import ratelimit

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls"), pytest.mark.redis]


@pytest.fixture
def redis_url(settings):
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("REDIS_URL"):
            raise  # CI gives a Redis: it must answer
        pytest.skip(f"no Redis at {url}; set REDIS_URL to run the shared rate-limit tests")
    settings.REDIS_URL = url
    # A day-long window so the test never straddles a window boundary in practice.
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RATE_LIMITS": {"write": "4/day", "auth": "3/day"}}
    yield url
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{settings.CACHE_KEY_PREFIX}:ratelimit:*"))
    if keys:
        client.delete(*keys)


def _hit_from_another_process(redis_url: str, prefix: str, ident: str, times: int) -> list[bool]:
    code = (
        "import django; django.setup(); from tracepoint import ratelimit; "
        f"print(' '.join(str(ratelimit.hit('write', {ident!r}).allowed) for _ in range({times})))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="tracepoint.settings",
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=prefix,
        RATE_LIMIT_WRITE="4/day",
        DEBUG="true",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return [word == "True" for word in result.stdout.split()]


def test_two_clients_in_two_processes_share_one_budget(redis_url, settings, responder, anonymous_client):
    # Another process (say a second web replica) spends two of the user's four writes ...
    assert _hit_from_another_process(redis_url, settings.CACHE_KEY_PREFIX, f"user:{responder.pk}", 2) == [True, True]
    # ... so this client gets the remaining two, then 429.
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(responder)}")
    statuses = [
        anonymous_client.post("/api/v1/samples", {"name": f"g{i}"}, format="json").status_code for i in range(3)
    ]
    assert statuses == [201, 201, 429]
    # A second token of the same user is the same budget.
    from rest_framework.test import APIClient

    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(responder)}")
    assert other.post("/api/v1/samples", {"name": "g9"}, format="json").status_code == 429
    # The other process sees the exhausted budget too.
    assert _hit_from_another_process(redis_url, settings.CACHE_KEY_PREFIX, f"user:{responder.pk}", 1) == [False]


def test_budgets_are_per_user(redis_url, responder_client, admin_client):
    for i in range(4):
        assert responder_client.post("/api/v1/samples", {"name": f"r{i}"}, format="json").status_code == 201
    assert responder_client.post("/api/v1/samples", {"name": "r4"}, format="json").status_code == 429
    assert admin_client.post("/api/v1/samples", {"name": "a0"}, format="json").status_code == 201


def test_concurrent_hits_never_exceed_the_limit(redis_url):
    results: list[bool] = []
    lock = threading.Lock()

    def worker():
        decision = ratelimit.hit("write", "ip:203.0.113.9")
        with lock:
            results.append(decision.allowed)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 4
    assert results.count(False) == 16


def test_the_window_key_expires(redis_url, settings):
    decision = ratelimit.hit("write", "ip:198.51.100.1")
    assert decision.allowed and decision.remaining == 3
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{settings.CACHE_KEY_PREFIX}:ratelimit:write:ip:198.51.100.1:*"))
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 86401


def test_an_unreachable_redis_lets_requests_through(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    decision = ratelimit.hit("write", "ip:192.0.2.1")
    assert decision.allowed
    assert "rate limit store unavailable" in caplog.text
