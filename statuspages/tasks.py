from celery import shared_task
from django.utils.dateparse import parse_datetime

from statuspages import services, subscribers


@shared_task(name="statuspages.advance_maintenances", ignore_result=True)
def advance_maintenances() -> int:
    return services.advance_maintenances()


# acks_late: a worker killed mid-fan-out leaves the message to be run again; the fan-out is idempotent.
@shared_task(name="statuspages.notify_subscribers", ignore_result=True, acks_late=True)
def notify_subscribers(
    page_id: int, *, incident_id=None, maintenance_id=None, event: str, update_id=None, as_of=None, chunk_size=500
) -> int:
    return subscribers.notify(
        page_id,
        incident_id=incident_id,
        maintenance_id=maintenance_id,
        event=event,
        update_id=update_id,
        as_of=parse_datetime(as_of) if as_of else None,
        chunk_size=chunk_size,
    )
