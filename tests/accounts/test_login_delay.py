"""Failed logins slow down the account they target, whatever addresses they come from."""

from datetime import timedelta

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from tracepoint.accounts import services

pytestmark = pytest.mark.django_db
START = 1_800_000_000.0


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to("2026-11-22 12:00:30+00:00", tick=False)
    return time_machine


@pytest.fixture
def password_checks():
    """How many times a password was actually checked and found wrong."""
    failures = []
    user_login_failed.connect(lambda **kw: failures.append(kw), dispatch_uid="login-delay-test", weak=False)
    yield failures
    user_login_failed.disconnect(dispatch_uid="login-delay-test")


def _login(username: str, password: str, address: str = "192.0.2.1"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def test_ninety_guesses_from_ten_addresses_are_mostly_refused(viewer, settings, frozen, password_checks):
    free = settings.TRACEPOINT["LOGIN_FAILURES_BEFORE_DELAY"]
    statuses = [_login("vera", f"guess{i}", f"198.51.100.{i % 10}").status_code for i in range(90)]
    assert statuses == [200] * free + [429] * (90 - free)
    assert len(password_checks) == free  # a delayed attempt never reaches the password hasher

    during = _login("vera", PASSWORD, "203.0.113.50")
    assert during.status_code == 429
    assert 1 <= int(during["Retry-After"]) <= settings.TRACEPOINT["LOGIN_DELAY_MAX_SECONDS"]
    assert "Too many attempts for this account, try again in" in during.content.decode()
    assert "_auth_user_id" not in Client().session

    frozen.shift(timedelta(seconds=int(during["Retry-After"])))
    client = Client(REMOTE_ADDR="203.0.113.50")
    after = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert after.status_code == 302 and int(client.session["_auth_user_id"]) == viewer.pk

    # The success forgot the failures: the next mistakes are checked again, with no delay.
    assert [_login("vera", "typo", "203.0.113.51").status_code for _ in range(free)] == [200] * free


def test_the_delay_doubles_with_each_failure_up_to_the_cap(viewer, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "LOGIN_FAILURES_BEFORE_DELAY": 3, "LOGIN_DELAY_MAX_SECONDS": 10}
    now = START
    for _ in range(3):
        assert services.authenticate_user(None, username="vera", password="guess", now=now) is None
    waits = []
    for _ in range(4):
        with pytest.raises(services.LoginDelayed) as delayed:
            services.authenticate_user(None, username="vera", password=PASSWORD, now=now)
        waits.append(delayed.value.retry_after)
        now += delayed.value.retry_after
        assert services.authenticate_user(None, username="vera", password="guess", now=now) is None
    assert waits == [2, 4, 8, 10]


def test_failures_are_forgotten_after_a_quiet_window(viewer, settings):
    free = settings.TRACEPOINT["LOGIN_FAILURES_BEFORE_DELAY"]
    for _ in range(free - 1):
        services.authenticate_user(None, username="vera", password="guess", now=START)
    later = START + settings.TRACEPOINT["LOGIN_FAILURE_WINDOW_SECONDS"] + 1
    services.authenticate_user(None, username="vera", password="guess", now=later)
    assert services.authenticate_user(None, username="vera", password=PASSWORD, now=later) == viewer


def test_usernames_match_without_case_and_unknown_ones_behave_the_same(viewer, settings, frozen):
    free = settings.TRACEPOINT["LOGIN_FAILURES_BEFORE_DELAY"]
    known = [_login("VERA", "guess", f"198.51.100.{i}").status_code for i in range(free + 1)]
    unknown = [_login("ghost", "guess", f"198.51.100.{i}").status_code for i in range(free + 1)]
    assert known == unknown == [200] * free + [429]
    assert _login(" vera", PASSWORD, "203.0.113.9").status_code == 429
    # Another account is not affected.
    assert _login("Ghost2", "guess", "203.0.113.9").status_code == 200


def test_the_token_endpoint_shares_the_account_delay(responder, settings, frozen, password_checks):
    free = settings.TRACEPOINT["LOGIN_FAILURES_BEFORE_DELAY"]
    for i in range(free):
        client = APIClient(REMOTE_ADDR=f"198.51.100.{i}")
        wrong = client.post("/api/v1/auth/token", {"username": "rita", "password": "x"}, format="json")
        assert wrong.status_code == 401
    right = APIClient().post("/api/v1/auth/token", {"username": "rita", "password": PASSWORD}, format="json")
    assert right.status_code == 429
    assert right.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert right.json()["details"]["retry_after_seconds"] == int(right["Retry-After"]) >= 1
    assert _login("rita", PASSWORD, "203.0.113.9").status_code == 429  # one delay for both doors
    assert len(password_checks) == free

    frozen.shift(timedelta(seconds=int(right["Retry-After"])))
    later = APIClient().post("/api/v1/auth/token", {"username": "rita", "password": PASSWORD}, format="json")
    assert later.status_code == 201


def test_the_delay_can_be_switched_off_with_the_rate_limits(viewer, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RATE_LIMIT_ENABLED": False}
    for _ in range(20):
        services.authenticate_user(None, username="vera", password="guess", now=START)
    assert services.authenticate_user(None, username="vera", password=PASSWORD, now=START) == viewer


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store", ["redis", "database"])
def test_parallel_guesses_cannot_slip_in_together(settings, store):
    """Thirty guesses at once: each attempt is counted before its password is checked, so exactly
    LOGIN_FAILURES_BEFORE_DELAY of them reach the hasher however they interleave."""
    import threading

    from django.db import connection

    if store == "redis" and not settings.REDIS_URL:
        pytest.skip("needs Redis")
    if store == "database":
        if connection.vendor != "postgresql":
            pytest.skip("the test database reaches other threads only on PostgreSQL")
        settings.REDIS_URL = None
    free = settings.TRACEPOINT["LOGIN_FAILURES_BEFORE_DELAY"]
    results: list[str] = []
    barrier = threading.Barrier(30)

    def guess(n: int) -> None:
        barrier.wait()
        try:
            services.authenticate_user(None, username="nobody", password=f"guess{n}", now=START)
            results.append("checked")
        except services.LoginDelayed:
            results.append("delayed")
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["checked"] * free + ["delayed"] * (30 - free)


def test_a_browser_that_logged_in_before_is_not_held_by_an_attackers_delay(viewer, frozen, password_checks):
    mine = Client(REMOTE_ADDR="203.0.113.5")
    assert mine.post("/login/", {"username": "vera", "password": PASSWORD}).status_code == 302
    assert services.KNOWN_DEVICE_COOKIE in mine.cookies
    del mine.cookies["sessionid"]  # logged out; the known-device cookie stays (Client.logout() drops all)

    # Someone keeps the account waiting from addresses of their own.
    for i in range(8):
        _login("vera", f"guess{i}", f"198.51.100.{i}")
    assert _login("vera", PASSWORD, "203.0.113.9").status_code == 429  # a new browser waits

    # The browser that logged in before does not, and its wrong passwords are still per-IP limited.
    response = mine.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 302 and mine.session["_auth_user_id"] == str(viewer.pk)


def test_the_known_device_cookie_is_bound_to_its_username_and_signed(viewer, frozen):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("other", password=PASSWORD)
    browser = Client(REMOTE_ADDR="203.0.113.5")
    browser.post("/login/", {"username": "other", "password": PASSWORD})
    cookie = browser.cookies[services.KNOWN_DEVICE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    del browser.cookies["sessionid"]
    for i in range(8):
        _login("vera", f"guess{i}", f"198.51.100.{i}")
    # A cookie earned as "other" does not help with "vera"; a forged one is worthless.
    assert services.KNOWN_DEVICE_COOKIE in browser.cookies
    assert browser.post("/login/", {"username": "vera", "password": PASSWORD}).status_code == 429
    browser.cookies[services.KNOWN_DEVICE_COOKIE] = services.known_device_cookie("vera") + "x"
    assert browser.post("/login/", {"username": "vera", "password": PASSWORD}).status_code == 429
