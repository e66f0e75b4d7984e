"""Latency rollups: per minute (48 h) and per hour (90 days), in one row per monitor and block of hours."""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from django.conf import settings

from monitors.models import LatencyRollup, Monitor

LATENCY_BUCKETS_MS = [
    10,
    20,
    30,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    7500,
    10000,
    20000,
]
MINUTES_KEPT = timedelta(hours=48)
BLOCK = timedelta(hours=LatencyRollup.BLOCK_HOURS)


def block_start(moment: datetime) -> datetime:
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=hour.hour % LatencyRollup.BLOCK_HOURS)


def add(monitor: Monitor, *, at: datetime, latency_ms: int | None, failed: bool) -> None:
    """Count one check (the caller holds the monitor's row lock, so nobody else writes this row)."""
    start = block_start(at)
    rollup, _ = LatencyRollup.objects.get_or_create(monitor=monitor, start=start)
    hour_key = str(int((at - start).total_seconds() // 3600))
    minute_key = str(int((at - start).total_seconds() // 60))
    count, failures, low, high, total, histogram = rollup.hours.get(hour_key) or [0, 0, None, None, 0, []]
    count += 1
    failures += int(failed)
    if latency_ms is not None and not failed:
        low = latency_ms if low is None else min(low, latency_ms)
        high = latency_ms if high is None else max(high, latency_ms)
        total += latency_ms
        histogram = histogram or [0] * (len(LATENCY_BUCKETS_MS) + 1)
        histogram[bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)] += 1
    rollup.hours[hour_key] = [count, failures, low, high, total, histogram]
    m_count, m_failures, samples = rollup.minutes.get(minute_key) or [0, 0, []]
    if latency_ms is not None and not failed:
        samples = [*samples, latency_ms][-12:]
    rollup.minutes[minute_key] = [m_count + 1, m_failures + int(failed), samples]
    rollup.save(update_fields=["hours", "minutes"])


def _p95_of_histogram(histogram: list[int]) -> int | None:
    total = sum(histogram)
    if not total:
        return None
    rank, seen = 0.95 * total, 0
    for index, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            return LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else LATENCY_BUCKETS_MS[-1] * 3
    return None


def _p95(samples: list[int]) -> int | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def series(monitor: Monitor, *, since: datetime, until: datetime, resolution: str) -> list[dict]:
    """Latency points, oldest first: resolution "minute" (last 48 h) or "hour"."""
    return series_many([monitor.pk], since=since, until=until, resolution=resolution)[monitor.pk]


def series_many(monitor_ids: list[int], *, since: datetime, until: datetime, resolution: str) -> dict[int, list[dict]]:
    """``series`` for several monitors in one query (the monitor list's sparklines)."""
    rows = LatencyRollup.objects.filter(monitor_id__in=monitor_ids, start__gt=since - BLOCK, start__lte=until)
    if resolution == "hour":
        rows = rows.defer("minutes")  # up to 180 minutes of samples a row, which hourly points never read
    grouped: dict[int, list[LatencyRollup]] = {pk: [] for pk in monitor_ids}
    for row in rows.order_by("start"):
        grouped[row.monitor_id].append(row)
    return {pk: _points(found, since=since, until=until, resolution=resolution) for pk, found in grouped.items()}


def _points(rows: list[LatencyRollup], *, since: datetime, until: datetime, resolution: str) -> list[dict]:
    points = []
    for row in rows:
        if resolution == "minute":
            for key, (count, failures, samples) in row.minutes.items():
                at = row.start + timedelta(minutes=int(key))
                if since <= at <= until:
                    points.append(
                        {
                            "at": at,
                            "count": count,
                            "failures": failures,
                            "min_ms": min(samples) if samples else None,
                            "avg_ms": round(sum(samples) / len(samples)) if samples else None,
                            "max_ms": max(samples) if samples else None,
                            "p95_ms": _p95(samples),
                        }
                    )
        else:
            for key, (count, failures, low, high, total, histogram) in row.hours.items():
                at = row.start + timedelta(hours=int(key))
                if since <= at + timedelta(hours=1) and at <= until:
                    ok = count - failures
                    points.append(
                        {
                            "at": at,
                            "count": count,
                            "failures": failures,
                            "min_ms": low,
                            "avg_ms": round(total / ok) if ok else None,
                            "max_ms": high,
                            "p95_ms": _p95_of_histogram(histogram),
                        }
                    )
    return sorted(points, key=lambda point: point["at"])


def trim(*, now: datetime) -> tuple[int, int]:
    """Daily: drop minute detail older than 48 h and rows older than MONITOR_RETENTION_DAYS."""
    keep_days = settings.TRACEPOINT["MONITOR_RETENTION_DAYS"]
    deleted, _ = LatencyRollup.objects.filter(start__lt=now - timedelta(days=keep_days)).delete()
    emptied = LatencyRollup.objects.filter(start__lt=now - MINUTES_KEPT - BLOCK).exclude(minutes={}).update(minutes={})
    return emptied, deleted
