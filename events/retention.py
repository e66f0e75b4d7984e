"""Retention: deleting events and issue history past their retention, and wiping a project's events
on request. Every deletion runs in small batches, so no transaction holds many rows for long."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.models import Event, Issue, IssueActivity, Project, ReceivedEvent


def delete_old_events(*, now: datetime | None = None, batch_size: int = 1000, max_batches: int = 1000) -> int:
    """Delete events past retention in small batches (short transactions); issues keep their counters."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRACEPOINT["EVENTS_RETENTION_DAYS"])
    deleted = 0
    for _ in range(max_batches):
        # Undigested rows wait for their counters first.
        old = Event.objects.filter(timestamp__lt=cutoff, digested_at__isnull=False).order_by("timestamp")
        batch = list(old.values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        # Deploy markers that resolved issues are referenced with SET NULL; nothing else points here.
        count, _ = Event.objects.filter(pk__in=batch).delete()
        deleted += count
    return deleted


def delete_old_activity(*, now: datetime | None = None, batch_size: int = 5000, max_batches: int = 1000) -> int:
    """Delete issue history rows past ISSUE_ACTIVITY_RETENTION_DAYS in batches (short transactions)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRACEPOINT["ISSUE_ACTIVITY_RETENTION_DAYS"])
    deleted = 0
    for _ in range(max_batches):
        batch = list(IssueActivity.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        count, _ = IssueActivity.objects.filter(pk__in=batch).delete()
        deleted += count
    return deleted


# --- wiping a project's events ---------------------------------------------------------------------

WIPE_BATCH = 2000


def request_wipe(project: Project, *, now: datetime | None = None) -> datetime:
    """Queue the deletion of the project's events (and of the issues left without events) received up to
    now; events arriving meanwhile are kept. The project, its keys, members and rules stay."""
    from events import tasks  # cycle: the wipe_events task calls wipe_events_batch below

    cutoff = now or timezone.now()
    transaction.on_commit(lambda: tasks.wipe_events.delay(project.pk, cutoff.isoformat()), robust=True)
    return cutoff


def wipe_events_batch(project_id: int, cutoff: datetime) -> int:
    """One batch: SDK events still waiting to be digested, events, then issues that have none left.
    Returns rows deleted (0: finished)."""
    waiting = list(
        ReceivedEvent.objects.filter(project_id=project_id, received_at__lte=cutoff).values_list("pk", flat=True)[
            :WIPE_BATCH
        ]
    )
    if waiting:
        with transaction.atomic():
            deleted, _ = ReceivedEvent.objects.filter(pk__in=waiting).delete()
        return deleted
    ids = list(
        Event.objects.filter(project_id=project_id, received_at__lte=cutoff).values_list("pk", flat=True)[:WIPE_BATCH]
    )
    if ids:
        with transaction.atomic():
            deleted, _ = Event.objects.filter(pk__in=ids).delete()
        return deleted
    issues = list(
        Issue.objects.filter(project_id=project_id, first_seen__lte=cutoff)
        .exclude(events__isnull=False)
        .values_list("pk", flat=True)[: WIPE_BATCH // 4]
    )
    if not issues:
        return 0
    with transaction.atomic():
        deleted, _ = Issue.objects.filter(pk__in=issues).delete()
    return deleted
