import time
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from monitors import locations, pingbuffer, rollups, scheduler, uptime


@shared_task(name="monitors.apply_pending_pings", ignore_result=True)
def apply_pending_pings() -> int:
    return pingbuffer.apply_pending()


@shared_task(name="monitors.mark_late_heartbeats", ignore_result=True)
def mark_late_heartbeats() -> int:
    return scheduler.mark_late_heartbeats()


TICK_BUDGET_SECONDS = 4.5  # beat sends a tick every 5 s; overlapping ticks take disjoint monitors


@shared_task(name="monitors.run_due_checks", ignore_result=True)
def run_due_checks(limit: int = 500) -> int:
    """Check everything due, batch after batch, until nothing is due or the tick's time is up; first decide
    the rounds that a location left unanswered."""
    started, total = time.monotonic(), 0
    scheduler.settle_rounds()
    while time.monotonic() - started < TICK_BUDGET_SECONDS:
        done = scheduler.run_due_checks(limit=limit)
        total += done
        if done < limit:
            break
    return total


@shared_task(name="monitors.run_location_checks", ignore_result=True)
def run_location_checks(location: str, round_at: str, monitor_ids: list[int], lags_ms: list[int] | None = None) -> int:
    """Run on a probe (a worker consuming ``checks.<location>``): its part of a round. The rounds it completes
    are recorded by the main workers."""
    decisions = scheduler.run_location_checks(location, datetime.fromisoformat(round_at), monitor_ids, lags_ms)
    if decisions:
        record_location_results.delay(locations.encode(decisions), timezone.now().isoformat())
    return len(decisions)


@shared_task(name="monitors.record_location_results", ignore_result=True)
def record_location_results(decisions: list[list], at: str) -> int:
    """``at`` is the probe's clock: never later than this worker's (a probe running ahead would date status
    changes in the future); a retry brings the same ``at``, which ``record_results`` counts once."""
    now = min(datetime.fromisoformat(at), timezone.now())
    return len(scheduler.record_results(locations.decode(decisions), now=now))


@shared_task(name="monitors.probe_ping", ignore_result=True)
def probe_ping(location: str) -> None:
    """Run on a probe: it is alive (sent by ``ping_probes`` to each location's queue)."""
    locations.stamp(location)


@shared_task(name="monitors.ping_probes", ignore_result=True)
def ping_probes() -> int:
    return locations.ping_probes()


@shared_task(name="monitors.refresh_uptime", ignore_result=True)
def refresh_uptime() -> int:
    """The monitor list's cached uptime columns (monitors.uptime.refresh_cached)."""
    return uptime.refresh_cached()


@shared_task(name="monitors.trim_rollups", ignore_result=True)
def trim_rollups() -> tuple[int, int]:
    return rollups.trim(now=timezone.now())
