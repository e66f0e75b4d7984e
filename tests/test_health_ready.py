import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.test import Client, override_settings

from tests.net import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


def test_health_answers_without_touching_the_database(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ready_checks_database_cache_broker_and_a_recent_worker_heartbeat():
    from tracepoint.tasks import record_heartbeat

    stamp = record_heartbeat()
    response = Client().get("/ready")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "worker": "ok"}
    assert body["worker_heartbeat"] == stamp


@pytest.mark.django_db
def test_ready_is_503_without_any_worker_heartbeat():
    response = Client().get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["failed"] == ["worker"]
    assert body["details"]["checks"]["worker"] == "error: no worker heartbeat recorded yet"
    assert body["details"]["worker_heartbeat"] is None
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_ready_is_503_when_the_last_heartbeat_is_stale(time_machine, settings):
    from tracepoint.tasks import record_heartbeat

    settings.TRACEPOINT = {**settings.TRACEPOINT, "WORKER_HEARTBEAT_MAX_AGE_SECONDS": 90}
    time_machine.move_to("2026-12-06 12:00:00+00:00", tick=False)
    stamp = record_heartbeat()
    time_machine.move_to("2026-12-06 12:01:30+00:00", tick=False)
    assert Client().get("/ready").status_code == 200  # 90 s: still fresh
    time_machine.move_to("2026-12-06 12:01:31+00:00", tick=False)
    response = Client().get("/ready")
    assert response.status_code == 503
    details = response.json()["details"]
    assert details["failed"] == ["worker"]
    assert details["checks"]["worker"] == "error: last worker heartbeat 91 s ago (limit 90 s)"
    assert details["worker_heartbeat"] == stamp


@pytest.mark.django_db
def test_ready_runs_only_the_checks_asked_for():
    response = Client().get("/ready?checks=database,cache,broker")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["checks=database,disk", "checks=", "checks=,"])
def test_ready_refuses_unknown_checks(query):
    response = Client().get(f"/ready?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"]["allowed"] == ["database", "cache", "broker", "worker"]


@pytest.mark.django_db
def test_ready_names_an_unreachable_broker():
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={}):
        response = Client().get("/ready?checks=database,cache,broker")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["failed"] == ["broker"]
    assert body["details"]["checks"]["database"] == "ok"
    assert "broker" in body["message"]


def test_health_and_ready_refuse_writes(db):
    assert Client().post("/health").status_code == 405
    assert Client().post("/ready").status_code == 405


@pytest.fixture
def server_without_database(tmp_path):
    """A real gunicorn whose DATABASE_URL points at a closed port."""
    port = free_port()
    closed = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="tracepoint.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed}/tracepoint",
        TRACEPOINT_VAR_DIR=str(tmp_path),
        DEBUG="false",
        SECRET_KEY="x" * 50,
        REDIS_URL="",
        CELERY_BROKER_URL="",
        DATABASE_CONNECT_TIMEOUT="2",
    )
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "python:tracepoint.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/health", process=proc)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_ready_is_503_naming_the_database_when_it_is_down(server_without_database):
    base = server_without_database
    assert requests.get(f"{base}/health", timeout=5).status_code == 200
    response = requests.get(f"{base}/ready?checks=database,cache,broker", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["failed"] == ["database"]
    assert body["details"]["checks"]["cache"] == "ok"
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_api_calls_are_503_not_500_when_the_database_is_down(server_without_database):
    base = server_without_database
    response = requests.post(f"{base}/api/v1/auth/token", json={"username": "a", "password": "b"}, timeout=10)
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "5"
    # Token authentication needs the database too.
    authed = requests.get(f"{base}/api/v1/incidents", headers={"Authorization": "Token tp_x"}, timeout=10)
    assert authed.status_code == 503
    assert authed.json()["code"] == "SERVICE_UNAVAILABLE"


def test_pages_show_a_503_page_when_the_database_is_down(server_without_database):
    base = server_without_database
    response = requests.get(f"{base}/", cookies={"sessionid": "a" * 32}, timeout=10, allow_redirects=False)
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.text


def test_probes_answer_any_host_and_plain_http(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client(HTTP_HOST="10.42.0.7:8000")
    assert client.get("/health").status_code == 200
    assert client.get("/ready?checks=database,cache,broker").status_code == 200
    # Everything else still validates the host and redirects to HTTPS.
    assert client.get("/login/").status_code == 400
    assert Client().get("/login/").status_code == 301


def test_probe_requests_log_at_debug_level(db, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="tracepoint.request")
    Client().get("/health")
    assert [r.levelno for r in caplog.records if r.name == "tracepoint.request"] == [logging.DEBUG]


def test_deploy_check_warns_when_email_only_reaches_the_console(settings):
    from tracepoint.checks import email_is_delivered

    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert [w.id for w in email_is_delivered(None)] == ["tracepoint.W001"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert email_is_delivered(None) == []
