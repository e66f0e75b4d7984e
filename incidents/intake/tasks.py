from celery import shared_task

from incidents.intake import correlate, retention
from tracepoint.notifications.services import delivered_here


@shared_task(name="intake.correlate_group", ignore_result=True, acks_late=True)
def correlate_group(group_id: int) -> None:
    """Idempotent (state-based): a redelivery after a worker died does the same again. The messages of
    an incident it opens are sent from here, not queued behind the rest of a storm."""
    with delivered_here():
        correlate.correlate_group(group_id)


@shared_task(name="intake.delete_old_alert_data", ignore_result=True)
def delete_old_alert_data() -> int:
    return retention.delete_old_alert_data()
