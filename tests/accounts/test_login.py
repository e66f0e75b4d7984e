import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_pages_redirect_anonymous_users_to_login():
    for path in ("/", "/incidents/", "/issues/", "/monitors/", "/status-pages/", "/account/"):
        response = Client().get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next=")


def test_login_with_the_right_password_lands_on_the_overview(viewer):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"].value
    response = client.post("/login/", {"username": "vera", "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    assert response.status_code == 302
    assert response["Location"] == "/"
    overview = client.get("/")
    assert overview.status_code == 200
    assert b"<h1>Overview</h1>" in overview.content


def test_login_with_a_wrong_password_shows_an_error(viewer):
    response = Client().post("/login/", {"username": "vera", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert "_auth_user_id" not in Client().session


def test_login_follows_a_safe_next_but_not_an_external_one(viewer):
    client = Client()
    response = client.post("/login/?next=/monitors/", {"username": "vera", "password": PASSWORD, "next": "/monitors/"})
    assert response["Location"] == "/monitors/"
    client = Client()
    response = client.post("/login/", {"username": "vera", "password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_login_without_csrf_token_is_refused(viewer):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 403
    assert b"Form expired" in response.content


def test_repeated_failed_logins_are_rate_limited(viewer, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "auth": "3/day"},
    }
    client = Client()
    statuses = [client.post("/login/", {"username": "vera", "password": "guess"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many login attempts" in response.content
    assert int(response["Retry-After"]) >= 1


def test_logout_is_a_post_and_ends_the_session(viewer):
    client = Client()
    client.force_login(viewer)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_the_admin_login_uses_the_same_rate_limited_login(viewer, settings):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"
    # Posting passwords to the admin's own form checks nothing (no unthrottled way to guess).
    client = Client()
    posted = client.post("/admin/login/", {"username": "vera", "password": PASSWORD})
    assert posted.status_code == 302 and posted["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_a_rate_limited_login_does_not_check_the_password(viewer, settings, mid_window):
    from django.contrib.auth.signals import user_login_failed

    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "auth": "1/day"},
    }
    failures = []
    user_login_failed.connect(lambda **kw: failures.append(kw), dispatch_uid="count-failures", weak=False)
    try:
        client = Client()
        client.post("/login/", {"username": "vera", "password": "guess"})
        client.post("/login/", {"username": "vera", "password": "guess"})
    finally:
        user_login_failed.disconnect(dispatch_uid="count-failures")
    assert len(failures) == 1
