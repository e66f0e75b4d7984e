from celery import shared_task

from monitors import services


@shared_task(name="monitors.mark_late_heartbeats", ignore_result=True)
def mark_late_heartbeats() -> int:
    return services.mark_late_heartbeats()
