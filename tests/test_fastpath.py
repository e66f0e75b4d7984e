"""The WSGI fast path (tracepoint.fastpath) answers exactly as the full Django stack would.

Each request is sent twice: through the production WSGI application, with Django's handler
forbidden (so the fast path must answer it), and through Django's handler alone. Status, every
header and the body must be the same; the request id is given, so it is the same too.
"""

from __future__ import annotations

import gzip
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string
from prometheus_client import REGISTRY

from events import keys
from monitors import ping as ping_module
from tests.factories import make_heartbeat, make_layout, make_page
from tests.helpers import call, envelope, event_item
from tracepoint import fastpath, middleware
from tracepoint.fastpath import FastPath
from tracepoint.urls import FAST_ROUTES
from tracepoint.wsgi import application

REQUEST_ID = "parity-check-1"


@pytest.fixture
def project(db):
    return keys.create_project(name="Shop", slug="shop", services=["checkout"])


@pytest.fixture
def project_key(project):
    return project.active_key().public_key


def both(monkeypatch, path: str, body: bytes = b"", *, method: str = "GET", headers: dict | None = None, app=None):
    """(fast answer, Django's answer) to the same request."""
    app = app or application
    headers = {"HTTP_X_REQUEST_ID": REQUEST_ID, **(headers or {})}
    django_call = WSGIHandler.__call__

    def refuse(*args, **kwargs):
        raise AssertionError(f"{method} {path} should be answered by the fast path")

    monkeypatch.setattr(WSGIHandler, "__call__", refuse)
    fast = call(path, body, method=method, headers=headers, app=app)
    monkeypatch.setattr(WSGIHandler, "__call__", django_call)
    normal = call(path, body, method=method, headers=headers, app=app.app)
    return fast, normal


def assert_same(fast, normal):
    assert fast[0] == normal[0]
    assert fast[1] == normal[1]
    assert fast[2] == normal[2]


def sentry_auth(key: str) -> dict:
    return {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"}


def test_an_accepted_event_is_answered_the_same(project, project_key, monkeypatch):
    body = gzip.compress(envelope(event_item(message="checkout failed")))
    fast, normal = both(
        monkeypatch,
        f"/api/{project.id}/envelope/",
        body,
        method="POST",
        headers={**sentry_auth(project_key), "HTTP_CONTENT_ENCODING": "gzip"},
    )
    assert fast[0] == 200
    assert_same(fast, normal)
    # What the full chain adds, and what the fast path used to miss:
    assert fast[1]["Cross-Origin-Opener-Policy"] == "same-origin"
    assert fast[1]["X-Frame-Options"] == "DENY" and fast[1]["X-Content-Type-Options"] == "nosniff"
    assert fast[1]["X-Request-ID"] == REQUEST_ID and fast[1]["Content-Length"] == str(len(fast[2]))


@pytest.mark.parametrize(
    "case",
    ["bad key", "bad envelope", "too large", "store endpoint, no key"],
)
def test_refused_events_get_the_same_error_shape(project, project_key, monkeypatch, settings, case):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 4096}
    path, body, headers = f"/api/{project.id}/envelope/", envelope(event_item()), sentry_auth(project_key)
    if case == "bad key":
        headers = sentry_auth("0" * 32)
    elif case == "bad envelope":
        body = b"{not json"
    elif case == "too large":
        body = b"x" * 8192
    else:
        path, headers = f"/api/{project.id}/store/", {}
    fast, normal = both(monkeypatch, path, body, method="POST", headers=headers)
    assert fast[0] in (400, 401, 413)
    assert_same(fast, normal)
    assert fast[1]["Content-Type"] == "application/json"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no server to lose")
@pytest.mark.django_db(transaction=True)
def test_a_lost_database_is_the_same_503(project, project_key, monkeypatch):
    path, headers = f"/api/{project.id}/envelope/", sentry_auth(project_key)
    assert call(path, envelope(event_item()), headers=headers)[0] == 200  # the key is remembered from now on
    monkeypatch.setattr(middleware, "DATABASE_RETRY_DELAYS", (0.0,))
    database = connections["default"]
    real = dict(database.settings_dict)
    database.settings_dict.update(HOST="127.0.0.1", PORT="9")  # nothing listens there: connections are refused
    database.close()
    try:
        body = envelope(event_item(event_id=uuid.uuid4().hex))
        fast, normal = both(monkeypatch, path, body, method="POST", headers=headers)
    finally:
        database.settings_dict.update(real)
        database.close()
    assert fast[0] == 503 and fast[1]["Retry-After"] == "5"
    assert_same(fast, normal)


@pytest.mark.parametrize(
    ("suffix", "method", "body", "status"),
    [
        ("", "GET", b"", 200),
        ("/start", "POST", b"backup started", 200),
        ("/fail", "HEAD", b"", 200),
        ("/999", "GET", b"", 400),
        ("/log", "POST", b"x" * 200, 413),
    ],
)
def test_pings_are_answered_the_same(db, monkeypatch, settings, suffix, method, body, status):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "MAX_REQUEST_BYTES": 100}
    monitor = make_heartbeat()
    fast, normal = both(monkeypatch, f"/ping/{monitor.ping_key}{suffix}", body, method=method)
    assert fast[0] == status
    if method == "HEAD":
        normal = (*normal[:2], b"")  # gunicorn drops a HEAD answer's body; the fast path never sends one
    assert_same(fast, normal)


def test_an_unknown_ping_key_is_the_same_404(db, monkeypatch):
    fast, normal = both(monkeypatch, f"/ping/{uuid.uuid4()}")
    assert fast[0] == 404
    assert_same(fast, normal)


@pytest.mark.parametrize(
    "path", ["/status/acme/", "/status/acme/api/v2/summary.json", "/status/acme/feed.atom", "/badge/acme.svg"]
)
def test_cached_status_page_outputs_are_answered_the_same(db, monkeypatch, path):
    make_layout(make_page())
    assert call(path, method="GET")[0] == 200  # now cached
    fast, normal = both(monkeypatch, path)
    assert fast[0] == 200
    assert_same(fast, normal)
    fast, normal = both(monkeypatch, path, headers={"HTTP_IF_NONE_MATCH": fast[1]["ETag"]})
    assert fast[0] == 304
    assert_same(fast, normal)


def test_https_answers_carry_hsts_on_every_fast_route(db, monkeypatch, settings, project, project_key):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    https = {"HTTP_X_FORWARDED_PROTO": "https"}
    app = FastPath(WSGIHandler(), FAST_ROUTES)  # middleware reads these settings when it is built
    make_layout(make_page())
    assert call("/status/acme/", method="GET", headers=https, app=app)[0] == 200
    monitor = make_heartbeat()
    for path, method, body, headers in [
        ("/status/acme/", "GET", b"", https),
        (f"/ping/{monitor.ping_key}", "GET", b"", https),
        (f"/api/{project.id}/envelope/", "POST", envelope(event_item()), {**https, **sentry_auth(project_key)}),
    ]:
        fast, normal = both(monkeypatch, path, body, method=method, headers=headers, app=app)
        assert fast[1]["Strict-Transport-Security"] == "max-age=31536000"
        assert_same(fast, normal)
    # Plain HTTP is redirected, by Django itself.
    assert call(f"/ping/{monitor.ping_key}", method="GET", app=app)[0] == 301


@pytest.mark.parametrize(
    "path",
    [
        "/api/42/envelope/",
        "/api/42/store/",
        "/api/4x/envelope/",
        "/api/42/envelope",
        "/ping/0b7b5f3e-6c0f-4a8e-9d9b-2f1f1c3c4d5e",
        "/ping/0b7b5f3e-6c0f-4a8e-9d9b-2f1f1c3c4d5e/start",
        "/ping/0B7B5F3E-6C0F-4A8E-9D9B-2F1F1C3C4D5E",
        "/ping/0b7b5f3e6c0f4a8e9d9b2f1f1c3c4d5e",
        "/status/acme/",
        "/status/a/",
        "/status/-acme/",
        "/status/acme-/",
        "/status/" + "a" * 51 + "/",
        "/status/acme/api/v2/summary.json",
        "/status/acme/feed.rss",
        "/status/acme/incidents/abcdefabcdef/",
        "/badge/acme.svg",
        "/badge/acme/abcdefabcdef.svg",
        "/status/acme/history/",
    ],
)
def test_the_fast_path_and_the_urlconf_agree_on_every_path(path):
    """The routes are the URLconf's own patterns: a path means the same view, or nothing, to both."""
    try:
        resolved = resolve(path)
    except Resolver404:
        resolved = None
    for method in ("GET", "POST"):
        found = application.match(method, path)
        if found is None:
            continue
        view, kwargs, name, _ = found
        assert resolved is not None, f"{path} is a fast route but not in the URLconf"
        assert (view, kwargs, name) == (resolved.func, resolved.kwargs, resolved.view_name)


def test_every_middleware_has_a_stated_part_on_the_fast_path():
    assert set(fastpath.MIDDLEWARE_ON_FAST_ROUTES) == set(django_settings.MIDDLEWARE)
    installed = [import_string(path) for path in django_settings.MIDDLEWARE]
    assert all(cls in installed for cls in fastpath.FIXED_HEADER_MIDDLEWARE)


@pytest.mark.parametrize("form", ["upper", "no hyphens"])
def test_ping_keys_in_any_case_and_without_hyphens_are_pings(db, monkeypatch, form):
    monitor = make_heartbeat()
    key = str(monitor.ping_key).upper() if form == "upper" else monitor.ping_key.hex
    fast, normal = both(monkeypatch, f"/ping/{key}")
    assert fast[0] == 200 and fast[2] == b"OK"
    assert_same(fast, normal)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no server to lose")
@pytest.mark.django_db(transaction=True)
def test_a_ping_without_its_database_is_a_plain_503_on_both_paths_and_never_retried(monkeypatch):
    calls = []
    real = ping_module._record
    monkeypatch.setattr(ping_module, "_record", lambda *args: calls.append(1) or real(*args))
    database = connections["default"]
    saved = dict(database.settings_dict)
    database.settings_dict.update(HOST="127.0.0.1", PORT="9")  # nothing listens there
    database.close()
    try:
        fast, normal = both(monkeypatch, f"/ping/{uuid.uuid4()}")  # an unknown key: looked up in the database
    finally:
        database.settings_dict.update(saved)
        database.close()
    assert fast[0] == 503 and fast[2] == b"database unavailable" and fast[1]["Retry-After"] == "5"
    assert fast[1]["Access-Control-Allow-Origin"] == "*"
    assert_same(fast, normal)
    assert len(calls) == 2  # once per path: a GET ping writes, so it is never run twice


def test_refused_events_count_as_rejected_on_both_paths(project, project_key, monkeypatch, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 1024}

    def rejected() -> float:
        return REGISTRY.get_sample_value("tracepoint_ingest_events_total", {"outcome": "rejected"}) or 0.0

    before = rejected()
    fast, normal = both(monkeypatch, f"/api/{project.id}/envelope/", b"x" * 4096, method="POST")
    assert fast[0] == normal[0] == 413
    assert rejected() == before + 2
