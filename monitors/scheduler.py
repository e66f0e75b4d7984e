"""What beat runs on a timer: the active checks that are due, and the heartbeats that are overdue.

Active checks (STYLE "Hot paths"): one beat task selects the due HTTP/TCP monitors by ``next_check_at``,
claims them with SKIP LOCKED while moving their next check on, runs the probes concurrently outside any
transaction, then records each result under the monitor's row lock (anti-flapping streaks, the status
change, the latency rollup); a batch's results are counted together (``record_results``). A monitor
with locations is not checked here: its round goes to each location's queue, the probe whose answer
completes it decides it by quorum (monitors/locations.py), and a main worker records that decision.
A check that could not tell (an inconclusive result, ``MonitorStatus.PENDING``: today only a domain
lookup that failed, monitors/rdap.py) changes no status and no streak; it is kept as the last check, and
the monitor is checked again within ``INCONCLUSIVE_RETRY`` instead of an interval later.
Heartbeats: ``mark_late_heartbeats`` flips every monitor whose deadline (monitors/heartbeats.py) passed to
DOWN, stamped with that deadline.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from monitors import dependencies, locations, pingbuffer, rdap, rollups
from monitors.heartbeats import compute_alert_after, late_reason
from monitors.models import Monitor, MonitorKind, MonitorStatus, ProbeLocation
from monitors.probes import CheckResult, CheckSpec, check_all
from monitors.status import announce_held_down, set_status
from tracepoint.rows import update_columns

logger = logging.getLogger("tracepoint.monitors")

# An inconclusive check is asked again this soon (or at its next interval, if sooner).
INCONCLUSIVE_RETRY = timedelta(hours=1)

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
            # One interval after the due time, not after now: a tick that runs late (or claims a lot at once)
            # must not bunch its monitors up for ever after. Far behind (half an interval), start afresh.
            Monitor.objects.filter(pk__in=ids).update(
                next_check_at=Greatest(
                    F("next_check_at") + timedelta(seconds=interval), Value(now + timedelta(seconds=interval / 2))
                )
            )
    return due


def record_result(monitor_id: int, result: CheckResult, *, now: datetime | None = None, once: bool = False) -> bool:
    """Count one result; the status changes after ``down_after`` (or ``up_after``) agreeing results. True if it did."""
    now = now or timezone.now()
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().filter(pk=monitor_id).first()
        if monitor is None:
            return False
        result = _settled(monitor, result, now=now)
        verdict = _tally(monitor, result, now=now, once=once)
        if verdict == _SKIP:
            return False
        changed = False
        if verdict == _CHANGE:
            reason = result.error or ("check passed" if result.status == MonitorStatus.UP else result.status)
            changed = set_status(monitor, result.status, reason=reason, at=now)
        elif verdict == _ANNOUNCE:
            # Down since a parent was; the parent is up and this still fails: its own problem now.
            announce_held_down(monitor, reason=result.error or result.status, at=now)
        Monitor.objects.filter(pk=monitor.pk).update(**{name: getattr(monitor, name) for name in _COUNTED})
        if verdict != _INCONCLUSIVE:
            rollups.add(monitor, at=now, latency_ms=result.latency_ms, failed=result.status == MonitorStatus.DOWN)
    return changed


def record_results(results: dict[int, CheckResult], *, now: datetime) -> set[int]:
    """``record_result`` for a batch, a monitor after those of them it depends on (its DOWN is then blamed on
    them). Returns the monitors whose status changed.

    Most results change nothing but counters: those are counted under one lock of the batch's rows and written
    in one statement. From the first result that changes a status (or announces a DOWN) on, the rest go one
    by one through ``record_result``, in order, as a change may touch the monitors that depend on it. A result
    no newer than the monitor's last one is not counted again: a task retried after a deadlock brings the
    same batch with the same time."""
    if not results:
        return set()
    order = dependencies.parents_first(list(results))
    rest: list[int] = []
    with transaction.atomic():
        monitors = Monitor.objects.select_for_update().filter(pk__in=order).order_by("pk").in_bulk()
        counted = []
        for index, monitor_id in enumerate(order):
            monitor = monitors.get(monitor_id)
            if monitor is None:
                continue
            result = _settled(monitor, results[monitor_id], now=now)
            verdict = _tally(monitor, result, now=now, dry_run=True, once=True)
            if verdict in (_CHANGE, _ANNOUNCE):
                rest = order[index:]
                break
            if verdict != _SKIP:
                _tally(monitor, result, now=now, once=True)
                counted.append((monitor, result, verdict))
        _write_counted([monitor for monitor, _, _ in counted])
        for monitor, result, verdict in counted:
            if verdict != _INCONCLUSIVE:
                rollups.add(monitor, at=now, latency_ms=result.latency_ms, failed=result.status == MonitorStatus.DOWN)
    return {monitor_id for monitor_id in rest if record_result(monitor_id, results[monitor_id], now=now, once=True)}


def _write_counted(monitors: list[Monitor]) -> None:
    update_columns(Monitor, monitors, _COUNTED)


_SKIP, _COUNT, _CHANGE, _ANNOUNCE, _INCONCLUSIVE = "skip", "count", "change", "announce", "inconclusive"
_COUNTED = ["streak_status", "streak_count", "last_checked_at", "last_latency_ms", "last_error", "last_details"]


def _settled(monitor: Monitor, result: CheckResult, *, now: datetime) -> CheckResult:
    """``result`` as the monitor's kind records it: a domain lookup is judged against what the monitor kept
    of the previous ones (inconclusive, or DOWN once lookups have failed for over a day: rdap.settle)."""
    if monitor.kind == MonitorKind.DOMAIN:
        return rdap.settle(result, monitor.last_details, now=now)
    return result


def _tally(monitor: Monitor, result: CheckResult, *, now: datetime, dry_run: bool = False, once: bool = False) -> str:
    """Count ``result`` into the (locked) monitor's streak and last-check fields, and say what else it calls
    for: nothing (paused), a counted result only, a status change, or announcing a DOWN held for a parent.
    An inconclusive result (PENDING) is the last check but counts nothing: the streak and status stay.
    In maintenance, the latency is kept and the status waits."""
    if monitor.status == MonitorStatus.PAUSED:
        return _SKIP
    if once and monitor.last_checked_at is not None and now <= monitor.last_checked_at:
        return _SKIP  # counted already: a batch retried after a deadlock comes again with the same time
    if result.status == MonitorStatus.PENDING:
        if not dry_run:
            monitor.last_checked_at, monitor.last_latency_ms = now, result.latency_ms
            monitor.last_error, monitor.last_details = result.error[:500], result.details
        return _INCONCLUSIVE
    if monitor.status == MonitorStatus.MAINTENANCE:
        if not dry_run:
            monitor.last_checked_at, monitor.last_latency_ms = now, result.latency_ms
            monitor.last_error = result.error[:500]
        return _COUNT
    if monitor.streak_status == result.status:
        streak_status, streak_count = result.status, monitor.streak_count + 1
    else:
        streak_status, streak_count = result.status, 1
    needed = monitor.down_after if result.status == MonitorStatus.DOWN else monitor.up_after
    verdict = _COUNT
    if streak_count >= needed and monitor.status != result.status:
        verdict = _CHANGE
    elif (
        streak_count >= needed
        and result.status == MonitorStatus.DOWN
        and monitor.down_unannounced
        and monitor.down_because_of_id is None
    ):
        verdict = _ANNOUNCE
    if not dry_run:
        monitor.streak_status, monitor.streak_count = streak_status, streak_count
        monitor.last_checked_at, monitor.last_latency_ms = now, result.latency_ms
        monitor.last_error, monitor.last_details = result.error[:500], result.details
    return verdict


def run_due_checks(*, now: datetime | None = None, limit: int = 500, concurrency: int = 50) -> int:
    """One scheduler tick: claim; check the local monitors concurrently outside any transaction and record
    them; send the others' rounds to their locations. Returns the monitors claimed."""
    started = timezone.now()
    now = now or started
    due = claim_due(now=now, limit=limit)
    if not due:
        return 0
    local, batches, abandoned = locations.open_rounds(due, now=now)
    locations.dispatch(batches, round_at=now)
    record_results(abandoned, now=now)
    if batches:
        logger.info(
            "sent %d monitors to %d locations",
            len(due) - len(local),
            len(batches),
            extra={"located": len(due) - len(local), "batches": len(batches)},
        )
    if not local:
        return len(due)
    results = check_all([CheckSpec.of(monitor) for monitor in local], concurrency=concurrency)
    finished = timezone.now()
    record_results(results, now=finished)
    if inconclusive := [pk for pk, result in results.items() if result.status == MonitorStatus.PENDING]:
        # Soon, not an interval later: a failed lookup says nothing about the target (a daily domain check
        # would otherwise know nothing for another day).
        Monitor.objects.filter(pk__in=inconclusive).exclude(status=MonitorStatus.PAUSED).update(
            next_check_at=Least(F("next_check_at"), Value(finished + INCONCLUSIVE_RETRY))
        )
    # How late the checks started against their due time: the scheduler's health in one line.
    log_checks(sorted((started - monitor.next_check_at).total_seconds() for monitor in local), started=started)
    return len(due)


def run_location_checks(
    location: str,
    round_at: datetime,
    monitor_ids: list[int],
    lags_ms: list[int] | None = None,
    *,
    concurrency: int = 50,
) -> dict[int, CheckResult]:
    """A probe's part of a round: check the batch from here and answer. Returns the decisions of the rounds
    this answer completed, for the main workers to record (``record_results``): a probe far from the
    database does a few statements per batch, and the last probe to answer (often the busiest) is not
    also given the recording. Monitors whose round has closed meanwhile (decided without this location)
    are skipped."""
    started = timezone.now()
    probe = ProbeLocation.objects.filter(name=location).first()
    if probe is None:
        logger.warning("location %s is not known (deleted?): its checks are dropped", location)
        return {}
    monitors = list(Monitor.objects.filter(pk__in=monitor_ids, round_at=round_at))
    results = check_all([CheckSpec.of(monitor) for monitor in monitors], concurrency=concurrency) if monitors else {}
    decisions = locations.answer(probe, round_at, results, now=timezone.now())
    if monitors:
        claimed_late = dict(zip(monitor_ids, lags_ms or [], strict=False))
        queued = (started - round_at).total_seconds()
        lags = sorted(queued + claimed_late.get(monitor.pk, 0) / 1000 for monitor in monitors)
        log_checks(lags, started=started, location=location)
    return decisions


def settle_rounds(*, now: datetime | None = None) -> int:
    """Decide the rounds a location left unanswered (monitors/locations.py). Returns the results recorded."""
    now = now or timezone.now()
    decisions = locations.settle(now=now)
    record_results(decisions, now=now)
    return len(decisions)


def log_checks(lags: list[float], *, started: datetime, location: str = "") -> None:
    """One line per batch: how many, how long, and how late they started against their due time."""
    logger.info(
        "checked %d monitors%s in %.2f s; schedule lag p50 %.2f s, p95 %.2f s, max %.2f s",
        len(lags),
        f" from {location}" if location else "",
        (timezone.now() - started).total_seconds(),
        lags[len(lags) // 2],
        lags[min(len(lags) - 1, int(len(lags) * 0.95))],
        lags[-1],
        extra={"checks": len(lags), "lag_histogram": lag_histogram(lags), "location": location},
    )


def reschedule(monitor_id: int) -> None:
    """After an edit: check again soon, and recompute a heartbeat's deadline under its new schedule."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        if monitor.is_heartbeat:
            Monitor.objects.filter(pk=monitor.pk).update(alert_after=compute_alert_after(monitor))
        elif monitor.status != MonitorStatus.PAUSED:
            Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now())


def check_now(monitor_id: int) -> tuple[CheckResult, bool]:
    """Check once from this process: (result, recorded). A monitor checked from locations takes its status from
    their quorum, never from one vantage point: its result here is shown, not recorded."""
    monitor = Monitor.objects.get(pk=monitor_id)
    result = check_all([CheckSpec.of(monitor)])[monitor.pk]
    if monitor.locations.exists():
        return result, False
    record_result(monitor.pk, result)
    return result, True


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
                reason = late_reason(monitor, deadline)
                flipped += set_status(monitor, MonitorStatus.DOWN, reason=reason, at=deadline)
            Monitor.objects.bulk_update(pushed, ["alert_after"], batch_size=500)
        if len(overdue) < limit:
            break
    return flipped
