from celery import shared_task

from statuspages import services


@shared_task(name="statuspages.advance_maintenances", ignore_result=True)
def advance_maintenances() -> int:
    return services.advance_maintenances()


@shared_task(name="statuspages.notify_subscribers", ignore_result=True)
def notify_subscribers(page_id: int, *, incident_id=None, maintenance_id=None, event: str) -> int:
    from statuspages import subscribers

    return subscribers.notify(page_id, incident_id=incident_id, maintenance_id=maintenance_id, event=event)
