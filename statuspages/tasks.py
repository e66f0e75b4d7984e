from celery import shared_task

from statuspages import services


@shared_task(name="statuspages.advance_maintenances", ignore_result=True)
def advance_maintenances() -> int:
    return services.advance_maintenances()
