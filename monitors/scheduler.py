"""What beat runs on a timer: the active checks that are due, and the heartbeats that are overdue.

Active checks (STYLE "Hot paths"): one beat task selects the due HTTP/TCP monitors by ``next_check_at``,
claims them with SKIP LOCKED while moving their next check on, runs the probes concurrently outside any
transaction, then records each result under the monitor's row lock (anti-flapping streaks, the status
change, the latency rollup). Heartbeats: ``mark_late_heartbeats`` flips every monitor whose deadline
(monitors/heartbeats.py) passed to DOWN, stamped with that deadline.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from monitors import dependencies, pingbuffer, rollups
from monitors.heartbeats import compute_alert_after
from monitors.models import Monitor, MonitorKind, MonitorStatus
from monitors.probes import CheckResult, CheckSpec, check_all
from monitors.status import announce_held_down, set_status

logger = logging.getLogger("tracepoint.monitors")

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


def record_result(monitor_id: int, result: CheckResult, *, now: datetime | None = None) -> bool:
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
        elif (
            monitor.streak_count >= needed
            and result.status == MonitorStatus.DOWN
            and monitor.down_unannounced
            and monitor.down_because_of_id is None
        ):  # down since a parent was; the parent is up and this still fails: its own problem now
            announce_held_down(monitor, reason=result.error or result.status, at=now)
        Monitor.objects.filter(pk=monitor.pk).update(
            streak_status=monitor.streak_status,
            streak_count=monitor.streak_count,
            last_checked_at=now,
            last_latency_ms=result.latency_ms,
            last_error=result.error[:500],
            last_details=result.details,
        )
        rollups.add(monitor, at=now, latency_ms=result.latency_ms, failed=result.status == MonitorStatus.DOWN)
    return changed


def run_due_checks(*, now: datetime | None = None, limit: int = 500, concurrency: int = 50) -> int:
    """One scheduler tick: claim, check concurrently outside any transaction, record. Returns checks run."""
    started = timezone.now()
    due = claim_due(now=now, limit=limit)
    if not due:
        return 0
    results = check_all([CheckSpec.of(monitor) for monitor in due], concurrency=concurrency)
    finished = timezone.now()
    for monitor_id in dependencies.parents_first(list(results)):
        record_result(monitor_id, results[monitor_id], now=finished)
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


def reschedule(monitor_id: int) -> None:
    """After an edit: check again soon, and recompute a heartbeat's deadline under its new schedule."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        if monitor.is_heartbeat:
            Monitor.objects.filter(pk=monitor.pk).update(alert_after=compute_alert_after(monitor))
        elif monitor.status != MonitorStatus.PAUSED:
            Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now())


def check_now(monitor_id: int) -> CheckResult:
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


# --- heartbeats: the deadline sweeper -----------------------------------------------------------------


def mark_late_heartbeats(*, now: datetime | None = None, limit: int = 1000, rounds: int = 20) -> int:
    """Flip every overdue heartbeat to DOWN, stamped with its deadline. Safe on any number of workers.

    A row comes up when its alert_after passes; quick pings do not move alert_after,
    so most rows that come up have pinged since and only get their deadline pushed
    on (in one statement per batch). Buffered pings are applied first: one that
    arrived before a deadline must count."""
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
