"""Uptime maths, from the status periods alone: exact over a window (the API, the monitor pages, the
daily summary) and per day (the 90-day bars of the monitor page and of status pages).

Time paused, pending or in maintenance counts neither up nor down; degraded counts as up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.utils import timezone

from monitors.models import Monitor, MonitorStatus, StatusPeriod
from tracepoint.errors import DomainError
from tracepoint.rows import update_columns

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
# Time in these states counts neither up nor down.
EXCLUDED = {MonitorStatus.PAUSED, MonitorStatus.PENDING, MonitorStatus.MAINTENANCE}
UP_STATES = {MonitorStatus.UP, MonitorStatus.DEGRADED}


@dataclass(frozen=True)
class Uptime:
    window: str
    up_seconds: float
    down_seconds: float
    excluded_seconds: float

    @property
    def percent(self) -> float | None:
        counted = self.up_seconds + self.down_seconds
        return None if counted == 0 else round(100 * self.up_seconds / counted, 4)


def uptime(monitor: Monitor, *, window: str, now: datetime | None = None) -> Uptime:
    """Exact uptime over the window from the status periods; paused and pending time are left out."""
    if window not in WINDOWS:
        raise DomainError(f"Unknown window {window!r}.", details={"window": [f"One of {', '.join(WINDOWS)}."]})
    now = now or timezone.now()
    start = now - WINDOWS[window]
    periods = StatusPeriod.objects.filter(monitor=monitor, started_at__lt=now).exclude(ended_at__lte=start)
    return Uptime(window, *tally(periods, start=start, end=now, now=now))


def uptimes(monitor_ids: list[int], windows: tuple[str, ...], *, now: datetime) -> dict[int, dict[str, Uptime]]:
    """``uptime`` for several monitors and windows from one query (the monitor list)."""
    start = now - max(WINDOWS[window] for window in windows)
    grouped: dict[int, list[StatusPeriod]] = {pk: [] for pk in monitor_ids}
    for period in StatusPeriod.objects.filter(monitor_id__in=monitor_ids, started_at__lt=now).exclude(
        ended_at__lte=start
    ):
        grouped[period.monitor_id].append(period)
    return {
        pk: {
            window: Uptime(window, *tally(periods, start=now - WINDOWS[window], end=now, now=now)) for window in windows
        }
        for pk, periods in grouped.items()
    }


@dataclass(frozen=True)
class MonitorUptime:
    id: int
    name: str
    status: str
    percent: float | None  # None: no up or down time in the window (paused, pending, new)


def uptime_summary(*, window: str = "24h", now: datetime | None = None, chunk: int = 500) -> list[MonitorUptime]:
    """Every monitor's uptime over ``window``, worst first and no data last (the daily summary email).

    Monitors belong to no project: every user with a role sees all of them, as on the
    monitor list. ``uptimes`` runs per chunk of monitors to keep its ``IN`` list short.
    """
    if window not in WINDOWS:
        raise DomainError(f"Unknown window {window!r}.", details={"window": [f"One of {', '.join(WINDOWS)}."]})
    now = now or timezone.now()
    monitors = list(Monitor.objects.order_by("name", "id").values_list("pk", "name", "status"))
    rows = []
    for offset in range(0, len(monitors), chunk):
        part = monitors[offset : offset + chunk]
        found = uptimes([pk for pk, _, _ in part], (window,), now=now)
        rows += [MonitorUptime(pk, name, status, found[pk][window].percent) for pk, name, status in part]
    # sort() is stable: monitors with the same uptime stay in name order.
    rows.sort(key=lambda row: (row.percent is None, row.percent or 0.0))
    return rows


CACHED_WINDOWS = ("24h", "30d")


def refresh_cached(*, now: datetime | None = None, chunk: int = 500) -> int:
    """Recompute every monitor's ``uptime_24h`` and ``uptime_30d`` (beat, every few minutes), so the monitor
    list reads two columns instead of the periods of each row. Returns the monitors refreshed."""
    now = now or timezone.now()
    ids = list(Monitor.objects.order_by("pk").values_list("pk", flat=True))
    for offset in range(0, len(ids), chunk):
        part = ids[offset : offset + chunk]
        found = uptimes(part, CACHED_WINDOWS, now=now)
        _write_cached([(pk, found[pk]["24h"].percent, found[pk]["30d"].percent) for pk in part], now=now)
    return len(ids)


def _write_cached(found: list[tuple[int, float | None, float | None]], *, now: datetime) -> None:
    update_columns(
        Monitor,
        [Monitor(pk=pk, uptime_24h=day, uptime_30d=month, uptime_refreshed_at=now) for pk, day, month in found],
        ["uptime_24h", "uptime_30d", "uptime_refreshed_at"],
    )


def tally(periods, *, start: datetime, end: datetime, now: datetime) -> tuple[float, float, float]:
    """Seconds up (or degraded), down and left out (paused, pending) of ``periods`` within [start, end)."""
    up = down = excluded = 0.0
    for period in periods:
        seconds = (min(period.ended_at or now, end) - max(period.started_at, start)).total_seconds()
        if seconds <= 0:
            continue
        if period.status in UP_STATES:
            up += seconds
        elif period.status == MonitorStatus.DOWN:
            down += seconds
        else:
            excluded += seconds
    return up, down, excluded


# Which state colours a day's bar: the worst one seen that day (paused and pending show nothing).
BAR_RANK = {MonitorStatus.DOWN: 3, MonitorStatus.DEGRADED: 2, MonitorStatus.UP: 1, MonitorStatus.MAINTENANCE: 0}


@dataclass(frozen=True)
class DayBar:
    day: datetime  # the day's midnight in the zone asked for, as a UTC instant
    state: str  # up, degraded, down, maintenance, or nodata
    up_seconds: float
    down_seconds: float

    @property
    def uptime(self) -> float | None:
        counted = self.up_seconds + self.down_seconds
        return None if counted == 0 else round(100 * self.up_seconds / counted, 2)


def daily_bars(groups: dict, *, days: int, zone: tzinfo, now: datetime | None = None) -> dict[object, list[DayBar]]:
    """One bar per day of ``zone`` for each group of monitors (``{key: [monitor ids]}``), oldest first: the
    worst state seen that day and the seconds up and down of all its monitors. The monitor page asks for
    one monitor in UTC, a status page for each component's monitors in the page's zone. One query."""
    now = now or timezone.now()
    first = (now.astimezone(zone) - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    # Local midnights (wall-clock days, so DST days have 23 or 25 hours), as UTC instants: arithmetic
    # between two datetimes of one zone would ignore the offset change.
    starts = [(first + timedelta(days=i)).astimezone(UTC) for i in range(days)]
    wanted = {pk for ids in groups.values() for pk in ids}
    periods: dict[int, list[StatusPeriod]] = {}
    for period in StatusPeriod.objects.filter(monitor_id__in=wanted, started_at__lt=now).exclude(ended_at__lte=first):
        periods.setdefault(period.monitor_id, []).append(period)
    result = {}
    for key, ids in groups.items():
        own = [period for pk in ids for period in periods.get(pk, [])]
        row = []
        for index, start in enumerate(starts):
            end = min(starts[index + 1] if index + 1 < days else start + timedelta(days=1), now)
            up, down, _ = tally(own, start=start, end=end, now=now)
            seen = [
                p.status for p in own if p.status in BAR_RANK and p.started_at < end and (p.ended_at or now) > start
            ]
            state = max(seen, key=BAR_RANK.get, default="nodata")
            row.append(DayBar(day=start, state=str(state), up_seconds=up, down_seconds=down))
        result[key] = row
    return result
