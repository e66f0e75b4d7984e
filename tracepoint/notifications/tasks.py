from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError, InterfaceError
from django.utils import timezone

from tracepoint.notifications import action_links, services
from tracepoint.notifications.delivery import deliver, requeue_countdown
from tracepoint.notifications.models import Delivery

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    name="notifications.deliver_notification",
    # Database hiccups only: send failures are recorded on the delivery and retried by requeue_delivery.
    autoretry_for=(DatabaseError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=8,
)
def deliver_notification(self, delivery_id: int) -> None:
    """One delivery attempt; re-queued with backoff while the delivery is RETRYING."""
    deliver_and_requeue(delivery_id)


def deliver_and_requeue(delivery_id: int, *, row: Delivery | None = None) -> None:
    """What the task does, also called in-process (``services.delivered_here``) with the new row."""
    try:
        delivery = deliver(delivery_id, row=row)
    except Delivery.DoesNotExist:
        logger.info("notification delivery %s no longer exists", delivery_id)
        return
    countdown = requeue_countdown(delivery, now=timezone.now())
    if countdown is not None:
        requeue_delivery(delivery_id, countdown=countdown)


def requeue_delivery(delivery_id: int, *, countdown: int) -> None:
    deliver_notification.apply_async(args=(delivery_id,), countdown=countdown)


@shared_task(name="notifications.delete_old_deliveries", ignore_result=True)
def delete_old_deliveries() -> int:
    """Beat (daily): finished deliveries past DELIVERY_RETENTION_DAYS go, in batches; so do the
    records of used action links older than any link can be."""
    action_links.purge_used_links()
    return services.delete_old_deliveries()
