"""``/api/v1/monitors``: CRUD with validation, ping_url, results, uptime, pause/resume, check-now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitors import services
from monitors.models import Monitor, MonitorStatus
from monitors.probes import CheckResult
from monitors.scheduler import claim_due, record_result
from tests.helpers import Target

URL = "/api/v1/monitors"


@pytest.fixture
def allow_private(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


def test_responders_create_http_tcp_and_heartbeat_monitors(responder_client, allow_private, settings):
    http = responder_client.post(
        URL,
        {"name": "Shop", "kind": "http", "url": "http://127.0.0.1:9/health", "keyword": "ok", "interval_seconds": 30},
        format="json",
    )
    assert http.status_code == 201, http.json()
    assert http.json()["status"] == "pending" and http.json()["ping_url"] is None
    assert Monitor.objects.get(pk=http.json()["id"]).next_check_at is not None  # due at once
    tcp = responder_client.post(URL, {"name": "DB", "kind": "tcp", "host": "127.0.0.1", "port": 5432}, format="json")
    assert tcp.status_code == 201, tcp.json()
    beat = responder_client.post(
        URL,
        {"name": "Backup", "kind": "heartbeat", "schedule_kind": "cron", "cron": "0 3 * * *", "tz": "Europe/Paris"},
        format="json",
    )
    assert beat.status_code == 201, beat.json()
    key = Monitor.objects.get(pk=beat.json()["id"]).ping_key
    assert beat.json()["ping_url"] == f"{settings.TRACEPOINT['BASE_URL'].rstrip('/')}/ping/{key}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "http", "url": "ftp://example.com/"}, "url"),
        ({"kind": "http", "url": "https://example.com/", "interval_seconds": 5}, "interval_seconds"),
        ({"kind": "http", "url": "https://example.com/", "timeout_seconds": 90}, "timeout_seconds"),
        ({"kind": "http", "url": "https://example.com/", "expected_statuses": "2xx"}, "expected_statuses"),
        ({"kind": "tcp", "host": "example.com", "port": 70000}, "port"),
        ({"kind": "heartbeat", "schedule_kind": "cron", "cron": "every day"}, "cron"),
        ({"kind": "heartbeat", "tz": "Mars/Olympus"}, "tz"),
        ({"kind": "heartbeat", "period_seconds": 10}, "period_seconds"),
    ],
)
def test_bad_settings_are_400_naming_the_field(responder_client, body, field):
    response = responder_client.post(URL, {"name": "x", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_private_targets_are_refused_when_saving(responder_client, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    for body in (
        {"kind": "http", "url": "http://169.254.169.254/latest/meta-data/"},
        {"kind": "http", "url": "http://localhost:8000/"},
        {"kind": "tcp", "host": "10.0.0.5", "port": 6379},
    ):
        response = responder_client.post(URL, {"name": "x", **body}, format="json")
        assert response.status_code == 400, body
        assert "monitors may not reach it" in str(response.json()["details"])


def test_viewers_read_only_and_anonymous_401(viewer_client, anonymous_client, db):
    Monitor.objects.create(name="Shop", kind="http", url="https://example.com/")
    assert viewer_client.get(URL).json()["count"] == 1
    assert viewer_client.post(URL, {"name": "x", "kind": "http", "url": "https://example.com/"}).status_code == 403
    assert anonymous_client.get(URL).status_code == 401


def test_results_and_uptime(viewer_client, db):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://example.com/", down_after=1)
    now = timezone.now()
    monitor.periods.update(started_at=now - timedelta(hours=3))  # as if created three hours ago
    record_result(monitor.pk, CheckResult("up", 40), now=now - timedelta(hours=2))
    record_result(monitor.pk, CheckResult("down", None, "HTTP 500"), now=now - timedelta(hours=1))
    record_result(monitor.pk, CheckResult("up", 60), now=now - timedelta(minutes=30))
    results = viewer_client.get(f"{URL}/{monitor.pk}/results", {"since": (now - timedelta(hours=3)).isoformat()}).json()
    assert results["resolution"] == "minute"
    assert [p["status"] for p in results["periods"]] == ["pending", "up", "down", "up"]
    assert [point["count"] for point in results["latency"]] == [1, 1, 1]
    uptime = viewer_client.get(f"{URL}/{monitor.pk}/uptime", {"window": "24h"}).json()
    assert uptime["uptime_percent"] == pytest.approx(100 * 1.5 / 2, abs=0.1)
    bad = viewer_client.get(f"{URL}/{monitor.pk}/uptime", {"window": "1y"})
    assert bad.status_code == 400 and "window" in bad.json()["details"]
    wide = viewer_client.get(
        f"{URL}/{monitor.pk}/results", {"since": (now - timedelta(days=3)).isoformat(), "resolution": "minute"}
    )
    assert wide.status_code == 400


def test_pause_resume_and_check_now(responder_client, allow_private, db):
    target = Target()
    try:
        monitor = services.create_monitor(name="Shop", kind="http", url=target.url, keyword="all good")
        checked = responder_client.post(f"{URL}/{monitor.pk}/check-now").json()
        assert checked["result"]["status"] == "up" and checked["monitor"]["status"] == "up"
        paused = responder_client.post(f"{URL}/{monitor.pk}/pause").json()
        assert paused["status"] == "paused"
        assert claim_due(now=timezone.now() + timedelta(hours=1)) == []
        resumed = responder_client.post(f"{URL}/{monitor.pk}/resume").json()
        assert resumed["status"] == "pending"
    finally:
        target.close()
    beat = services.create_monitor(name="Job", kind="heartbeat")
    assert responder_client.post(f"{URL}/{beat.pk}/check-now").status_code == 400


def test_an_edit_reschedules_and_the_kind_cannot_change(responder_client, db):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://example.com/")
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
    response = responder_client.patch(f"{URL}/{monitor.pk}", {"interval_seconds": 120}, format="json")
    assert response.status_code == 200, response.json()
    assert Monitor.objects.get(pk=monitor.pk).next_check_at <= timezone.now()
    assert responder_client.patch(f"{URL}/{monitor.pk}", {"kind": "tcp"}, format="json").status_code == 400
    assert Monitor.objects.get(pk=monitor.pk).status == MonitorStatus.PENDING
