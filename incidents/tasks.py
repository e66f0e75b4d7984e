from celery import shared_task

from incidents import services


@shared_task(name="incidents.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    return services.purge_expired_idempotency_keys()
