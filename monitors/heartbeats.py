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
    start = grace_start(monitor)
    return start + timedelta(seconds=monitor.grace_seconds) if start else None


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
        monitor.last_ping_at = now
        if monitor.last_start_at is not None:
            matched = ping.rid == monitor.last_start_rid
            if matched:
                ping.duration_ms = int((now - monitor.last_start_at).total_seconds() * 1000)
                if now - monitor.last_start_at < timedelta(hours=72):
                    monitor.last_duration_ms = ping.duration_ms
            if matched or kind == HeartbeatPing.Kind.FAIL or ping.rid is None:
                monitor.last_start_at = monitor.last_start_rid = None
        if monitor.status == MonitorStatus.MAINTENANCE:
            pass  # logged and timed, but the status waits for the end of the maintenance
        elif kind == HeartbeatPing.Kind.SUCCESS:
            set_status(monitor, MonitorStatus.UP, reason="success signal", at=now)
        else:
            reason = f"exit status {ping.exit_status}" if ping.exit_status else "received a failure signal"
            set_status(monitor, MonitorStatus.DOWN, reason=reason, at=now)
    monitor.alert_after = compute_alert_after(monitor)
    Monitor.objects.filter(pk=monitor.pk).update(**{name: getattr(monitor, name) for name in fields})


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
