import time

from celery import shared_task
from django.utils import timezone

from monitors import pingbuffer, rollups, scheduler


@shared_task(name="monitors.apply_pending_pings", ignore_result=True)
def apply_pending_pings() -> int:
    return pingbuffer.apply_pending()


@shared_task(name="monitors.mark_late_heartbeats", ignore_result=True)
def mark_late_heartbeats() -> int:
    return scheduler.mark_late_heartbeats()


TICK_BUDGET_SECONDS = 4.5  # beat sends a tick every 5 s; overlapping ticks take disjoint monitors


@shared_task(name="monitors.run_due_checks", ignore_result=True)
def run_due_checks(limit: int = 500) -> int:
    """Check everything due, batch after batch, until nothing is due or the tick's time is up."""
    started, total = time.monotonic(), 0
    while time.monotonic() - started < TICK_BUDGET_SECONDS:
        done = scheduler.run_due_checks(limit=limit)
        total += done
        if done < limit:
            break
    return total


@shared_task(name="monitors.trim_rollups", ignore_result=True)
def trim_rollups() -> tuple[int, int]:
    return rollups.trim(now=timezone.now())
