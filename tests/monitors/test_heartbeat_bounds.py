"""Heartbeat run-time bounds: a run too short or too long between /start and success, and pings too often."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from monitors import pingbuffer
from monitors.heartbeats import compute_alert_after, late_reason
from monitors.models import HeartbeatPing, Monitor, MonitorStatus, StatusPeriod
from monitors.ping import record_ping
from monitors.scheduler import mark_late_heartbeats
from tests.factories import make_heartbeat

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUN = "6b1fbc5c-2b7e-4a4c-9a51-0a2f0c0cbb11"


def refreshed(monitor: Monitor) -> Monitor:
    pingbuffer.apply_pending()
    monitor.refresh_from_db()
    return monitor


def reason(monitor: Monitor) -> str:
    return StatusPeriod.objects.get(monitor=monitor, ended_at__isnull=True).reason


def run(monitor: Monitor, *, started: datetime, seconds: float, rid: str | None = RUN) -> None:
    record_ping(monitor.ping_key, action="start", rid=rid, now=started)
    record_ping(monitor.ping_key, rid=rid, now=started + timedelta(seconds=seconds))


def test_a_run_shorter_than_the_shortest_expected_is_down_and_a_normal_one_brings_it_back(db):
    job = make_heartbeat(min_runtime_seconds=60)
    run(job, started=T0, seconds=2)
    job = refreshed(job)
    assert job.status == MonitorStatus.DOWN
    assert reason(job) == "the run took 2.0 s, less than the shortest expected (60 s)"
    assert job.last_duration_ms == 2000
    run(job, started=T0 + timedelta(hours=1), seconds=90)
    assert refreshed(job).status == MonitorStatus.UP


def test_a_run_longer_than_the_longest_allowed_is_down_when_it_finally_succeeds(db):
    job = make_heartbeat(max_runtime_seconds=300, grace_seconds=3600)
    run(job, started=T0, seconds=30)
    assert refreshed(job).status == MonitorStatus.UP
    run(job, started=T0 + timedelta(hours=1), seconds=301)
    job = refreshed(job)
    assert job.status == MonitorStatus.DOWN
    assert reason(job) == "the run took 301 s, more than the longest allowed (300 s)"


def test_a_running_job_goes_down_at_its_longest_run_not_at_the_end_of_the_grace(db):
    job = make_heartbeat(max_runtime_seconds=600, grace_seconds=3600)
    run(job, started=T0, seconds=30)
    record_ping(job.ping_key, action="start", now=T0 + timedelta(hours=1))
    job = refreshed(job)
    assert job.alert_after == T0 + timedelta(hours=1, minutes=10)
    assert mark_late_heartbeats(now=T0 + timedelta(hours=1, minutes=9)) == 0
    assert mark_late_heartbeats(now=T0 + timedelta(hours=1, minutes=11)) == 1
    job = refreshed(job)
    assert job.status == MonitorStatus.DOWN
    assert job.status_changed_at == T0 + timedelta(hours=1, minutes=10)
    assert reason(job) == "the job has run for longer than the longest allowed (600 s)"
    assert late_reason(job, T0) == "the success signal did not arrive on time (grace time passed)"


def test_without_a_start_the_longest_run_does_not_move_the_deadline(db):
    job = make_heartbeat(max_runtime_seconds=60, grace_seconds=300)
    record_ping(job.ping_key, now=T0)
    job = refreshed(job)
    assert compute_alert_after(job) == T0 + timedelta(hours=1, minutes=5)


def test_a_success_sooner_than_allowed_after_the_previous_one_is_down(db):
    job = make_heartbeat(min_ping_interval_seconds=600)
    record_ping(job.ping_key, now=T0)
    assert refreshed(job).status == MonitorStatus.UP
    record_ping(job.ping_key, now=T0 + timedelta(minutes=3))
    job = refreshed(job)
    assert job.status == MonitorStatus.DOWN
    assert reason(job) == "a success 180 s after the previous one; expected at most one every 600 s"
    record_ping(job.ping_key, now=T0 + timedelta(minutes=14))  # 11 minutes after the last one
    assert refreshed(job).status == MonitorStatus.UP


def test_failures_and_starts_do_not_count_as_pinging_too_often(db):
    job = make_heartbeat(min_ping_interval_seconds=600)
    record_ping(job.ping_key, now=T0)
    record_ping(job.ping_key, action="fail", now=T0 + timedelta(minutes=20))
    record_ping(job.ping_key, action="start", now=T0 + timedelta(minutes=21))
    record_ping(job.ping_key, now=T0 + timedelta(minutes=22))  # a retry that worked, 22 min after the success
    assert refreshed(job).status == MonitorStatus.UP


def test_a_buffered_batch_sees_a_too_frequent_ping_within_the_batch(db):
    job = make_heartbeat(min_ping_interval_seconds=600)
    record_ping(job.ping_key, now=T0)
    assert refreshed(job).status == MonitorStatus.UP

    def entry(at: datetime) -> list:
        return [str(job.ping_key), at.timestamp(), "success", None, None, "GET", "127.0.0.1", "cron", ""]

    # Both pings of the batch are on time against the log, but not against each other.
    pingbuffer._apply_entries([entry(T0 + timedelta(minutes=20)), entry(T0 + timedelta(minutes=21))])
    job.refresh_from_db()
    assert job.status == MonitorStatus.DOWN
    assert reason(job).startswith("a success 60 s after the previous one")
    assert HeartbeatPing.objects.filter(monitor=job, kind="success").count() == 3


def test_the_quick_path_leaves_bounded_monitors_to_the_full_rules(db):
    job = make_heartbeat(min_ping_interval_seconds=600)
    record_ping(job.ping_key, now=T0)
    record_ping(job.ping_key, now=T0 + timedelta(seconds=30))  # up, no start: the quick path would take it
    assert refreshed(job).status == MonitorStatus.DOWN


def test_an_unmatched_run_id_is_not_timed_and_not_judged_by_the_bounds(db):
    job = make_heartbeat(min_runtime_seconds=60)
    record_ping(job.ping_key, action="start", rid=RUN, now=T0)
    record_ping(job.ping_key, rid=str(uuid.uuid4()), now=T0 + timedelta(seconds=1))
    assert refreshed(job).status == MonitorStatus.UP
