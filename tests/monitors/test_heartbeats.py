"""Heartbeat monitors: the ping endpoints and deadlines of shared/specs/heartbeat-pings.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from monitors import pingbuffer, services
from monitors.heartbeats import compute_alert_after, grace_start, is_late, ping_log_kept, trim_pings
from monitors.models import HeartbeatPing, Monitor, MonitorStatus, StatusPeriod
from monitors.ping import InvalidPing, record_ping
from monitors.scheduler import mark_late_heartbeats
from tests.factories import make_heartbeat
from tracepoint.errors import NotFoundError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def refreshed(monitor: Monitor) -> Monitor:
    pingbuffer.apply_pending()  # pings sent over HTTP wait in Redis when it is configured
    monitor.refresh_from_db()
    return monitor


# --- deadlines --------------------------------------------------------------------------------


def test_simple_schedule_is_late_at_the_period_and_down_after_the_grace(db):
    monitor = make_heartbeat()
    record_ping(monitor.ping_key, now=T0)
    monitor = refreshed(monitor)
    assert monitor.status == MonitorStatus.UP
    assert grace_start(monitor) == T0 + timedelta(hours=1)
    assert monitor.alert_after == T0 + timedelta(hours=1, minutes=5)
    assert not is_late(monitor, T0 + timedelta(minutes=59))
    assert is_late(monitor, T0 + timedelta(hours=1))
    assert mark_late_heartbeats(now=T0 + timedelta(hours=1, minutes=4, seconds=59)) == 0
    assert mark_late_heartbeats(now=T0 + timedelta(hours=2)) == 1
    monitor = refreshed(monitor)
    assert monitor.status == MonitorStatus.DOWN
    # Stamped with the deadline, not with when the sweeper noticed.
    assert monitor.status_changed_at == T0 + timedelta(hours=1, minutes=5)
    assert StatusPeriod.objects.get(monitor=monitor, ended_at__isnull=True).reason.startswith("the success signal")
    assert mark_late_heartbeats(now=T0 + timedelta(hours=3)) == 0  # down stays down, one flip


def test_cron_schedule_follows_the_spec_example(db):
    monitor = make_heartbeat(schedule_kind="cron", cron="10 * * * *", grace_seconds=300)
    record_ping(monitor.ping_key, now=T0.replace(minute=30))
    monitor = refreshed(monitor)
    assert grace_start(monitor) == T0.replace(hour=13, minute=10)
    assert monitor.alert_after == T0.replace(hour=13, minute=15)


def test_cron_in_a_timezone_across_a_dst_change(db):
    # Europe/Paris springs forward on 2026-03-29 at 02:00 local (01:00 UTC).
    monitor = make_heartbeat(schedule_kind="cron", cron="30 2 * * *", tz="Europe/Paris", grace_seconds=600)
    last = datetime(2026, 3, 27, 1, 30, tzinfo=UTC)  # 02:30 CET on the 27th
    record_ping(monitor.ping_key, now=last)
    monitor = refreshed(monitor)
    assert grace_start(monitor) == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)
    record_ping(monitor.ping_key, now=datetime(2026, 3, 28, 1, 30, tzinfo=UTC))
    # 02:30 does not exist on the 29th; cronsim runs it at 03:00 CEST = 01:00 UTC.
    assert grace_start(refreshed(monitor)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_a_new_monitor_never_goes_down_by_itself(db):
    monitor = make_heartbeat()
    assert mark_late_heartbeats(now=T0 + timedelta(days=30)) == 0
    assert refreshed(monitor).status == MonitorStatus.PENDING


# --- start, run time, run ids ----------------------------------------------------------------


def test_a_start_without_completion_goes_down_after_the_grace(db):
    monitor = make_heartbeat(period_seconds=86400)
    record_ping(monitor.ping_key, now=T0)
    record_ping(monitor.ping_key, action="start", now=T0 + timedelta(hours=2))
    monitor = refreshed(monitor)
    assert monitor.status == MonitorStatus.UP  # a start changes no status
    assert monitor.last_ping_at == T0  # nor the last ping
    assert monitor.alert_after == T0 + timedelta(hours=2, minutes=5)
    assert mark_late_heartbeats(now=T0 + timedelta(hours=2, minutes=6)) == 1
    period = StatusPeriod.objects.get(monitor=monitor, ended_at__isnull=True)
    assert period.reason == "the job started but did not finish within the grace time"


def test_start_then_success_measures_the_run_time(db):
    monitor = make_heartbeat()
    record_ping(monitor.ping_key, action="start", now=T0)
    ping = record_ping(monitor.ping_key, now=T0 + timedelta(seconds=95))
    monitor = refreshed(monitor)
    assert ping.duration_ms == 95_000 and monitor.last_duration_ms == 95_000
    assert monitor.last_start_at is None


def test_run_ids_pair_starts_with_their_completion(db):
    monitor = make_heartbeat()
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    record_ping(monitor.ping_key, action="start", rid=run_a, now=T0)
    # A success of another run leaves this start pending.
    ping = record_ping(monitor.ping_key, rid=run_b, now=T0 + timedelta(seconds=10))
    assert ping.duration_ms is None and refreshed(monitor).last_start_at == T0
    # Its own success closes it with a duration.
    ping = record_ping(monitor.ping_key, rid=run_a, now=T0 + timedelta(seconds=30))
    assert ping.duration_ms == 30_000 and refreshed(monitor).last_start_at is None
    # A fail with a mismatched rid still clears a start.
    record_ping(monitor.ping_key, action="start", rid=run_a, now=T0 + timedelta(minutes=1))
    record_ping(monitor.ping_key, action="fail", rid=run_b, now=T0 + timedelta(minutes=2))
    monitor = refreshed(monitor)
    assert monitor.last_start_at is None and monitor.status == MonitorStatus.DOWN


# --- exit statuses, logs, pause ----------------------------------------------------------------


@pytest.mark.parametrize(("action", "status"), [("0", MonitorStatus.UP), ("1", MonitorStatus.DOWN), ("fail", "down")])
def test_exit_statuses_and_fail(db, action, status):
    monitor = make_heartbeat()
    record_ping(monitor.ping_key, action=action, now=T0)
    assert refreshed(monitor).status == status


def test_an_exit_status_over_255_and_a_bad_rid_are_refused(db):
    monitor = make_heartbeat()
    with pytest.raises(InvalidPing, match="invalid url format"):
        record_ping(monitor.ping_key, action="256", now=T0)
    with pytest.raises(InvalidPing, match="invalid uuid format"):
        record_ping(monitor.ping_key, rid="not-a-uuid", now=T0)
    with pytest.raises(NotFoundError):
        record_ping(uuid.uuid4(), now=T0)
    assert not HeartbeatPing.objects.exists()


def test_a_log_ping_changes_nothing_but_is_kept(db):
    monitor = make_heartbeat()
    record_ping(monitor.ping_key, now=T0)
    record_ping(monitor.ping_key, action="log", method="POST", body=b"disk 91% full", now=T0 + timedelta(1))
    monitor = refreshed(monitor)
    assert monitor.last_ping_at == T0 and monitor.status == MonitorStatus.UP
    assert HeartbeatPing.objects.filter(kind="log").get().body == "disk 91% full"


def test_a_paused_monitor_resumes_on_a_ping_unless_manual_resume_is_set(db):
    monitor = make_heartbeat()
    record_ping(monitor.ping_key, now=T0)
    services.pause(monitor.pk, now=T0 + timedelta(minutes=1))
    assert refreshed(monitor).alert_after is None
    assert mark_late_heartbeats(now=T0 + timedelta(days=2)) == 0
    record_ping(monitor.ping_key, now=T0 + timedelta(minutes=2))
    assert refreshed(monitor).status == MonitorStatus.UP

    strict = make_heartbeat(name="strict", manual_resume=True)
    services.pause(strict.pk, now=T0)
    ping = record_ping(strict.ping_key, action="fail", now=T0 + timedelta(minutes=1))
    assert ping.kind == HeartbeatPing.Kind.IGNORED
    assert refreshed(strict).status == MonitorStatus.PAUSED


def test_the_ping_log_is_trimmed_to_the_newest(db):
    monitor = make_heartbeat()
    for n in range(ping_log_kept() + 40):
        record_ping(monitor.ping_key, action="log", now=T0 + timedelta(seconds=n))
    assert HeartbeatPing.objects.filter(monitor=monitor).count() <= ping_log_kept() + 20
    newest = HeartbeatPing.objects.filter(monitor=monitor).first()
    assert newest.created_at == T0 + timedelta(seconds=ping_log_kept() + 39)


def test_the_ping_log_length_is_a_setting(db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PING_LOG_KEPT": 10}
    monitor = make_heartbeat()
    for n in range(45):
        record_ping(monitor.ping_key, action="log", now=T0 + timedelta(seconds=n))
    # Trimmed every 20th ping, to the newest 10: at most 10 + 19 in between.
    assert HeartbeatPing.objects.filter(monitor=monitor).count() <= 10 + 19
    trim_pings([monitor.pk])
    assert HeartbeatPing.objects.filter(monitor=monitor).count() == 10


# --- the HTTP endpoints ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "head", "post"])
def test_the_endpoint_accepts_get_head_and_post_without_csrf_or_login(client, db, method):
    from django.test import Client

    monitor = make_heartbeat()
    strict_client = Client(enforce_csrf_checks=True)
    response = getattr(strict_client, method)(f"/ping/{monitor.ping_key}")
    assert response.status_code == 200
    if method != "head":
        assert response.content == b"OK"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Ping-Body-Limit"] == "10000"
    assert "no-cache" in response["Cache-Control"]
    assert refreshed(monitor).status == MonitorStatus.UP


def test_the_endpoint_answers_as_healthchecks_does(client, db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PING_BODY_MAX_BYTES": 8}
    monitor = make_heartbeat()
    assert client.get(f"/ping/{monitor.ping_key}/256").content == b"invalid url format"
    assert client.get(f"/ping/{monitor.ping_key}/256").status_code == 400
    assert client.get(f"/ping/{monitor.ping_key}?rid=nope").content == b"invalid uuid format"
    missing = client.get(f"/ping/{uuid.uuid4()}")
    assert (missing.status_code, missing.content) == (404, b"not found")
    assert (
        client.post(f"/ping/{monitor.ping_key}/1", data=b"Traceback: boom", content_type="text/plain").status_code
        == 200
    )
    pingbuffer.apply_pending()
    ping = HeartbeatPing.objects.get(exit_status=1)
    assert ping.body == "Tracebac"  # the first PING_BODY_MAX_BYTES bytes
    assert refreshed(monitor).status == MonitorStatus.DOWN
    assert client.put(f"/ping/{monitor.ping_key}").status_code == 405


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_pings_take_the_production_fast_path(db, method, monkeypatch):
    from django.core.handlers.wsgi import WSGIHandler

    from tests.helpers import call

    def not_django(*args, **kwargs):
        raise AssertionError("pings must not go through the Django handler")

    monkeypatch.setattr(WSGIHandler, "__call__", not_django)
    monitor = make_heartbeat()
    status, headers, content = call(
        f"/ping/{monitor.ping_key}/start", b"log line" if method == "POST" else b"", method=method
    )
    assert status == 200 and headers["Ping-Body-Limit"] == "10000" and "X-Request-ID" in headers
    assert (content == b"OK") if method != "HEAD" else True
    assert refreshed(monitor).last_start_at is not None
    assert call(f"/ping/{monitor.ping_key}/999", method=method)[0] == 400
    assert call(f"/ping/{uuid.uuid4()}", method=method)[0] == 404


@pytest.mark.skipif(
    __import__("django.db", fromlist=["connection"]).connection.vendor != "postgresql",
    reason="the one-statement ping uses PostgreSQL's data-modifying WITH",
)
def test_a_plain_success_on_an_up_monitor_is_one_statement_and_keeps_the_rules(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monitor = make_heartbeat()
    record_ping(monitor.ping_key, now=T0)  # pending → up, through the locked path
    assert refreshed(monitor).alert_after == T0 + timedelta(hours=1, minutes=5)
    with CaptureQueriesContext(connection) as queries:
        ping = record_ping(monitor.ping_key, now=T0 + timedelta(minutes=30))
    assert not queries.captured_queries  # one prepared statement on the raw connection
    assert ping.kind == "success" and HeartbeatPing.objects.filter(pk=ping.pk, kind="success").exists()
    monitor = refreshed(monitor)
    assert monitor.last_ping_at == T0 + timedelta(minutes=30)
    # alert_after stays behind (only last_ping_at is written); the deadline itself moved on,
    assert monitor.alert_after == T0 + timedelta(hours=1, minutes=5)
    assert compute_alert_after(monitor) == T0 + timedelta(hours=1, minutes=35)
    assert not is_late(monitor, T0 + timedelta(hours=1, minutes=10))
    # and the sweeper, coming round at the old alert_after, pushes it on instead of flipping.
    assert mark_late_heartbeats(now=T0 + timedelta(hours=1, minutes=6)) == 0
    monitor = refreshed(monitor)
    assert monitor.status == MonitorStatus.UP and monitor.alert_after == T0 + timedelta(hours=1, minutes=35)
    assert mark_late_heartbeats(now=T0 + timedelta(hours=1, minutes=35)) == 1
    assert refreshed(monitor).status == MonitorStatus.DOWN
    # A down monitor or an outstanding start fall back to the full rules.
    record_ping(monitor.ping_key, now=T0 + timedelta(hours=2))
    assert refreshed(monitor).status == MonitorStatus.UP
    record_ping(monitor.ping_key, action="start", now=T0 + timedelta(hours=2, minutes=40))
    ping = record_ping(monitor.ping_key, now=T0 + timedelta(hours=2, minutes=41))
    assert ping.duration_ms == 60_000
