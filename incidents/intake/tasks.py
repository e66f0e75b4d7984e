from celery import shared_task

from incidents.intake import correlate


@shared_task(name="intake.correlate_group", ignore_result=True, acks_late=True)
def correlate_group(group_id: int) -> None:
    """Idempotent (state-based): a redelivery after a worker died does the same again."""
    correlate.correlate_group(group_id)
