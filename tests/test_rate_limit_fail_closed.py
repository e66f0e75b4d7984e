"""Limits that guard a secret keep counting when Redis is down, and refuse when nothing can count."""

from contextlib import contextmanager

import pytest
from django.db import OperationalError, ProgrammingError, connection
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_page, make_user
from tests.net import free_port
from tracepoint import ratelimit
from tracepoint.models import RateLimitCounter

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings, mid_window):
    """REDIS_URL names a Redis that refuses connections (a closed port): the outage, not 'no Redis'."""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "write": "3/day", "auth": "3/day"},
    }


@contextmanager
def database_counters_fail(error: Exception | None = None):
    """The counters' statements fail: with a lost connection (OperationalError) by default, or ``error``."""
    error = error or OperationalError("could not connect to server")

    def fail(execute, sql, params, many, context):
        if "tracepoint_ratelimitcounter" in sql:
            raise error
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail):
        yield


def test_a_fail_closed_limit_counts_in_the_database_while_redis_is_unreachable(redis_down, caplog):
    allowed = [ratelimit.hit("auth", "ip:192.0.2.1", fail_closed=True).allowed for _ in range(4)]
    assert allowed == [True, True, True, False]
    assert RateLimitCounter.objects.get(key__contains=":auth:ip:192.0.2.1:").count == 4
    assert "counting in the database" in caplog.text


def test_a_fail_open_limit_lets_requests_through_while_redis_is_unreachable(redis_down):
    assert all(ratelimit.hit("write", "ip:192.0.2.1").allowed for _ in range(5))
    assert not RateLimitCounter.objects.exists()  # no database write per request during the outage


def test_a_fail_closed_limit_refuses_when_the_database_fails_too(redis_down, caplog):
    with database_counters_fail(ProgrammingError("relation does not exist")):
        decision = ratelimit.hit("auth", "ip:192.0.2.1", fail_closed=True)
        assert not decision.allowed and decision.retry_after >= 1
        assert "request refused" in caplog.text
        assert ratelimit.hit("write", "ip:192.0.2.1").allowed  # fail-open scopes still let it through


def test_a_lost_database_under_a_fail_closed_limit_is_the_503_of_a_lost_database(redis_down):
    """Refused all the same, but as our outage (503, Retry-After), not as the client's fault (429)."""
    with database_counters_fail():
        with pytest.raises(OperationalError):
            ratelimit.hit("auth", "ip:192.0.2.1", fail_closed=True)
        assert ratelimit.hit("write", "ip:192.0.2.1").allowed


def test_without_redis_a_failing_database_refuses_fail_closed_limits_only(settings):
    settings.REDIS_URL = None
    with database_counters_fail(ProgrammingError("relation does not exist")):
        assert not ratelimit.hit("auth", "ip:192.0.2.1", fail_closed=True).allowed
        assert ratelimit.hit("write", "ip:192.0.2.1").allowed


def test_logins_per_ip_still_trip_at_the_limit_while_redis_is_unreachable(redis_down):
    make_user("viewer", username="vera")
    client = Client()
    statuses = [client.post("/login/", {"username": f"u{i}", "password": "guess"}).status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_logins_are_refused_when_no_store_can_count(redis_down):
    make_user("viewer", username="vera")
    client = Client()
    with database_counters_fail(ProgrammingError("relation does not exist")):
        response = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    with database_counters_fail():
        response = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 503
    assert "_auth_user_id" not in client.session


def test_token_requests_still_trip_at_the_limit_while_redis_is_unreachable(redis_down):
    client = APIClient()
    statuses = [
        client.post("/api/v1/auth/token", {"username": f"u{i}", "password": "x"}, format="json").status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_private_page_passwords_still_trip_at_the_limit_while_redis_is_unreachable(redis_down):
    make_page(slug="inside", is_public=False, raw_password="open sesame")
    client = Client()
    statuses = [client.post("/status/inside/access/", {"password": "nope"}).status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    assert client.post("/status/inside/access/", {"password": "open sesame"}).status_code == 429


def test_the_account_delay_counts_in_the_database_while_redis_is_unreachable(redis_down, settings):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "auth": "1/min"},
    }
    make_user("viewer", username="vera")
    failures = settings.TRACEPOINT["LOGIN_FAILURES_BEFORE_DELAY"]
    statuses = [
        Client(REMOTE_ADDR=f"198.51.100.{i}").post("/login/", {"username": "vera", "password": "guess"}).status_code
        for i in range(failures + 1)
    ]
    assert statuses == [200] * failures + [429]
    assert RateLimitCounter.objects.filter(key__contains=":login:").get().count == failures


def test_the_account_delay_refuses_when_no_store_can_answer(redis_down):
    from tracepoint.accounts import services

    make_user("viewer", username="vera")
    with database_counters_fail(ProgrammingError("relation does not exist")), pytest.raises(services.LoginDelayed):
        services.authenticate_user(None, username="vera", password=PASSWORD)
