"""The events app's Celery tasks: thin, each loads by id (or takes nothing) and calls a service."""

import logging
import time
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from events import alerts, daily_summary, digestion, impact, ingest, lifecycle, quota, retention

logger = logging.getLogger("tracepoint.events")


@shared_task(name="events.digest_pending", ignore_result=True, acks_late=True)
def digest_pending(max_seconds: float = 20.0) -> int:
    """Digest batches until nothing waits (or the time budget is spent; the next wake-up continues)."""
    # Clear the debounce first, so events stored while we work queue another run.
    try:
        ingest.clear_wakeup()
    except Exception as exc:  # the key expires within a second anyway
        logger.warning("could not clear the digester wake-up key: %s", exc)
    total, started, done, batch = 0, time.monotonic(), 0, digestion.batch_size()
    while time.monotonic() - started < max_seconds:
        looked_at = time.monotonic()
        done = digestion.digest_pending(limit=batch)
        total += done
        if done < batch:
            # A process that found the key just before it was cleared trusts it for WAKE_LATE_SECONDS more
            # (ingest.wake_digester): what it stores meanwhile needs a look that starts no sooner.
            if looked_at < started + ingest.WAKE_LATE_SECONDS:
                time.sleep(max(0.0, started + ingest.WAKE_LATE_SECONDS - time.monotonic()))
                continue
            # A partial batch means the backlog is gone. Whatever arrives now has queued
            # the next run, which waits a moment so it gets a batch worth digesting
            # instead of chasing the newest events one by one.
            done = 0
            break
    else:
        if done:  # out of time with work left: hand over to a fresh task instead of waiting for the sweeper
            try:
                digest_pending.apply_async(retry=False)
            except Exception as exc:  # the sweeper still covers it
                logger.warning("could not re-queue digestion: %s", exc)
    return total


@shared_task(name="events.sweep_undigested", ignore_result=True)
def sweep_undigested() -> int:
    return digestion.sweep_undigested()


@shared_task(name="events.flush_dropped_counts", ignore_result=True)
def flush_dropped_counts() -> int:
    return quota.flush_dropped()


@shared_task(name="events.resolve_quiet_issues", ignore_result=True)
def resolve_quiet_issues() -> int:
    return lifecycle.resolve_quiet_issues_after_deploys()


@shared_task(name="events.delete_old_events", ignore_result=True)
def delete_old_events() -> int:
    return retention.delete_old_events()


@shared_task(name="events.delete_old_activity", ignore_result=True)
def delete_old_activity() -> int:
    return retention.delete_old_activity()


@shared_task(name="events.refresh_issue_impact", ignore_result=True)
def refresh_issue_impact() -> int:
    return impact.refresh_active(now=timezone.now())


@shared_task(name="events.evaluate_alerts", ignore_result=True, acks_late=True)
def evaluate_alerts(issue_ids: list[int], created: list[int] | None = None, regressed: list[int] | None = None) -> int:
    return alerts.evaluate(issue_ids, created=created or (), regressed=regressed or ())


@shared_task(name="events.send_daily_summaries", ignore_result=True)
def send_daily_summaries() -> int:
    return daily_summary.send_daily_summaries()


@shared_task(name="events.wipe_events", ignore_result=True, acks_late=True)
def wipe_events(project_id: int, cutoff: str, max_seconds: float = 20.0) -> int:
    """Delete a project's events in batches; when the time budget is spent, queue the rest."""
    until = datetime.fromisoformat(cutoff)
    started, total = time.monotonic(), 0
    while True:
        done = retention.wipe_events_batch(project_id, until)
        total += done
        if not done:
            logger.info("wiped the events of project %s (%d rows in this run)", project_id, total)
            return total
        if time.monotonic() - started > max_seconds:
            wipe_events.delay(project_id, cutoff)
            return total
