"""Heartbeat rules, after shared/specs/heartbeat-pings.md (the Healthchecks model): when the next ping is
due and when a monitor is late (simple and cron schedules, grace, outstanding starts), what one ping does
to its monitor (``success``/``fail``/``start``/``log`` and exit statuses, run ids, run time), and the
length of the ping log.

Pings arrive through monitors/ping.py (the endpoint), directly or through the Redis buffer
(monitors/pingbuffer.py); both apply them with ``apply_ping``. The sweeper that flips overdue monitors
to DOWN is ``scheduler.mark_late_heartbeats``: it applies the buffer first, and the buffer applies
through here, so it cannot live in this module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from cronsim import CronSim, CronSimError
from django.conf import settings
from django.db import connection

from monitors.models import HeartbeatPing, Monitor, MonitorKind, MonitorStatus, ScheduleKind
from monitors.status import set_status

# --- deadlines ----------------------------------------------------------------------------------


def next_due(monitor: Monitor, after: datetime) -> datetime:
    """When the ping after one at ``after`` is due: period later, or the next cron match (in tz, DST-safe)."""
    if monitor.schedule_kind == ScheduleKind.CRON:
        zone = ZoneInfo(monitor.tz)
        local = after.astimezone(zone).replace(second=0, microsecond=0)
        for match in CronSim(monitor.cron, local):
            if match > after:
                return match.astimezone(after.tzinfo or ZoneInfo("UTC"))
    return after + timedelta(seconds=monitor.period_seconds)


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a cron schedule we can run ("Bad minute", "Wrong number of fields"),
    or None when it is one."""
    try:
        CronSim(expression or "", datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    except (CronSimError, ValueError) as exc:
        return str(exc) or "not a cron expression"
    return None


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name or "")
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def upcoming_runs(cron: str, tz: str, *, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` times a cron schedule fires after ``after``, in its zone: ``next_due``'s maths,
    so the preview on the form is what the deadlines will be. Check ``cron_problem`` and
    ``is_time_zone`` first."""
    schedule = Monitor(kind=MonitorKind.HEARTBEAT, schedule_kind=ScheduleKind.CRON, cron=cron, tz=tz)
    zone, runs = ZoneInfo(tz), []
    for _ in range(count):
        after = next_due(schedule, after)
        runs.append(after.astimezone(zone))
    return runs


def grace_start(monitor: Monitor) -> datetime | None:
    """The moment a heartbeat is late: the next due ping, or an outstanding start (whichever is first)."""
    anchor = monitor.last_ping_at
    if (
        monitor.status == MonitorStatus.PENDING
        and anchor
        and monitor.status_changed_at
        and monitor.status_changed_at > anchor
    ):
        anchor = monitor.status_changed_at  # resumed or out of maintenance: a full period before it is late
    due = next_due(monitor, anchor) if anchor else None
    if monitor.last_start_at is not None:
        due = min(due, monitor.last_start_at) if due else monitor.last_start_at
    return due


def compute_alert_after(monitor: Monitor) -> datetime | None:
    """The deadline: grace after the due ping (or an outstanding start), or a running job's longest run."""
    start = grace_start(monitor)
    deadline = start + timedelta(seconds=monitor.grace_seconds) if start else None
    overrun = overrun_at(monitor)
    if overrun is not None and (deadline is None or overrun < deadline):
        return overrun
    return deadline


def overrun_at(monitor: Monitor) -> datetime | None:
    """When a job that sent /start has run longer than its longest run, if it has a bound and is running."""
    if monitor.last_start_at is None or not monitor.max_runtime_seconds:
        return None
    return monitor.last_start_at + timedelta(seconds=monitor.max_runtime_seconds)


def late_reason(monitor: Monitor, deadline: datetime) -> str:
    """Why a heartbeat whose deadline ``deadline`` (``compute_alert_after``) has passed is DOWN."""
    if monitor.last_start_at is not None:
        if deadline == overrun_at(monitor):
            return f"the job has run for longer than the longest allowed ({monitor.max_runtime_seconds} s)"
        if deadline == monitor.last_start_at + timedelta(seconds=monitor.grace_seconds):
            return "the job started but did not finish within the grace time"
    return "the success signal did not arrive on time (grace time passed)"


def is_late(monitor: Monitor, now: datetime) -> bool:
    start, deadline = grace_start(monitor), compute_alert_after(monitor)
    return bool(start and deadline and start <= now < deadline)


# --- one ping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PingInput:
    """One ping as received, validated: what the ping log keeps and what the rules need."""

    kind: str
    exit_status: int | None
    run_id: uuid.UUID | None
    method: str
    remote_addr: str
    user_agent: str
    body: str

    @property
    def is_plain_success(self) -> bool:
        return self.kind == HeartbeatPing.Kind.SUCCESS and self.run_id is None and self.exit_status is None


def apply_ping(monitor: Monitor, ping: PingInput, *, now: datetime) -> HeartbeatPing:
    """The rules for one ping on a locked monitor; returns its (unsaved) log entry."""
    logged = HeartbeatPing(
        monitor=monitor,
        created_at=now,
        method=ping.method,
        remote_addr=ping.remote_addr,
        user_agent=ping.user_agent,
        body=ping.body,
        rid=ping.run_id,
        exit_status=ping.exit_status,
        kind=ping.kind,
    )
    if monitor.status == MonitorStatus.PAUSED and monitor.manual_resume and ping.kind != HeartbeatPing.Kind.LOG:
        logged.kind = HeartbeatPing.Kind.IGNORED
    else:
        _apply_ping(monitor, logged, now=now)
    return logged


def _apply_ping(monitor: Monitor, ping: HeartbeatPing, *, now: datetime) -> None:
    kind = ping.kind
    if kind == HeartbeatPing.Kind.LOG:
        return
    fields = ["last_start_at", "last_start_rid", "last_ping_at", "last_duration_ms", "alert_after"]
    if kind == HeartbeatPing.Kind.START:
        monitor.last_start_at, monitor.last_start_rid = now, ping.rid
    else:
        too_soon = _too_soon(monitor, now) if kind == HeartbeatPing.Kind.SUCCESS else None
        monitor.last_ping_at = now
        run_seconds = None
        if monitor.last_start_at is not None:
            matched = ping.rid == monitor.last_start_rid
            if matched:
                ping.duration_ms = int((now - monitor.last_start_at).total_seconds() * 1000)
                run_seconds = ping.duration_ms / 1000
                if now - monitor.last_start_at < timedelta(hours=72):
                    monitor.last_duration_ms = ping.duration_ms
            if matched or kind == HeartbeatPing.Kind.FAIL or ping.rid is None:
                monitor.last_start_at = monitor.last_start_rid = None
        if monitor.status == MonitorStatus.MAINTENANCE:
            pass  # logged and timed, but the status waits for the end of the maintenance
        elif kind == HeartbeatPing.Kind.SUCCESS:
            broken = too_soon or _out_of_bounds(monitor, run_seconds)
            if broken:
                set_status(monitor, MonitorStatus.DOWN, reason=broken, at=now)
            else:
                set_status(monitor, MonitorStatus.UP, reason="success signal", at=now)
        else:
            reason = f"exit status {ping.exit_status}" if ping.exit_status else "received a failure signal"
            set_status(monitor, MonitorStatus.DOWN, reason=reason, at=now)
    monitor.alert_after = compute_alert_after(monitor)
    Monitor.objects.filter(pk=monitor.pk).update(**{name: getattr(monitor, name) for name in fields})


def _out_of_bounds(monitor: Monitor, run_seconds: float | None) -> str | None:
    """Why a run timed from its /start to this success broke the monitor's run-time bounds, if it did."""
    if run_seconds is None:
        return None
    if monitor.min_runtime_seconds and run_seconds < monitor.min_runtime_seconds:
        return (
            f"the run took {_seconds(run_seconds)}, less than the shortest expected ({monitor.min_runtime_seconds} s)"
        )
    if monitor.max_runtime_seconds and run_seconds > monitor.max_runtime_seconds:
        return f"the run took {_seconds(run_seconds)}, more than the longest allowed ({monitor.max_runtime_seconds} s)"
    return None


def _too_soon(monitor: Monitor, now: datetime) -> str | None:
    """Why this success came too soon after the previous one (``min_ping_interval_seconds``), if it did.

    The previous success is the newest in the ping log, or the one applied just before in the same batch
    (monitors.pingbuffer applies a batch before it writes the log): ``_last_success_at`` carries it."""
    if not monitor.min_ping_interval_seconds:
        return None
    previous = getattr(monitor, "_last_success_at", None)
    if previous is None:
        previous = (
            HeartbeatPing.objects.filter(monitor=monitor, kind=HeartbeatPing.Kind.SUCCESS, created_at__lte=now)
            .order_by("-created_at", "-id")
            .values_list("created_at", flat=True)
            .first()
        )
    monitor._last_success_at = now
    if previous is None or (now - previous).total_seconds() >= monitor.min_ping_interval_seconds:
        return None
    return (
        f"a success {_seconds((now - previous).total_seconds())} after the previous one; "
        f"expected at most one every {monitor.min_ping_interval_seconds} s"
    )


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


# --- the ping log -------------------------------------------------------------------------------


def ping_log_kept() -> int:
    """How many of its newest pings each heartbeat monitor keeps (setting PING_LOG_KEPT)."""
    return settings.TRACEPOINT["PING_LOG_KEPT"]


_TRIM_PINGS = """
DELETE FROM monitors_heartbeatping WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY monitor_id ORDER BY created_at DESC, id DESC) AS n
        FROM monitors_heartbeatping WHERE monitor_id = ANY(%(ids)s)
    ) AS numbered WHERE n > %(kept)s
)
"""


def trim_pings(monitor_ids: list[int]) -> None:
    """Keep the newest PING_LOG_KEPT pings of each monitor (one prepared statement on PostgreSQL)."""
    if connection.vendor != "postgresql":
        for monitor_id in monitor_ids:
            keep = list(
                HeartbeatPing.objects.filter(monitor_id=monitor_id).values_list("pk", flat=True)[ping_log_kept() :][:1]
            )
            if keep:
                HeartbeatPing.objects.filter(monitor_id=monitor_id, pk__lte=keep[0]).delete()
        return
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_TRIM_PINGS, {"ids": list(monitor_ids), "kept": ping_log_kept()}, prepare=True)
