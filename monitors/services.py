"""The monitors domain layer: status changes as periods, uptime maths, heartbeat pings and deadlines.

Heartbeats follow shared/specs/heartbeat-pings.md (the Healthchecks model):
``success``/``fail``/``start``/``log`` and exit-status pings, run ids, run
time, simple and cron schedules with grace, and a sweeper that flips overdue
monitors to DOWN stamped with the computed deadline.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import psycopg
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitors import rollups
from monitors.models import (
    HeartbeatPing,
    Monitor,
    MonitorIncident,
    MonitorKind,
    MonitorStatus,
    ScheduleKind,
    StatusPeriod,
)
from monitors.signals import monitor_deleting, monitor_opened_incident, monitor_status_changed
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.links import absolute_url

logger = logging.getLogger("tracepoint.monitors")


def ping_log_kept() -> int:
    """How many of its newest pings each heartbeat monitor keeps (setting PING_LOG_KEPT)."""
    return settings.TRACEPOINT["PING_LOG_KEPT"]


WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
# Time in these states counts neither up nor down.
EXCLUDED = {MonitorStatus.PAUSED, MonitorStatus.PENDING, MonitorStatus.MAINTENANCE}
UP_STATES = {MonitorStatus.UP, MonitorStatus.DEGRADED}


def ping_body_limit() -> int:
    return settings.TRACEPOINT["PING_BODY_MAX_BYTES"]


# --- status and periods -----------------------------------------------------------------


def set_status(monitor: Monitor, status: str, *, reason: str = "", at: datetime) -> bool:
    """Move a (locked) monitor to ``status`` from ``at``: close the open period, open a new one."""
    if monitor.status == status:
        return False
    previous = monitor.status
    StatusPeriod.objects.filter(monitor=monitor, ended_at__isnull=True).update(ended_at=at)
    StatusPeriod.objects.create(monitor=monitor, status=status, started_at=at, reason=reason[:500])
    monitor.status, monitor.status_changed_at = status, at
    Monitor.objects.filter(pk=monitor.pk).update(status=status, status_changed_at=at)
    _on_change(monitor, previous, status, reason=reason, at=at)
    monitor_id = monitor.pk
    transaction.on_commit(lambda: monitor_status_changed.send_robust(sender=Monitor, monitor_id=monitor_id))
    return True


def delete_monitor(monitor_id: int) -> None:
    with transaction.atomic():
        monitor_deleting.send(sender=Monitor, monitor_id=monitor_id)
        Monitor.objects.filter(pk=monitor_id).delete()


# A first result, a pause and a resume are not news; everything else is.
QUIET_CHANGES = {
    (MonitorStatus.PENDING, MonitorStatus.UP),
    (MonitorStatus.PAUSED, MonitorStatus.UP),
    (MonitorStatus.PAUSED, MonitorStatus.PENDING),
}


def _on_change(monitor: Monitor, previous: str, status: str, *, reason: str, at: datetime) -> None:
    """Alerts through the notification channels; an incident opened on DOWN and resolved on recovery."""
    if status in (MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE) or (
        previous in (MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE) and status == MonitorStatus.PENDING
    ):
        return  # planned: neither alerts nor incidents
    if (previous, status) not in QUIET_CHANGES:
        _notify(monitor, previous, status, reason=reason, at=at)
    if not monitor.open_incident:
        return
    if status == MonitorStatus.DOWN:
        _open_incident(monitor, reason=reason, at=at)
    elif status == MonitorStatus.UP:
        _resolve_incidents(monitor, at=at)


def _actor(monitor: Monitor):
    from incidents.services import Actor

    return Actor(label=f"monitor {monitor.name}"[:150])


def _open_incident(monitor: Monitor, *, reason: str, at: datetime) -> None:
    from incidents import services as incident_services
    from incidents.models import Incident

    if Incident.objects.open().filter(monitor_links__monitor=monitor).exists():
        return
    incident = incident_services.create_incident(
        title=f"{monitor.name} is down"[:200],
        service=_service_name(monitor),
        severity=monitor.incident_severity,
        summary=f"Opened by monitor “{monitor.name}”: {reason}",
        by=_actor(monitor),
        now=at,
    )
    MonitorIncident.objects.create(monitor=monitor, incident=incident)
    monitor_opened_incident.send(sender=Monitor, monitor_id=monitor.pk, incident_id=incident.pk)


def _resolve_incidents(monitor: Monitor, *, at: datetime) -> None:
    from incidents import services as incident_services
    from incidents.models import Incident

    for incident in Incident.objects.open().filter(monitor_links__monitor=monitor):
        incident_services.add_comment(
            incident.pk, body=f"Monitor “{monitor.name}” is up again.", by=_actor(monitor), now=at
        )
        incident_services.transition_incident(incident.pk, to="RESOLVED", by=_actor(monitor), now=at)


def _service_name(monitor: Monitor) -> str:
    import re

    name = re.sub(r"[^a-z0-9._-]+", "-", monitor.name.lower()).strip("-._")[:100]
    return name or "monitor"


def _notify(monitor: Monitor, previous: str, status: str, *, reason: str, at: datetime) -> None:
    from tracepoint.notifications.services import notify

    label = MonitorStatus(status).label.upper()
    subject = f"[{label}] {monitor.name}" + (f": {reason}" if reason and status != MonitorStatus.UP else "")
    text = (
        f"Monitor {monitor.name} ({monitor.get_kind_display()}) is {MonitorStatus(status).label.lower()} "
        f"since {at:%Y-%m-%d %H:%M:%S} UTC (was {MonitorStatus(previous).label.lower()}).\n"
        + (f"Why: {reason}\n" if reason else "")
        + absolute_url("monitors:detail", monitor.pk)
        + "\n"
    )
    notify(
        topic=f"monitor.{status}",
        subject=subject,
        text=text,
        payload={
            "event": f"monitor.{status}",
            "monitor": {
                "id": monitor.pk,
                "name": monitor.name,
                "kind": monitor.kind,
                "target": monitor.url or f"{monitor.host}:{monitor.port}",
            },
            "from": previous,
            "to": status,
            "reason": reason,
            "at": at,
        },
        severity=monitor.incident_severity if status == MonitorStatus.DOWN else None,
    )


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
    """Every monitor's uptime over ``window``, worst first and no data last (the daily digest).

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


# --- heartbeat schedule -------------------------------------------------------------------


def next_due(monitor: Monitor, after: datetime) -> datetime:
    """When the ping after one at ``after`` is due: period later, or the next cron match (in tz, DST-safe)."""
    if monitor.schedule_kind == ScheduleKind.CRON:
        from cronsim import CronSim

        zone = ZoneInfo(monitor.tz)
        local = after.astimezone(zone).replace(second=0, microsecond=0)
        for match in CronSim(monitor.cron, local):
            if match > after:
                return match.astimezone(after.tzinfo or ZoneInfo("UTC"))
    return after + timedelta(seconds=monitor.period_seconds)


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


# --- pings ------------------------------------------------------------------------------


class InvalidPing(DomainError):
    pass


def parse_action(action: str | None) -> tuple[str, int | None]:
    """URL suffix → (kind, exit status): '' success, start, fail, log, or 0-255."""
    if not action:
        return HeartbeatPing.Kind.SUCCESS, None
    if action in ("start", "fail", "log"):
        return action, None
    if action.isdigit():
        code = int(action)
        if code > 255:
            raise InvalidPing("invalid url format")
        return (HeartbeatPing.Kind.SUCCESS if code == 0 else HeartbeatPing.Kind.FAIL), code
    raise InvalidPing("invalid url format")


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


def parse_ping(
    action: str | None,
    *,
    method: str = "GET",
    body: bytes = b"",
    rid: str | None = None,
    remote_addr: str = "",
    user_agent: str = "",
) -> PingInput:
    """Validate a ping's URL suffix and run id (raises InvalidPing) and cut its fields to size."""
    kind, exit_status = parse_action(action)
    run_id = None
    if rid:
        try:
            run_id = uuid.UUID(rid)
        except ValueError:
            raise InvalidPing("invalid uuid format") from None
    return PingInput(
        kind=kind,
        exit_status=exit_status,
        run_id=run_id,
        method=method[:7],
        remote_addr=remote_addr[:45],
        user_agent=user_agent[:200],
        # PostgreSQL text cannot hold NUL: drop it rather than fail the ping (or a whole buffered batch).
        body=body[: ping_body_limit()].decode("utf-8", errors="replace").replace("\x00", ""),
    )


def accept_ping(ping_key, *, action: str | None = None, now: datetime | None = None, **received) -> None:
    """The endpoints' entry: validate, then hand the ping to the buffer (monitors.pingbuffer) when
    Redis is there, else apply it at once. Raises InvalidPing / NotFoundError."""
    from monitors import pingbuffer

    ping = parse_ping(action, **received)
    now = now or timezone.now()
    if not pingbuffer.push(ping_key, ping, now=now):
        record_ping(ping_key, ping, now=now)


def record_ping(
    ping_key,
    ping: PingInput | None = None,
    *,
    action: str | None = None,
    now: datetime | None = None,
    **received,
) -> HeartbeatPing:
    """Apply one ping to its heartbeat monitor (row-locked) and log it. Raises NotFoundError / InvalidPing."""
    ping = ping or parse_ping(action, **received)
    now = now or timezone.now()
    if ping.is_plain_success:
        logged = _quick_success(ping_key, ping, now=now)
        if logged is not None:
            return logged
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().filter(ping_key=ping_key, kind=MonitorKind.HEARTBEAT).first()
        if monitor is None:
            raise NotFoundError("not found")
        logged = apply_ping(monitor, ping, now=now)
        logged.save()
        if logged.pk % 20 == 0:  # keep the newest PING_LOG_KEPT, trimming now and then
            _trim_pings([monitor.pk])
    return logged


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


# The common ping (a plain success on an UP monitor with no run outstanding) is one
# statement without a row lock, and it writes only last_ping_at, which no index
# covers, so PostgreSQL updates the row in place (HOT). alert_after is left as it
# was: it is the moment to look again, never later than the real deadline, and
# mark_late_heartbeats recomputes it from last_ping_at when it comes round.
_QUICK_SUCCESS = """
WITH m AS (
    UPDATE monitors_monitor SET last_ping_at = %(now)s
    WHERE ping_key = %(key)s AND kind = 'heartbeat' AND status = 'up' AND last_start_at IS NULL
    RETURNING id
)
INSERT INTO monitors_heartbeatping
    (monitor_id, kind, created_at, method, remote_addr, user_agent, body, rid, exit_status, duration_ms)
SELECT id, 'success', %(now)s, %(method)s, %(remote_addr)s, %(user_agent)s, %(body)s, NULL, NULL, NULL FROM m
RETURNING id, monitor_id
"""


def _quick_success(ping_key, ping: PingInput, *, now: datetime) -> HeartbeatPing | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    params = {
        "now": now,
        "key": ping_key,
        "method": ping.method,
        "remote_addr": ping.remote_addr,
        "user_agent": ping.user_agent,
        "body": ping.body,
    }
    # A server-side prepared statement: PostgreSQL parses and plans it once per connection.
    with connection.wrap_database_errors:
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_QUICK_SUCCESS, params, prepare=True)
            row = cursor.fetchone()
    if row is None:
        return None  # unknown key, or not in the simple state: the locked path decides
    ping_id, monitor_id = row
    if ping_id % 20 == 0:  # keep the newest PING_LOG_KEPT, trimming now and then
        _trim_pings([monitor_id])
    return HeartbeatPing(
        pk=ping_id,
        monitor_id=monitor_id,
        kind=HeartbeatPing.Kind.SUCCESS,
        created_at=now,
        method=ping.method,
        remote_addr=ping.remote_addr,
        user_agent=ping.user_agent,
        body=ping.body,
    )


_TRIM_PINGS = """
DELETE FROM monitors_heartbeatping WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY monitor_id ORDER BY created_at DESC, id DESC) AS n
        FROM monitors_heartbeatping WHERE monitor_id = ANY(%(ids)s)
    ) AS numbered WHERE n > %(kept)s
)
"""


def _trim_pings(monitor_ids: list[int]) -> None:
    """Keep the newest PING_LOG_KEPT pings of each monitor (one prepared statement on PostgreSQL)."""
    from django.db import connection

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


def mark_late_heartbeats(*, now: datetime | None = None, limit: int = 1000, rounds: int = 20) -> int:
    """Flip every overdue heartbeat to DOWN, stamped with its deadline. Safe on any number of workers.

    A row comes up when its alert_after passes; quick pings do not move alert_after,
    so most rows that come up have pinged since and only get their deadline pushed
    on (in one statement per batch). Buffered pings are applied first: one that
    arrived before a deadline must count."""
    from monitors import pingbuffer

    now = now or timezone.now()
    try:
        pingbuffer.apply_pending(wait_seconds=10)
    except Exception as exc:  # Redis away or a bad batch: judge on what the database holds
        logger.error("could not apply buffered pings before marking late heartbeats: %s", exc)
    flipped = 0
    for _ in range(rounds):
        with transaction.atomic():
            overdue = list(
                Monitor.objects.heartbeats_overdue(now)
                .select_for_update(skip_locked=True)
                .order_by("alert_after")[:limit]
            )
            pushed = []
            for monitor in overdue:
                deadline = compute_alert_after(monitor)
                if deadline is None or deadline > now:
                    monitor.alert_after = deadline
                    pushed.append(monitor)
                    continue
                reason = (
                    "the job started but did not finish within the grace time"
                    if (
                        monitor.last_start_at
                        and deadline == monitor.last_start_at + timedelta(seconds=monitor.grace_seconds)
                    )
                    else "the success signal did not arrive on time (grace time passed)"
                )
                flipped += set_status(monitor, MonitorStatus.DOWN, reason=reason, at=deadline)
            Monitor.objects.bulk_update(pushed, ["alert_after"], batch_size=500)
        if len(overdue) < limit:
            break
    return flipped


def pause(monitor_id, *, now: datetime | None = None) -> Monitor:
    now = now or timezone.now()
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        set_status(monitor, MonitorStatus.PAUSED, reason="paused", at=now)
        if monitor.is_heartbeat and monitor.last_start_at is None:
            Monitor.objects.filter(pk=monitor.pk).update(alert_after=None)
    return Monitor.objects.get(pk=monitor_id)


def resume(monitor_id, *, now: datetime | None = None) -> Monitor:
    """Back to PENDING until the next result (heartbeats: until the next ping)."""
    now = now or timezone.now()
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        if monitor.status == MonitorStatus.PAUSED:
            set_status(monitor, MonitorStatus.PENDING, reason="resumed", at=now)
            Monitor.objects.filter(pk=monitor.pk).update(
                streak_status="", streak_count=0, next_check_at=now, alert_after=compute_alert_after(monitor)
            )
    return Monitor.objects.get(pk=monitor_id)


def begin_maintenance(monitor_ids, *, now: datetime | None = None, reason: str = "maintenance") -> int:
    """Planned work: the monitors still check and take pings, but change no status and send no alert;
    the time counts neither up nor down. Paused monitors stay paused. Returns how many went in."""
    now = now or timezone.now()
    started = 0
    with transaction.atomic():
        for monitor in Monitor.objects.select_for_update().filter(pk__in=list(monitor_ids)).order_by("pk"):
            if monitor.status in (MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE):
                continue
            started += set_status(monitor, MonitorStatus.MAINTENANCE, reason=reason, at=now)
            Monitor.objects.filter(pk=monitor.pk).update(streak_status="", streak_count=0)
    return started


def end_maintenance(monitor_ids, *, now: datetime | None = None) -> int:
    """Back to PENDING, checked at once; as after a resume, the next results decide (and alert)."""
    now = now or timezone.now()
    ended = 0
    with transaction.atomic():
        for monitor in Monitor.objects.select_for_update().filter(pk__in=list(monitor_ids)).order_by("pk"):
            if monitor.status != MonitorStatus.MAINTENANCE:
                continue
            ended += set_status(monitor, MonitorStatus.PENDING, reason="maintenance ended", at=now)
            Monitor.objects.filter(pk=monitor.pk).update(
                streak_status="", streak_count=0, next_check_at=now, alert_after=compute_alert_after(monitor)
            )
    return ended


# --- active checks: claim, run, record -------------------------------------------------------------


def claim_due(*, now: datetime | None = None, limit: int = 500) -> list[Monitor]:
    """Take up to ``limit`` due HTTP/TCP monitors and move their next check on (SKIP LOCKED: no double checks)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Monitor.objects.filter(next_check_at__lte=now)
            .exclude(kind=MonitorKind.HEARTBEAT)
            .exclude(status=MonitorStatus.PAUSED)
            .select_for_update(skip_locked=True)
            .order_by("next_check_at")[:limit]
        )
        by_interval: dict[int, list[int]] = {}
        for monitor in due:
            by_interval.setdefault(monitor.interval_seconds, []).append(monitor.pk)
        for interval, ids in by_interval.items():
            Monitor.objects.filter(pk__in=ids).update(next_check_at=now + timedelta(seconds=interval))
    return due


def record_result(monitor_id: int, result, *, now: datetime | None = None) -> bool:
    """Count one result; the status changes after ``down_after`` (or ``up_after``) agreeing results. True if it did."""
    now = now or timezone.now()
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().filter(pk=monitor_id).first()
        if monitor is None or monitor.status == MonitorStatus.PAUSED:
            return False
        if monitor.status == MonitorStatus.MAINTENANCE:  # latency is kept; the status waits
            Monitor.objects.filter(pk=monitor.pk).update(
                last_checked_at=now, last_latency_ms=result.latency_ms, last_error=result.error[:500]
            )
            rollups.add(monitor, at=now, latency_ms=result.latency_ms, failed=result.status == MonitorStatus.DOWN)
            return False
        if monitor.streak_status == result.status:
            monitor.streak_count += 1
        else:
            monitor.streak_status, monitor.streak_count = result.status, 1
        needed = monitor.down_after if result.status == MonitorStatus.DOWN else monitor.up_after
        changed = False
        if monitor.streak_count >= needed and monitor.status != result.status:
            reason = result.error or ("check passed" if result.status == MonitorStatus.UP else result.status)
            changed = set_status(monitor, result.status, reason=reason, at=now)
        Monitor.objects.filter(pk=monitor.pk).update(
            streak_status=monitor.streak_status,
            streak_count=monitor.streak_count,
            last_checked_at=now,
            last_latency_ms=result.latency_ms,
            last_error=result.error[:500],
        )
        rollups.add(monitor, at=now, latency_ms=result.latency_ms, failed=result.status == MonitorStatus.DOWN)
    return changed


def run_due_checks(*, now: datetime | None = None, limit: int = 500, concurrency: int = 50) -> int:
    """One scheduler tick: claim, check concurrently outside any transaction, record. Returns checks run."""
    from monitors.probes import CheckSpec, check_all

    started = timezone.now()
    due = claim_due(now=now, limit=limit)
    if not due:
        return 0
    results = check_all([CheckSpec.of(monitor) for monitor in due], concurrency=concurrency)
    finished = timezone.now()
    for monitor_id, result in results.items():
        record_result(monitor_id, result, now=finished)
    # How late the checks started against their due time: the scheduler's health in one line.
    lags = sorted((started - monitor.next_check_at).total_seconds() for monitor in due)
    logger.info(
        "checked %d monitors in %.2f s; schedule lag p50 %.2f s, p95 %.2f s, max %.2f s",
        len(due),
        (timezone.now() - started).total_seconds(),
        lags[len(lags) // 2],
        lags[min(len(lags) - 1, int(len(lags) * 0.95))],
        lags[-1],
        extra={"checks": len(due), "lag_histogram": lag_histogram(lags)},
    )
    return len(results)


def create_monitor(**fields) -> Monitor:
    """A new monitor: active ones are due at once; heartbeats wait for their first ping."""
    now = timezone.now()
    monitor = Monitor.objects.create(
        next_check_at=None if fields.get("kind") == MonitorKind.HEARTBEAT else now, **fields
    )
    StatusPeriod.objects.create(monitor=monitor, status=MonitorStatus.PENDING, started_at=now, reason="created")
    return monitor


def reschedule(monitor_id: int) -> None:
    """After an edit: check again soon, and recompute a heartbeat's deadline under its new schedule."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        if monitor.is_heartbeat:
            Monitor.objects.filter(pk=monitor.pk).update(alert_after=compute_alert_after(monitor))
        elif monitor.status != MonitorStatus.PAUSED:
            Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now())


def check_now(monitor_id: int):
    from monitors.probes import CheckSpec, check_all

    monitor = Monitor.objects.get(pk=monitor_id)
    result = check_all([CheckSpec.of(monitor)])[monitor.pk]
    record_result(monitor.pk, result)
    return result


LAG_BOUNDS_SECONDS = (0.5, 1, 2, 3, 5, 10, 30, 60)


def lag_histogram(lags: list[float]) -> dict[str, int]:
    """Counts of schedule lags per bound ("le_5" = at most 5 s late; "inf" = later), for logs and benchmarks."""
    counts = {f"le_{bound:g}": 0 for bound in LAG_BOUNDS_SECONDS} | {"inf": 0}
    for lag in lags:
        bound = next((b for b in LAG_BOUNDS_SECONDS if lag <= b), None)
        counts[f"le_{bound:g}" if bound is not None else "inf"] += 1
    return counts
