"""Latency rollups: per-minute and per-hour series from one row per block; retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitors import rollups
from monitors.models import LatencyRollup
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from tests.factories import make_monitor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_checks_roll_up_per_minute_and_per_hour_in_one_row_per_block(db):
    site = make_monitor("api", down_after=2)
    latencies = [100, 120, 80, 300, 90, 110]
    for n, latency in enumerate(latencies):  # every 30 s for 3 minutes
        record_result(site.pk, CheckResult("up", latency), now=T0 + timedelta(seconds=30 * n))
    record_result(site.pk, CheckResult("down", None, "HTTP 500"), now=T0 + timedelta(minutes=3))
    record_result(site.pk, CheckResult("up", 95), now=T0 + timedelta(hours=1, minutes=10))
    assert LatencyRollup.objects.count() == 1  # 8 checks, one row (12:00-15:00)

    minutes = rollups.series(site, since=T0, until=T0 + timedelta(hours=2), resolution="minute")
    assert [(p["at"], p["count"], p["failures"]) for p in minutes] == [
        (T0, 2, 0),
        (T0 + timedelta(minutes=1), 2, 0),
        (T0 + timedelta(minutes=2), 2, 0),
        (T0 + timedelta(minutes=3), 1, 1),
        (T0 + timedelta(hours=1, minutes=10), 1, 0),
    ]
    assert (minutes[1]["min_ms"], minutes[1]["max_ms"], minutes[1]["avg_ms"]) == (80, 300, 190)

    hours = rollups.series(site, since=T0, until=T0 + timedelta(hours=2), resolution="hour")
    first = hours[0]
    assert (first["count"], first["failures"], first["min_ms"], first["max_ms"]) == (7, 1, 80, 300)
    assert first["avg_ms"] == round(sum(latencies) / 6)
    assert first["p95_ms"] == 300  # the bucket holding the slowest of six
    assert hours[1]["at"] == T0 + timedelta(hours=1) and hours[1]["count"] == 1


def test_a_new_block_starts_a_new_row(db):
    site = make_monitor("api", down_after=2)
    for hours in (0, 2, 3, 5):
        record_result(site.pk, CheckResult("up", 50), now=T0 + timedelta(hours=hours))
    assert LatencyRollup.objects.count() == 2  # 12:00-15:00 and 15:00-18:00


def test_trim_drops_minute_detail_after_two_days_and_rows_after_retention(db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "MONITOR_RETENTION_DAYS": 90}
    site = make_monitor("api", down_after=2)
    for days in (0, 3, 100):
        record_result(site.pk, CheckResult("up", 50), now=T0 - timedelta(days=days))
    emptied, deleted = rollups.trim(now=T0 + timedelta(hours=1))
    assert (emptied, deleted) == (1, 1)
    remaining = {row.start: row.minutes for row in LatencyRollup.objects.all()}
    assert remaining[rollups.block_start(T0)] != {}
    assert remaining[rollups.block_start(T0 - timedelta(days=3))] == {}
    hourly = rollups.series(site, since=T0 - timedelta(days=4), until=T0, resolution="hour")
    assert len(hourly) == 2  # the hourly history survives the minute trim
