"""Heartbeat pings through Redis (monitors.pingbuffer): answered at once, applied in order, in bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from monitors import pingbuffer, services
from monitors.heartbeats import ping_log_kept
from monitors.models import HeartbeatPing, Monitor, MonitorStatus, PingBufferCursor
from monitors.ping import accept_ping, record_ping
from monitors.scheduler import mark_late_heartbeats
from tests.factories import make_heartbeat

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the ping buffer lives in Redis (set REDIS_URL)")


def entry(monitor: Monitor, at: datetime, kind: str = "success", *, exit_status=None, run_id=None, body="") -> list:
    """One stream entry as push() writes it."""
    return [str(monitor.ping_key), at.timestamp(), kind, exit_status, run_id, "GET", "127.0.0.1", "cron", body]


def stream_length() -> int:
    from tracepoint import redis

    return redis.client().xlen(pingbuffer._key("stream"))


# --- applying a batch (no Redis needed) -------------------------------------------------------


def test_a_batch_keeps_arrival_order_across_the_quick_and_the_full_rules(db):
    job = make_heartbeat()
    record_ping(job.ping_key, now=T0)  # up
    run = "6b1fbc5c-2b7e-4a4c-9a51-0a2f0c0cbb11"
    pingbuffer._apply_entries(
        [
            entry(job, T0 + timedelta(minutes=1)),  # quick: only last_ping_at
            entry(job, T0 + timedelta(minutes=2), "start", run_id=run),
            entry(job, T0 + timedelta(minutes=5), run_id=run),  # ends the run: 3 minutes
            entry(job, T0 + timedelta(minutes=6), "fail", body="Traceback: boom"),
            entry(job, T0 + timedelta(minutes=7)),  # down → up again, through the full rules
            entry(job, T0 + timedelta(minutes=8)),  # quick again
        ]
    )
    job.refresh_from_db()
    assert job.status == MonitorStatus.UP and job.last_ping_at == T0 + timedelta(minutes=8)
    assert job.last_duration_ms == 180_000 and job.last_start_at is None
    log = list(HeartbeatPing.objects.filter(monitor=job).order_by("created_at", "id"))
    assert [ping.kind for ping in log] == ["success", "success", "start", "success", "fail", "success", "success"]
    assert log[3].duration_ms == 180_000 and log[4].body == "Traceback: boom"
    periods = list(job.periods.order_by("started_at").values_list("status", "started_at"))
    assert periods[-2:] == [
        (MonitorStatus.DOWN, T0 + timedelta(minutes=6)),
        (MonitorStatus.UP, T0 + timedelta(minutes=7)),
    ]


def test_a_batch_drops_the_pings_of_deleted_monitors_and_ignores_paused_ones(db):
    gone, strict = make_heartbeat(name="gone"), make_heartbeat(name="strict", manual_resume=True)
    services.pause(strict.pk, now=T0)
    gone_entry = entry(gone, T0)
    gone.delete()
    pingbuffer._apply_entries([gone_entry, entry(strict, T0 + timedelta(minutes=1))])
    strict.refresh_from_db()
    assert strict.status == MonitorStatus.PAUSED
    assert list(HeartbeatPing.objects.values_list("kind", flat=True)) == [HeartbeatPing.Kind.IGNORED]


def test_an_older_quick_ping_never_moves_last_ping_at_back(db):
    job = make_heartbeat()
    record_ping(job.ping_key, now=T0 + timedelta(minutes=10))
    pingbuffer._apply_entries([entry(job, T0 + timedelta(minutes=5))])
    job.refresh_from_db()
    assert job.last_ping_at == T0 + timedelta(minutes=10)
    assert HeartbeatPing.objects.filter(monitor=job).count() == 2


def test_batches_keep_the_ping_log_trimmed(db, monkeypatch):
    monkeypatch.setattr(pingbuffer, "TRIM_CHANCE", 1.0)
    job = make_heartbeat()
    record_ping(job.ping_key, now=T0)
    pingbuffer._apply_entries([entry(job, T0 + timedelta(seconds=n)) for n in range(ping_log_kept() + 30)])
    assert HeartbeatPing.objects.filter(monitor=job).count() == ping_log_kept()
    newest = HeartbeatPing.objects.filter(monitor=job).order_by("-created_at").first()
    assert newest.created_at == T0 + timedelta(seconds=ping_log_kept() + 29)


# --- the endpoint and the applier, on Redis ---------------------------------------------------


@needs_redis
def test_the_endpoint_answers_before_the_ping_is_applied_and_the_applier_catches_up(client, db, monkeypatch):
    queued = []
    monkeypatch.setattr(pingbuffer, "_queue_apply", lambda: queued.append(1))
    job = make_heartbeat()
    for suffix in ("/start", "", "/fail"):
        assert client.post(f"/ping/{job.ping_key}{suffix}", data=b"log", content_type="text/plain").status_code == 200
    job.refresh_from_db()
    assert job.status == MonitorStatus.PENDING and stream_length() == 3
    assert queued == [1]  # one applier queued for the three
    assert pingbuffer.apply_pending() == 3
    job.refresh_from_db()
    assert job.status == MonitorStatus.DOWN and job.last_duration_ms is not None
    assert list(HeartbeatPing.objects.order_by("id").values_list("kind", flat=True)) == ["start", "success", "fail"]
    assert stream_length() == 0
    assert client.get("/ping/00000000-0000-4000-8000-000000000000").status_code == 404
    assert stream_length() == 0  # an unknown key is refused before it is buffered


@needs_redis
def test_an_entry_is_applied_once_even_if_trimming_the_stream_fails(db, monkeypatch):
    from tracepoint import redis

    job = make_heartbeat()
    for n in range(3):
        accept_ping(job.ping_key, now=T0 + timedelta(minutes=n))
    client = redis.client()

    def broken_trim(*args, **kwargs):
        raise ConnectionError("Redis went away after the commit")

    monkeypatch.setattr(type(client), "xtrim", broken_trim)
    with pytest.raises(ConnectionError):
        pingbuffer.apply_pending()
    monkeypatch.undo()
    assert HeartbeatPing.objects.filter(monitor=job).count() == 3 and stream_length() == 3
    assert pingbuffer.apply_pending() == 0  # the cursor says they are done: trimmed, not applied again
    assert HeartbeatPing.objects.filter(monitor=job).count() == 3 and stream_length() == 0
    assert PingBufferCursor.objects.get().last_id


@needs_redis
def test_only_one_applier_runs_at_a_time(db):
    from tracepoint import redis

    job = make_heartbeat()
    accept_ping(job.ping_key, now=T0)
    redis.client().set(pingbuffer._key("lock"), "another worker", ex=5)
    assert pingbuffer.apply_pending() == 0 and stream_length() == 1
    redis.client().delete(pingbuffer._key("lock"))
    assert pingbuffer.apply_pending() == 1


@needs_redis
def test_the_deadline_sweeper_applies_waiting_pings_before_it_judges(db):
    now = timezone.now()
    job = make_heartbeat(period_seconds=60, grace_seconds=60)
    record_ping(job.ping_key, now=now - timedelta(seconds=150))  # deadline: 30 s ago
    accept_ping(job.ping_key, now=now - timedelta(seconds=40))  # in time, still in Redis
    assert stream_length() == 1
    assert mark_late_heartbeats(now=now) == 0
    job.refresh_from_db()
    assert job.status == MonitorStatus.UP and job.last_ping_at == now - timedelta(seconds=40)


@needs_redis
def test_without_redis_or_with_a_full_buffer_pings_are_applied_at_once(db, settings, monkeypatch):
    job = make_heartbeat()
    monkeypatch.setattr(pingbuffer, "MAX_BUFFERED", 0)
    accept_ping(job.ping_key, now=T0)
    job.refresh_from_db()
    assert job.status == MonitorStatus.UP and stream_length() == 0
    monkeypatch.undo()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    accept_ping(job.ping_key, action="fail", now=T0 + timedelta(minutes=1))
    job.refresh_from_db()
    assert job.status == MonitorStatus.DOWN
    assert time_paused() > 0  # and the next pings don't wait for the dead Redis again


def time_paused() -> float:
    import time

    return pingbuffer._paused_until - time.monotonic()


def test_a_bad_entry_is_dropped_and_the_rest_of_the_batch_applied(db, caplog):
    import json as json_module

    job = make_heartbeat()
    record_ping(job.ping_key, now=T0)
    good = json_module.dumps(entry(job, T0 + timedelta(minutes=1))).encode()
    broken = json_module.dumps(entry(job, T0 + timedelta(minutes=2), "success", run_id="not-a-uuid")).encode()
    pingbuffer._apply_safely([good, broken, b"not json"])
    job.refresh_from_db()
    assert job.last_ping_at == T0 + timedelta(minutes=1)
    assert "dropped a buffered ping" in caplog.text


def test_a_nul_in_a_ping_body_is_dropped_not_fatal(db):
    job = make_heartbeat()
    logged = record_ping(job.ping_key, method="POST", body=b"exit\x00code 1", now=T0)
    assert HeartbeatPing.objects.get(pk=logged.pk).body == "exitcode 1"
