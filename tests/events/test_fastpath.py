"""The production WSGI application (`tracepoint.wsgi`) sends Sentry ingest past Django's middleware."""

from __future__ import annotations

import gzip
import io
import json
import logging
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from events import digestion, keys
from events.models import Event, Issue, ReceivedEvent
from tests.helpers import call, digest_all, envelope, event_item, run_without_database
from tracepoint.wsgi import application

ROOT = Path(__file__).resolve().parents[2]


def auth(key: str) -> dict:
    return {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"}


def test_an_envelope_is_stored_without_the_middleware_chain(project, project_key, monkeypatch):
    from django.core.handlers.wsgi import WSGIHandler

    def not_django(*args, **kwargs):
        raise AssertionError("the Django handler must not see ingest requests")

    monkeypatch.setattr(WSGIHandler, "__call__", not_django)
    body = gzip.compress(envelope(event_item(message="checkout failed")))
    status, headers, content = call(
        f"/api/{project.id}/envelope/", body, headers={**auth(project_key), "HTTP_CONTENT_ENCODING": "gzip"}
    )
    assert status == 200
    assert json.loads(content) == {"id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert uuid.UUID(headers["X-Request-ID"])
    assert ReceivedEvent.objects.count() == 1
    assert digest_all() == 1
    assert Event.objects.get().message == "checkout failed"


def test_the_store_endpoint_takes_the_fast_path_too(project, project_key):
    body = json.dumps({"event_id": uuid.uuid4().hex, "message": "legacy client", "level": "error"}).encode()
    status, _, _ = call(f"/api/{project.id}/store/", body, headers=auth(project_key))
    assert status == 200
    assert ReceivedEvent.objects.count() == 1
    assert digest_all() == 1
    assert Event.objects.get().message == "legacy client"


def test_a_sane_request_id_is_echoed_and_a_bad_one_replaced(project, project_key):
    body = envelope(event_item())
    _, headers, _ = call(
        f"/api/{project.id}/envelope/", body, headers={**auth(project_key), "HTTP_X_REQUEST_ID": "lb-42"}
    )
    assert headers["X-Request-ID"] == "lb-42"
    _, headers, _ = call(
        f"/api/{project.id}/envelope/", body, headers={**auth(project_key), "HTTP_X_REQUEST_ID": "bad id\r\nx"}
    )
    assert uuid.UUID(headers["X-Request-ID"])


def test_each_request_is_logged_as_one_line_with_its_id(project, project_key, caplog):
    caplog.set_level("DEBUG", logger="tracepoint.request")
    _, headers, _ = call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth(project_key))
    [record] = [r for r in caplog.records if r.name == "tracepoint.request"]
    assert (record.method, record.status, record.request_id) == ("POST", 200, headers["X-Request-ID"])
    assert record.path == f"/api/{project.id}/envelope/"
    assert record.levelno == logging.DEBUG  # an accepted event is counted; a line each would drown the log

    caplog.clear()
    _, headers, _ = call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth("0" * 32))
    [record] = [r for r in caplog.records if r.name == "tracepoint.request"]
    assert (record.status, record.request_id, record.levelno) == (401, headers["X-Request-ID"], logging.INFO)


def test_bad_keys_are_refused_in_the_error_shape(project):
    status, headers, content = call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth("0" * 32))
    assert status == 401
    assert json.loads(content)["code"] == "AUTHENTICATION_REQUIRED"
    assert headers["X-Sentry-Error"]
    assert not ReceivedEvent.objects.exists()


def test_a_body_over_the_limit_is_refused_before_it_is_read(project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 2048}
    body = b"x" * 4096
    status, headers, content = call(f"/api/{project.id}/envelope/", body, headers=auth(project_key))
    assert status == 413
    assert json.loads(content)["details"] == {"limit_bytes": 2048}
    assert headers["X-Sentry-Error"] == "request body too large"
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_an_unknown_host_is_refused(project, project_key, settings):
    settings.ALLOWED_HOSTS = ["tracepoint.example.com"]
    status, _, content = call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth(project_key))
    assert status == 400
    assert json.loads(content)["code"] == "VALIDATION_ERROR"
    assert not ReceivedEvent.objects.exists()


def test_the_host_verdict_remembered_for_speed_follows_allowed_hosts(project, project_key, settings):
    url, body = f"/api/{project.id}/envelope/", envelope(event_item())
    assert call(url, body, headers=auth(project_key))[0] == 200  # the test Host, remembered as allowed
    settings.ALLOWED_HOSTS = ["tracepoint.example.com"]
    assert call(url, body, headers=auth(project_key))[0] == 400  # the change of settings is seen at once
    headers = {**auth(project_key), "HTTP_HOST": "tracepoint.example.com"}
    assert call(url, body, headers=headers)[0] == 200
    assert call(url, body, headers={**headers, "HTTP_HOST": "evil.example"})[0] == 400


def test_a_key_in_the_query_string_is_still_read(project, project_key):
    url, body = f"/api/{project.id}/envelope/", envelope(event_item())
    status, _, content = call(url, body, headers={"QUERY_STRING": f"sentry_key={project_key}"})
    assert status == 200, content
    status, _, content = call(url, body, headers={**auth(project_key), "QUERY_STRING": f"sentry_key={'0' * 32}"})
    assert status == 400 and b"several different keys" in content


@pytest.mark.parametrize("method", ["OPTIONS", "GET"])
def test_other_methods_still_go_through_django(project, method):
    status, headers, _ = call(
        f"/api/{project.id}/envelope/", method=method, headers={"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}
    )
    assert status == (200 if method == "OPTIONS" else 405)
    assert "X-Request-ID" in headers
    if method == "OPTIONS":
        assert "POST" in headers["Access-Control-Allow-Methods"]


def test_other_paths_go_through_django(db):
    status, headers, _ = call("/api/v1/issues", method="GET")
    assert status == 401
    assert "X-Request-ID" in headers


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no server connection to lose")
@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_between_requests_is_replaced_and_the_event_kept(project, project_key, caplog):
    assert call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth(project_key))[0] == 200
    # What a database restart or an idle timeout does to a kept connection.
    backend_pid = connection.connection.info.backend_pid
    with psycopg.connect(_dsn(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid]).fetchone()[0]
    body = envelope(event_item(message="after the restart"), header={"event_id": uuid.uuid4().hex})
    status, _, _ = call(f"/api/{project.id}/envelope/", body, headers=auth(project_key))
    assert status == 200
    assert f"database connection lost on /api/{project.id}/envelope/; retrying" in caplog.text
    assert ReceivedEvent.objects.count() == 2
    assert digest_all() == 2
    assert Event.objects.filter(message="after the restart").count() == 1


def test_an_unreachable_database_is_a_503_with_retry_after(tmp_path):
    # A separate process whose database cannot be opened at all.
    script = f"""
import io, json, sys
from tracepoint.wsgi import application  # sets Django up
from tests.helpers import call
key = "Sentry sentry_key={"a" * 32}"
status, headers, content = call("/api/1/envelope/", b"{{}}", headers={{"HTTP_X_SENTRY_AUTH": key}})
print(json.dumps([status, headers.get("Retry-After"), json.loads(content)["code"]]))
"""
    last_line = run_without_database(script, tmp_path, allowed_host="testserver", timeout=60)
    assert json.loads(last_line) == [503, "5", "SERVICE_UNAVAILABLE"]


def test_a_key_is_remembered_for_a_while_and_revocation_here_applies_at_once(project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_KEY_CACHE_SECONDS": 60}
    key = project.keys.get()
    assert keys.authenticate_key(project_key).pk == key.pk
    with connection.execute_wrapper(_no_queries):
        assert keys.authenticate_key(project_key).pk == key.pk  # remembered: no query
    keys.revoke_key(key)
    with pytest.raises(keys.InvalidProjectKey):
        keys.authenticate_key(project_key)


def test_a_key_revoked_by_another_process_stops_working_after_the_cache_time(
    project, project_key, settings, monkeypatch
):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_KEY_CACHE_SECONDS": 10}
    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    keys.authenticate_key(project_key)
    project.keys.update(is_active=False)  # as another web process's revoke would
    clock[0] += 9
    assert keys.authenticate_key(project_key).project_id == project.id
    clock[0] += 2
    with pytest.raises(keys.InvalidProjectKey):
        keys.authenticate_key(project_key)


def test_unknown_keys_are_not_remembered(project, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_KEY_CACHE_SECONDS": 60}
    with pytest.raises(keys.InvalidProjectKey):
        keys.authenticate_key("a" * 32)
    project.keys.create(public_key="a" * 32, label="new")
    assert keys.authenticate_key("a" * 32).project_id == project.id


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    )


def _no_queries(execute, sql, params, many, context):
    raise AssertionError(f"unexpected query: {sql}")


@pytest.mark.django_db(transaction=True)
def test_with_redis_unreachable_events_are_accepted_kept_and_grouped_by_the_sweeper(
    project, project_key, settings, caplog
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: the wake-up cannot be sent
    for n in (1, 2):
        body = envelope(event_item(message=f"order {n} failed"), header={"event_id": uuid.uuid4().hex})
        assert call(f"/api/{project.id}/envelope/", body, headers=auth(project_key))[0] == 200
    assert ReceivedEvent.objects.count() == 2 and not Event.objects.exists()
    # One failed attempt, then this process stops trying for a while instead of slowing every request.
    assert caplog.text.count("could not queue digestion") == 1
    assert digestion.sweep_undigested(older_than_seconds=0) == 2
    assert Issue.objects.get().event_count == 2


@pytest.mark.django_db(transaction=True)
def test_a_remembered_key_of_a_project_deleted_elsewhere_is_a_401_not_a_500(project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_KEY_CACHE_SECONDS": 60}
    assert call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth(project_key))[0] == 200
    Event.objects.all().delete()
    type(project).objects.filter(pk=project.pk).delete()  # as another process would: this one keeps the key
    body = envelope(event_item(), header={"event_id": uuid.uuid4().hex})
    status, _, content = call(f"/api/{project.id}/envelope/", body, headers=auth(project_key))
    assert status == 401
    assert json.loads(content)["code"] == "AUTHENTICATION_REQUIRED"
    assert not keys._key_cache  # forgotten, so the next request asks the database


def test_an_envelope_without_any_event_id_is_stored_once_even_when_retried(project, project_key):
    from django.test import RequestFactory

    from events import sentry

    body = envelope(event_item(event_id=None), header={})
    request = RequestFactory().generic(
        "POST", f"/api/{project.id}/envelope/", body, content_type="application/x-sentry-envelope", **auth(project_key)
    )
    first = json.loads(sentry.envelope_view(request, project_id=project.id).content)["id"]
    again = json.loads(sentry.envelope_view(request, project_id=project.id).content)["id"]  # what the retry does
    assert first == again
    assert ReceivedEvent.objects.get().event_id.hex == first
    assert digest_all() == 1
    assert Event.objects.get().event_id.hex == first


def test_fast_path_answers_carry_the_security_headers(project, project_key):
    _, headers, _ = call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth(project_key))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


def test_with_https_required_plain_http_goes_to_django_and_a_proxy_header_counts(
    project, project_key, settings, monkeypatch
):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    handed_over = []

    def django(environ, start_response):  # stands in for Django's handler, whose SecurityMiddleware redirects
        handed_over.append(environ["PATH_INFO"])
        start_response("301 Moved Permanently", [("Location", "https://testserver" + environ["PATH_INFO"])])
        return [b""]

    monkeypatch.setattr(application, "app", django)
    status, _, _ = call(f"/api/{project.id}/envelope/", envelope(event_item()), headers=auth(project_key))
    assert (status, handed_over) == (301, [f"/api/{project.id}/envelope/"])
    status, _, _ = call(
        f"/api/{project.id}/envelope/",
        envelope(event_item()),
        headers={**auth(project_key), "HTTP_X_FORWARDED_PROTO": "https"},
    )
    assert status == 200 and len(handed_over) == 1
    assert ReceivedEvent.objects.count() == 1
    assert digest_all() == 1
    assert Event.objects.count() == 1


def test_the_body_is_not_read_when_its_declared_length_is_over_the_limit(project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 2048}

    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read")

    environ_body = Unreadable(b"x" * 4096)
    status, _, _ = call(
        f"/api/{project.id}/envelope/",
        b"",
        headers={**auth(project_key), "CONTENT_LENGTH": "4096", "wsgi.input": environ_body},
    )
    assert status == 413
