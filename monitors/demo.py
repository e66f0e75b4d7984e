"""Demo monitors with 90 days of history (outages included) for a first look.

The HTTP and TCP monitors point at this Tracepoint itself (BASE_URL), so
under ``make run`` their live checks succeed; the history before now is
generated: status periods with a few outages and a slow spell, hourly latency
for 90 days and minute detail for the last 6 hours.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitors import rollups
from monitors.heartbeats import compute_alert_after
from monitors.models import LatencyRollup, Monitor, MonitorKind, MonitorStatus, StatusPeriod
from tracepoint.links import base_url

DAYS = 90


def is_empty() -> bool:
    return not Monitor.objects.exists()


def _outages(rng: random.Random, now: datetime, count: int) -> list[tuple[datetime, datetime, str]]:
    spells = []
    for _ in range(count):
        start = now - timedelta(days=rng.uniform(1, DAYS - 1))
        spells.append((start, start + timedelta(minutes=rng.randint(6, 55)), MonitorStatus.DOWN))
    return sorted(spells)


def _history(monitor: Monitor, *, now: datetime, spells, base_ms: int, rng: random.Random) -> None:
    """Periods: up, with the given spells; then latency rollups consistent with them."""
    start = now - timedelta(days=DAYS)
    spells = [
        spell for index, spell in enumerate(sorted(spells)) if index == 0 or spell[0] >= sorted(spells)[index - 1][1]
    ]
    periods, cursor = [], start
    for spell_start, spell_end, status in spells:
        periods.append(StatusPeriod(monitor=monitor, status=MonitorStatus.UP, started_at=cursor, ended_at=spell_start))
        reason = "HTTP 503 (expected 200-399)" if status == MonitorStatus.DOWN else f"slow: over {base_ms * 4} ms"
        periods.append(
            StatusPeriod(monitor=monitor, status=status, started_at=spell_start, ended_at=spell_end, reason=reason)
        )
        cursor = spell_end
    periods.append(StatusPeriod(monitor=monitor, status=MonitorStatus.UP, started_at=cursor, reason="check passed"))
    StatusPeriod.objects.bulk_create(periods)

    def state_at(moment: datetime) -> str:
        for spell_start, spell_end, status in spells:
            if spell_start <= moment < spell_end:
                return status
        return MonitorStatus.UP

    blocks: dict[datetime, LatencyRollup] = {}
    hour = rollups.block_start(start)
    checks_per_hour = 3600 // monitor.interval_seconds
    while hour < now:
        block = blocks.setdefault(
            rollups.block_start(hour), LatencyRollup(monitor=monitor, start=rollups.block_start(hour))
        )
        state = state_at(hour)
        failures = checks_per_hour // 2 if state == MonitorStatus.DOWN else 0
        samples = [
            max(5, int(rng.gauss(base_ms * (4 if state == MonitorStatus.DEGRADED else 1), base_ms / 5)))
            for _ in range(checks_per_hour - failures)
        ]
        histogram = [0] * (len(rollups.LATENCY_BUCKETS_MS) + 1)
        for sample in samples:
            histogram[rollups.bisect.bisect_left(rollups.LATENCY_BUCKETS_MS, sample)] += 1
        key = str(int((hour - block.start).total_seconds() // 3600))
        block.hours[key] = [
            checks_per_hour,
            failures,
            min(samples, default=None),
            max(samples, default=None),
            sum(samples),
            histogram,
        ]
        if now - hour <= timedelta(hours=6):
            for minute in range(60):
                moment = hour + timedelta(minutes=minute)
                if moment > now:
                    break
                minute_key = str(int((moment - block.start).total_seconds() // 60))
                latency = max(5, int(rng.gauss(base_ms, base_ms / 5)))
                block.minutes[minute_key] = [1, 0, [latency]]
        hour += timedelta(hours=1)
    LatencyRollup.objects.bulk_create(blocks.values())
    Monitor.objects.filter(pk=monitor.pk).update(
        status=MonitorStatus.UP,
        status_changed_at=cursor,
        last_checked_at=now,
        last_latency_ms=base_ms,
        streak_status=MonitorStatus.UP,
        streak_count=5,
        next_check_at=now,
    )


def _last_run(now: datetime) -> datetime:
    """The nightly job's latest run (03:04 UTC) before now: the heartbeat is on time."""
    today = now.replace(hour=3, minute=4, second=0, microsecond=0)
    return today if today <= now else today - timedelta(days=1)


def seed(*, now: datetime, stdout, rng: random.Random | None = None) -> None:
    rng = rng or random.Random(11)  # noqa: S311 - demo data, the same every time
    base = base_url()
    parts = urlsplit(base)
    front = Monitor.objects.create(
        name="Tracepoint web",
        kind=MonitorKind.HTTP,
        url=f"{base}/health",
        json_assertions='$.status == "ok"',
        degraded_after_ms=800,
        interval_seconds=60,
        open_incident=True,
        incident_severity="SEV2",
        service="web",  # the demo project's service: its errors and this monitor share an incident
    )
    api = Monitor.objects.create(
        name="Tracepoint API docs",
        kind=MonitorKind.HTTP,
        url=f"{base}/api/schema/",
        interval_seconds=300,
        service="api",
    )
    port = Monitor.objects.create(
        name="Web port",
        kind=MonitorKind.TCP,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 80),
        interval_seconds=120,
    )
    backup = Monitor.objects.create(
        name="Nightly backup",
        kind=MonitorKind.HEARTBEAT,
        schedule_kind="cron",
        cron="0 3 * * *",
        tz="UTC",
        grace_seconds=3600,
        max_runtime_seconds=2700,  # a backup running over 45 minutes is stuck
        last_ping_at=_last_run(now),
    )
    slow = now - timedelta(days=12, hours=5)
    _history(
        front,
        now=now,
        spells=[*_outages(rng, now, 3), (slow, slow + timedelta(hours=2), MonitorStatus.DEGRADED)],
        base_ms=45,
        rng=rng,
    )
    _history(api, now=now, spells=_outages(rng, now, 1), base_ms=120, rng=rng)
    _history(port, now=now, spells=[], base_ms=2, rng=rng)
    StatusPeriod.objects.create(monitor=backup, status=MonitorStatus.UP, started_at=now - timedelta(days=30))
    Monitor.objects.filter(pk=backup.pk).update(
        status=MonitorStatus.UP, alert_after=compute_alert_after(Monitor.objects.get(pk=backup.pk))
    )
    stdout.write(f"Monitors: {Monitor.objects.count()} with {DAYS} days of history.")
