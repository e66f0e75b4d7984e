"""The scheduler's active checks (monitors.scheduler): anti-flapping, claiming due monitors, a tick and its lag."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from monitors.models import Monitor, MonitorStatus, StatusPeriod
from monitors.probes import CheckResult
from monitors.scheduler import claim_due, lag_histogram, record_result, run_due_checks
from tests.factories import make_heartbeat, make_monitor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_down_needs_two_agreeing_results_and_up_one(db):
    monitor = make_monitor("site", url="http://127.0.0.1:1/", next_check_at=T0, down_after=2)
    down = CheckResult("down", None, "HTTP 503")
    up = CheckResult("up", 12)
    assert record_result(monitor.pk, up, now=T0) is True  # pending → up at once
    assert record_result(monitor.pk, down, now=T0 + timedelta(minutes=1)) is False  # one failure: a blip
    assert record_result(monitor.pk, up, now=T0 + timedelta(minutes=2)) is False
    assert record_result(monitor.pk, down, now=T0 + timedelta(minutes=3)) is False
    assert record_result(monitor.pk, down, now=T0 + timedelta(minutes=4)) is True
    monitor.refresh_from_db()
    assert (monitor.status, monitor.last_error) == ("down", "HTTP 503")
    assert [p.status for p in StatusPeriod.objects.filter(monitor=monitor)] == ["up", "down"]


def test_a_tick_checks_due_monitors_and_records_their_results(target, db):
    monitor = make_monitor("site", url=target.url, next_check_at=T0, up_after=1)
    later = make_monitor("later", url=target.url, next_check_at=T0 + timedelta(hours=1))
    assert run_due_checks(now=T0) == 1
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP and monitor.last_latency_ms is not None
    assert monitor.next_check_at == T0 + timedelta(seconds=60)
    assert Monitor.objects.get(pk=later.pk).status == MonitorStatus.PENDING


def test_paused_monitors_and_heartbeats_are_not_claimed(db):
    make_monitor("site", url="http://127.0.0.1:1/", next_check_at=T0, status=MonitorStatus.PAUSED)
    make_heartbeat("job", next_check_at=T0)
    assert claim_due(now=T0) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_one_monitor_twice():
    for n in range(40):
        make_monitor(f"m{n}", url="http://127.0.0.1:1/", next_check_at=T0)
    claimed: list[list[int]] = []
    start = threading.Barrier(2)

    def worker():
        try:
            start.wait()
            claimed.append([m.pk for m in claim_due(now=T0, limit=30)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 40


def test_a_tick_logs_its_schedule_lag(target, db, caplog):
    caplog.set_level("INFO", logger="tracepoint.monitors")
    make_monitor("site", url=target.url, next_check_at=T0)
    make_monitor("late", url=target.url, next_check_at=T0 - timedelta(seconds=4))
    run_due_checks(now=T0 + timedelta(seconds=1))
    [record] = [r for r in caplog.records if r.name == "tracepoint.monitors"]
    assert record.checks == 2
    assert sum(record.lag_histogram.values()) == 2
    assert lag_histogram([0.2, 4.0, 45.0, 100.0]) == {
        "le_0.5": 1,
        "le_1": 0,
        "le_2": 0,
        "le_3": 0,
        "le_5": 1,
        "le_10": 0,
        "le_30": 0,
        "le_60": 1,
        "inf": 1,
    }


def test_a_batch_recorded_twice_with_the_same_time_counts_once(db):
    from monitors.scheduler import record_results

    monitor = make_monitor("twice", down_after=3)
    at = T0
    failed = {monitor.pk: CheckResult("down", None, "refused")}
    record_results(failed, now=at)
    record_results(failed, now=at)  # a retried task: the same decisions, the same time
    monitor.refresh_from_db()
    assert monitor.streak_status == "down" and monitor.streak_count == 1
    record_results(failed, now=at + timedelta(seconds=60))
    monitor.refresh_from_db()
    assert monitor.streak_count == 2
