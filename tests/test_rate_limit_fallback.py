"""Without Redis the Django cache holds the counters."""

import pytest

from tracepoint import ratelimit

pytestmark = pytest.mark.django_db


def test_cache_fallback_counts_within_a_window(settings):
    settings.REDIS_URL = None
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RATE_LIMITS": {"write": "2/min"}}
    now = 1_800_000_030.0  # 30 s into a minute window
    assert [ratelimit.hit("write", "ip:a", now=now).allowed for _ in range(3)] == [True, True, False]
    assert ratelimit.hit("write", "ip:a", now=now).retry_after == 30
    assert ratelimit.hit("write", "ip:b", now=now).allowed
    assert ratelimit.hit("write", "ip:a", now=now + 60).allowed  # next window


def test_rate_limits_can_be_switched_off(settings):
    settings.REDIS_URL = None
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RATE_LIMITS": {"write": "1/min"}, "RATE_LIMIT_ENABLED": False}
    assert all(ratelimit.hit("write", "ip:a").allowed for _ in range(5))


def test_client_ip_trusts_only_the_configured_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    settings.NUM_PROXIES = 0
    assert ratelimit.client_ip(request) == "10.0.0.5"
    settings.NUM_PROXIES = 1
    assert ratelimit.client_ip(request) == "203.0.113.7"
