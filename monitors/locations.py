"""Checks from several locations, decided by a quorum.

A location is a Celery queue, ``checks.<name>``; a probe is any worker consuming it (``celery worker -Q
checks.<name>``) on a machine that reaches the broker and the database, and it registers its location when
it starts. The scheduler claims due monitors as usual; for a monitor with locations it opens a *round*
(``Monitor.round_at``, the claim time) and sends one batch per location to its queue. Each probe checks its
batch, writes its results in one statement (``LocationResult``: the last one per monitor and location) and
counts itself into the rounds under the monitors' row locks (``round_answers``, ``round_failures``). The
probe whose answer completes a round decides it:

- DOWN when at least k of the monitor's n locations failed (k: ``Monitor.quorum``, by default a majority);
- otherwise what most of the other answers say (UP or DEGRADED; DEGRADED on a tie);
- the latency is the median of the answering locations'.
The decision then counts as one check result (streaks, status changes: ``scheduler.record_result``).

A location that does not answer never counts as the target failing. A round it leaves open is decided once
the check's timeout plus ``LOCATION_ROUND_GRACE_SECONDS`` have passed, with the answers there are (k
failures are still needed; with no passing answer either, nothing is recorded). A location silent for
``PROBE_SILENT_AFTER_SECONDS`` is a probe problem (Overview, /ready) and gets no batches (counted as
answered without a result) until it answers a probe ping again: its queue does not fill up, and rounds do
not wait for it.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, transaction
from django.db.models import Count, Q
from django.db.models.functions import Now
from django.utils import timezone

from monitors.models import LocationResult, Monitor, MonitorStatus, ProbeLocation
from monitors.probes import CheckResult
from tracepoint.celery import PROBE_LOCATIONS_CACHE_KEY, app

logger = logging.getLogger("tracepoint.monitors")

QUEUE_PREFIX = "checks."
NAME = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")  # ProbeLocation.name is a slug
PING_EXPIRES_SECONDS = 25  # beat pings every 30 s: an old ping is worth nothing
SUMMARY_TTL_SECONDS = 300

Links = Monitor.locations.through


# --- the decision ------------------------------------------------------------------------------------


def failures_needed(n: int, quorum: int | None) -> int:
    """k: how many of ``n`` locations must fail in one round for DOWN (a majority unless set; at most n)."""
    return max(1, min(quorum or n // 2 + 1, n))


def decide(answers: list[LocationResult], *, n: int, quorum: int | None) -> CheckResult | None:
    """One round's result from its answers (``n``: the monitor's locations). None when they settle nothing:
    fewer than k failures and no location that passed (the others did not answer). An inconclusive answer
    (PENDING: the check could not tell, e.g. a failed domain lookup) counts as no answer."""
    answers = [answer for answer in answers if answer.status != MonitorStatus.PENDING]
    if not answers or n <= 0:
        return None
    latencies = [answer.latency_ms for answer in answers if answer.latency_ms is not None]
    latency = round(statistics.median(latencies)) if latencies else None
    failed = [answer for answer in answers if answer.status == MonitorStatus.DOWN]
    if len(failed) >= failures_needed(n, quorum):
        return CheckResult(MonitorStatus.DOWN, latency, _why(f"down from {len(failed)} of {n} locations", failed))
    votes = Counter(answer.status for answer in answers if answer.status != MonitorStatus.DOWN)
    if not votes:
        return None
    status = max(votes, key=lambda s: (votes[s], s == MonitorStatus.DEGRADED))
    if status == MonitorStatus.DEGRADED:
        degraded = [answer for answer in answers if answer.status == status]
        return CheckResult(status, latency, _why(f"degraded from {len(degraded)} of {n} locations", degraded))
    return CheckResult(status, latency)


def _why(headline: str, answers: list[LocationResult]) -> str:
    return f"{headline}: " + "; ".join(f"{answer.location.name}: {answer.error or answer.status}" for answer in answers)


# --- rounds: opened by the scheduler, answered by the probes, closed by the last answer or the clock ---


@dataclass
class Batch:
    """The checks one location runs for one round: a task on its queue."""

    location: str
    monitor_ids: list[int] = field(default_factory=list)
    lags_ms: list[int] = field(default_factory=list)  # how late each was claimed against its due time
    timeout_seconds: int = 0

    @property
    def queue(self) -> str:
        return QUEUE_PREFIX + self.location


def is_silent(location: ProbeLocation, *, now: datetime) -> bool:
    """Not heard from for PROBE_SILENT_AFTER_SECONDS (one never heard from: since it was created)."""
    limit = timedelta(seconds=settings.TRACEPOINT["PROBE_SILENT_AFTER_SECONDS"])
    return (location.last_seen_at or location.created_at) < now - limit


def locations_of(monitor_ids: list[int]) -> dict[int, list[ProbeLocation]]:
    """The locations of each of these monitors that has any."""
    found: dict[int, list[ProbeLocation]] = defaultdict(list)
    for link in Links.objects.filter(monitor_id__in=monitor_ids).select_related("probelocation"):
        found[link.monitor_id].append(link.probelocation)
    return dict(found)


def open_rounds(due: list[Monitor], *, now: datetime) -> tuple[list[Monitor], list[Batch], dict[int, CheckResult]]:
    """Split claimed monitors into those checked here (no locations) and those checked from their locations,
    opening a round on each of the latter. Returns (local monitors, one batch per location, the decisions of
    the rounds these monitors still had open: a round left open that long is decided with what it has)."""
    links = locations_of([monitor.pk for monitor in due])
    local = [monitor for monitor in due if monitor.pk not in links]
    if not links:
        return local, [], {}
    claimed_due = {monitor.pk: monitor.next_check_at for monitor in due}
    batches: dict[str, Batch] = {}
    opened: dict[int, list[int]] = defaultdict(list)  # locations skipped (silent) → monitors
    with transaction.atomic():
        # Locked again: a probe may have counted itself into a previous round since the claim.
        rows = list(Monitor.objects.select_for_update().filter(pk__in=links).order_by("pk").only(*_ROUND_FIELDS))
        counts = {pk: len(locations) for pk, locations in links.items()}
        decisions = _close_rounds([row for row in rows if row.round_at is not None], counts=counts)
        for row in rows:
            answering = [location for location in links[row.pk] if not is_silent(location, now=now)]
            if not answering:
                continue  # every probe of it is silent: no round (the probe problem says why)
            opened[len(links[row.pk]) - len(answering)].append(row.pk)
            lag_ms = max(0, round((now - (claimed_due.get(row.pk) or now)).total_seconds() * 1000))
            for location in answering:
                batch = batches.setdefault(location.name, Batch(location.name))
                batch.monitor_ids.append(row.pk)
                batch.lags_ms.append(lag_ms)
                batch.timeout_seconds = max(batch.timeout_seconds, row.timeout_seconds)
        for skipped, ids in opened.items():
            Monitor.objects.filter(pk__in=ids).update(round_at=now, round_answers=skipped, round_failures=0)
    return local, list(batches.values()), decisions


def dispatch(batches: list[Batch], *, round_at: datetime) -> None:
    """Send each batch to its location's queue (after the round is committed: never inside a transaction).
    A batch not picked up by the time its round is decided without it has expired."""
    grace = settings.TRACEPOINT["LOCATION_ROUND_GRACE_SECONDS"]
    for batch in batches:
        app.send_task(
            "monitors.run_location_checks",
            args=(batch.location, round_at.isoformat(), batch.monitor_ids, batch.lags_ms),
            queue=batch.queue,
            expires=batch.timeout_seconds + grace,
        )


def answer(
    location: ProbeLocation, round_at: datetime, results: dict[int, CheckResult], *, now: datetime | None = None
) -> dict[int, CheckResult]:
    """Record one location's results for a round and count them in; returns the decisions of the rounds this
    answer completed. Idempotent: a batch delivered twice is counted once; an answer to a round already
    closed is kept as that location's last result (when nothing newer is stored) but counts for nothing."""
    now = now or timezone.now()
    ids = sorted(results)
    with transaction.atomic():
        rows = {
            row.pk: row
            for row in Monitor.objects.select_for_update().filter(pk__in=ids).order_by("pk").only(*_ROUND_FIELDS)
        }
        stored = dict(
            LocationResult.objects.filter(location=location, monitor_id__in=rows).values_list("monitor_id", "round_at")
        )
        fresh = [pk for pk in rows if stored.get(pk) is None or stored[pk] <= round_at]
        if fresh:
            LocationResult.objects.bulk_create(
                [
                    LocationResult(
                        monitor_id=pk,
                        location=location,
                        round_at=round_at,
                        status=results[pk].status,
                        latency_ms=results[pk].latency_ms,
                        error=results[pk].error[:500],
                        checked_at=now,
                    )
                    for pk in fresh
                ],
                update_conflicts=True,
                unique_fields=["monitor", "location"],
                update_fields=["round_at", "status", "latency_ms", "error", "checked_at"],
            )
        counting = [pk for pk in rows if rows[pk].round_at == round_at and stored.get(pk) != round_at]
        counts = _counts(counting)
        complete, progress = [], defaultdict(list)
        for pk in counting:
            row = rows[pk]
            row.round_answers += 1
            row.round_failures += results[pk].status == MonitorStatus.DOWN
            if row.round_answers >= counts.get(pk, 0):
                complete.append(row)
            else:
                progress[(row.round_answers, row.round_failures)].append(pk)
        for (answers, failures), pks in progress.items():
            Monitor.objects.filter(pk__in=pks).update(round_answers=answers, round_failures=failures)
        decisions = _close_rounds(complete, counts=counts)
    stamp(location.name, now=now)  # outside the transaction: every batch of this location writes this row
    # The details (DNS answers, certificate dates…) this probe saw, when it agrees with the decision.
    return {
        pk: replace(result, details=results[pk].details) if results[pk].status == result.status else result
        for pk, result in decisions.items()
    }


def settle(*, now: datetime | None = None) -> dict[int, CheckResult]:
    """Decide the rounds some location left unanswered past the check's timeout plus the grace."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.TRACEPOINT["LOCATION_ROUND_GRACE_SECONDS"])

    def overdue(round_at: datetime, timeout: int) -> bool:
        return round_at + timedelta(seconds=timeout) + grace <= now

    # A cheap unlocked look first (most open rounds are a few seconds old), then lock what is overdue.
    candidates = Monitor.objects.filter(round_at__lt=now - grace).values_list("pk", "round_at", "timeout_seconds")
    ids = [pk for pk, round_at, timeout in candidates if overdue(round_at, timeout)]
    if not ids:
        return {}
    with transaction.atomic():
        rows = list(
            Monitor.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, round_at__isnull=False)
            .order_by("pk")
            .only(*_ROUND_FIELDS)
        )
        rows = [row for row in rows if overdue(row.round_at, row.timeout_seconds)]
        return _close_rounds(rows, counts=_counts([row.pk for row in rows]))


_ROUND_FIELDS = ("pk", "round_at", "round_answers", "round_failures", "quorum", "timeout_seconds")


def _counts(monitor_ids) -> dict[int, int]:
    """How many locations each of these monitors has now."""
    rows = Links.objects.filter(monitor_id__in=list(monitor_ids)).values("monitor_id").annotate(n=Count("pk"))
    return {row["monitor_id"]: row["n"] for row in rows.order_by()}


def _close_rounds(rows: list[Monitor], *, counts: dict[int, int]) -> dict[int, CheckResult]:
    """Close the open rounds of these (locked) monitors and decide each from the answers it got."""
    if not rows:
        return {}
    Monitor.objects.filter(pk__in=[row.pk for row in rows]).update(round_at=None, round_answers=0, round_failures=0)
    round_of = {row.pk: row.round_at for row in rows}
    answers: dict[int, list[LocationResult]] = defaultdict(list)
    for result in LocationResult.objects.filter(monitor_id__in=round_of).select_related("location"):
        if result.round_at == round_of[result.monitor_id]:
            answers[result.monitor_id].append(result)
    decisions = {}
    for row in rows:
        decided = decide(answers[row.pk], n=counts.get(row.pk, 0), quorum=row.quorum)
        if decided is not None:
            decisions[row.pk] = decided
        elif answers[row.pk]:
            logger.info("monitor %s: a round with too few answers to decide (%d)", row.pk, len(answers[row.pk]))
    return decisions


def encode(results: dict[int, CheckResult]) -> list[list]:
    """Decisions as a task's JSON arguments (a probe hands them to the main workers to record)."""
    return [
        [pk, result.status, result.latency_ms, result.error, result.status_code, result.details]
        for pk, result in results.items()
    ]


def decode(rows: list[list]) -> dict[int, CheckResult]:
    return {
        int(pk): CheckResult(status, latency_ms, error, status_code, details or {})
        for pk, status, latency_ms, error, status_code, details in rows
    }


# --- probes: registration, liveness, problems -----------------------------------------------------------


def stamp(name: str, *, now: datetime | None = None) -> None:
    """The probe at ``name`` answered (never moves ``last_seen_at`` back). Stamped with the database's clock,
    not the probe's: a probe on another machine may run ahead or behind, and would look silent (or alive
    after its death) to the main workers that judge it."""
    at = now or Now()
    ProbeLocation.objects.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at), name=name).update(
        last_seen_at=at
    )


def register(queues, *, now: datetime | None = None) -> list[str]:
    """The locations behind these queue names (``checks.<name>``), created if new and stamped as seen."""
    now = now or timezone.now()
    names = [queue[len(QUEUE_PREFIX) :] for queue in queues if queue.startswith(QUEUE_PREFIX)]
    valid = [name for name in names if NAME.match(name)]
    for name in sorted(set(names) - set(valid)):
        logger.error("queue %s%s: %r is not a location name (letters, digits, - and _)", QUEUE_PREFIX, name, name)
    for name in valid:
        ProbeLocation.objects.get_or_create(name=name)
        stamp(name, now=now)
    return valid


def register_worker_queues(sender=None, **kwargs) -> None:
    """celery ``worker_ready``: a worker consuming ``checks.<name>`` is a probe there; make the location known
    (offered by the monitor form) without anyone creating it by hand. A failure here must not stop the worker."""
    try:
        queues = list(sender.app.amqp.queues.consume_from)
        names = register(queues)
        if names:
            logger.info("probe for location(s) %s ready", ", ".join(names))
    except Exception:
        logger.exception("could not register this worker's probe locations")
    finally:
        close_old_connections()


def in_use():
    """The locations at least one monitor runs from, with their monitor count (``monitor_count``)."""
    return ProbeLocation.objects.annotate(monitor_count=Count("monitors")).filter(monitor_count__gt=0).order_by("name")


def problems(*, now: datetime | None = None) -> list[ProbeLocation]:
    """The locations in use that have stopped answering, each with ``silent_seconds`` (None: never answered)."""
    now = now or timezone.now()
    found = []
    for location in in_use():
        if is_silent(location, now=now):
            location.silent_seconds = (
                round((now - location.last_seen_at).total_seconds()) if location.last_seen_at else None
            )
            found.append(location)
    return found


def ping_probes(*, now: datetime | None = None) -> int:
    """Send a probe ping to every location in use, and publish what is known of them for /ready. Returns
    the pings sent."""
    now = now or timezone.now()
    summary = {}
    for location in in_use():
        silent = is_silent(location, now=now)
        summary[location.name] = {
            "label": location.label,
            "last_seen_at": location.last_seen_at.isoformat() if location.last_seen_at else None,
            "monitors": location.monitor_count,
            "silent": silent,
        }
    cache.set(PROBE_LOCATIONS_CACHE_KEY, {"at": now.isoformat(), "locations": summary}, timeout=SUMMARY_TTL_SECONDS)
    for name in summary:
        app.send_task("monitors.probe_ping", args=(name,), queue=QUEUE_PREFIX + name, expires=PING_EXPIRES_SECONDS)
    return len(summary)


def results_for(monitor: Monitor, *, now: datetime | None = None) -> list[LocationResult]:
    """Each location of ``monitor`` with its last result (an unsaved, pending one when it has none yet), the
    location marked ``silent`` when its probe has stopped answering. For the monitor page."""
    now = now or timezone.now()
    stored = {result.location_id: result for result in monitor.location_results.select_related("location")}
    rows = []
    for location in monitor.locations.order_by("name"):
        location.silent = is_silent(location, now=now)
        result = stored.get(location.pk) or LocationResult(
            monitor=monitor, location=location, status=MonitorStatus.PENDING
        )
        result.location = location
        rows.append(result)
    return rows
