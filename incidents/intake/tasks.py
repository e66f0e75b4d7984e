from celery import shared_task
from django.db import DatabaseError

from incidents.intake import correlate


@shared_task(
    name="intake.correlate_group",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def correlate_group(group_id: int) -> None:
    correlate.correlate_group(group_id)
