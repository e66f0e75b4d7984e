from celery import shared_task

from monitors import services


@shared_task(name="monitors.mark_late_heartbeats", ignore_result=True)
def mark_late_heartbeats() -> int:
    return services.mark_late_heartbeats()


@shared_task(name="monitors.run_due_checks", ignore_result=True)
def run_due_checks() -> int:
    return services.run_due_checks()


@shared_task(name="monitors.trim_rollups", ignore_result=True)
def trim_rollups() -> tuple[int, int]:
    from django.utils import timezone

    from monitors import rollups

    return rollups.trim(now=timezone.now())
