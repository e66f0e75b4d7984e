"""/metrics: Prometheus text format, restricted to a token or allowed networks, summed over gunicorn workers."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.test import Client

from incidents.models import Status
from monitors.models import Monitor, MonitorStatus
from tests.factories import make_incident
from tests.helpers import samples, value
from tests.net import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


def test_the_state_of_monitors_incidents_and_ingest_is_exported(db):
    Monitor.objects.create(
        name="a", kind="http", url="https://a.example/", status=MonitorStatus.DOWN, last_latency_ms=40
    )
    Monitor.objects.create(
        name="b", kind="http", url="https://b.example/", status=MonitorStatus.UP, last_latency_ms=900
    )
    make_incident(severity="SEV1")
    make_incident(severity="SEV1", status=Status.RESOLVED)
    client = Client()
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    found = samples(response.content.decode())
    assert value(found, "tracepoint_monitors", status="down") == 1
    assert value(found, "tracepoint_monitors", status="up") == 1
    assert value(found, "tracepoint_incidents_open", severity="SEV1") == 1
    assert value(found, "tracepoint_monitor_check_latency_seconds_bucket", le="0.05") == 1
    assert value(found, "tracepoint_monitor_check_latency_seconds_bucket", le="+Inf") == 2
    assert ("tracepoint_ingest_digest_lag_seconds", ()) in found
    assert value(found, "tracepoint_http_requests_total", route="health", method="GET", status="200") >= 1
    assert any(name == "tracepoint_http_request_duration_seconds_bucket" for name, _ in found)


def test_pings_are_counted_by_outcome(db):
    job = Monitor.objects.create(name="job", kind="heartbeat")
    before = samples(Client().get("/metrics").content.decode())
    Client().get(f"/ping/{job.ping_key}")
    Client().get(f"/ping/{job.ping_key}/999")
    after = samples(Client().get("/metrics").content.decode())
    for outcome in ("accepted", "invalid"):
        name = "tracepoint_heartbeat_pings_total"
        assert value(after, name, outcome=outcome) == value(before, name, outcome=outcome) + 1


def test_only_allowed_networks_or_the_token_may_scrape(db, settings):
    outsider = Client(REMOTE_ADDR="203.0.113.7")
    assert outsider.get("/metrics").status_code == 404
    settings.TRACEPOINT = {**settings.TRACEPOINT, "METRICS_TOKEN": "scrape-me-0123456789"}
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").status_code == 200
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    settings.TRACEPOINT = {**settings.TRACEPOINT, "METRICS_ALLOWED_NETWORKS": [ipaddress.ip_network("203.0.113.0/24")]}
    assert outsider.get("/metrics").status_code == 200


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="a gunicorn next to the test database needs PostgreSQL")
def test_counters_are_summed_over_every_gunicorn_worker(tmp_path, db):
    from django.db import connection

    port = free_port()
    database_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    env = {**os.environ, "TRACEPOINT_VAR_DIR": str(tmp_path), "DEBUG": "false", "SECRET_KEY": "x" * 50}
    env["DATABASE_URL"] = database_url
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "python:tracepoint.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health", process=proc)
        for _ in range(60):
            requests.get(f"{base}/health", timeout=5)  # a new connection each: spread over the workers
        found = samples(requests.get(f"{base}/metrics", timeout=10).text)
        assert value(found, "tracepoint_http_requests_total", route="health", method="GET", status="200") >= 61
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert list(tmp_path.glob("metrics-*/*.db")), "the workers wrote their counters to files"


def test_a_source_that_fails_leaves_the_rest_of_the_scrape_intact(db, monkeypatch):
    from tracepoint import scrape

    def broken():
        raise ConnectionError("redis is away")

    monkeypatch.setattr(scrape, "_celery_queue_depth", broken)
    response = Client().get("/metrics")
    assert response.status_code == 200
    found = samples(response.content.decode())
    assert ("tracepoint_celery_queue_depth", ()) not in found
    assert value(found, "tracepoint_incidents_open", severity="SEV2") == 0
    assert ("tracepoint_ingest_digest_lag_seconds", ()) in found


def test_the_digest_lag_counts_sdk_events_received_and_not_yet_mapped(db, time_machine):
    import uuid
    from datetime import UTC, datetime, timedelta

    from events import keys
    from events.ingest import receive

    received_at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    project = keys.create_project(name="Shop", slug="shop")
    receive(project, uuid.uuid4(), body=b"{}", encoding="", envelope=False, now=received_at)
    time_machine.move_to(received_at + timedelta(seconds=42), tick=False)

    found = samples(Client().get("/metrics").content.decode())

    assert value(found, "tracepoint_ingest_digest_lag_seconds") == 42
