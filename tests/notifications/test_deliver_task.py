from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.notifications.factories import make_delivery, make_webhook_channel
from tracepoint.notifications.delivery import CLAIM_LEASE, requeue_countdown, retry_delay_seconds
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.services import notify
from tracepoint.notifications.tasks import deliver_notification

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_retry_delays_double_from_the_base_up_to_the_cap():
    delays = [retry_delay_seconds(attempt, base=30, cap=3600) for attempt in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay_seconds(200, base=30, cap=3600) == 3600


def test_retry_delays_count_attempts_from_one():
    with pytest.raises(ValueError, match="1-based"):
        retry_delay_seconds(0, base=30, cap=3600)


def _row(**fields) -> Delivery:
    return Delivery(**({"status": Delivery.Status.RETRYING, "attempts": 1} | fields))


def test_requeue_countdown_waits_for_the_next_attempt_after_our_failed_attempt():
    delivery = _row(next_attempt_at=T0 + timedelta(seconds=60))
    delivery.attempted = True
    assert requeue_countdown(delivery, now=T0) == 60
    assert requeue_countdown(delivery, now=T0 + timedelta(seconds=59.5)) == 1
    assert requeue_countdown(delivery, now=T0 + timedelta(seconds=90)) == 0


def test_requeue_countdown_waits_out_another_workers_claim():
    delivery = _row(claimed_until=T0 + CLAIM_LEASE)
    assert requeue_countdown(delivery, now=T0) == CLAIM_LEASE.total_seconds() + 1


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Delivery.Status.SUCCEEDED},
        {"status": Delivery.Status.FAILED},
        # Not attempted by us and not claimed: the task that owns the next attempt is already queued.
        {"next_attempt_at": T0 + timedelta(seconds=60)},
    ],
)
def test_requeue_countdown_is_none_when_nothing_is_left_for_this_task(fields):
    assert requeue_countdown(_row(**fields), now=T0) is None


@pytest.mark.django_db
def test_the_task_requeues_a_failed_attempt_with_the_backoff_countdown(receiver, task_queue):
    receiver.respond(500)
    delivery = make_delivery(make_webhook_channel(receiver.url))
    deliver_notification(delivery.pk)
    assert task_queue.delivery_ids == [delivery.pk]
    assert task_queue.countdowns == [30]
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == timezone.now() + timedelta(seconds=30)


@pytest.mark.django_db
def test_the_task_does_not_requeue_a_successful_delivery_or_send_it_again(receiver, task_queue):
    delivery = make_delivery(make_webhook_channel(receiver.url))
    deliver_notification(delivery.pk)
    deliver_notification(delivery.pk)
    assert task_queue.queued == []
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)


@pytest.mark.django_db
def test_the_task_ignores_a_delivery_that_no_longer_exists(task_queue):
    deliver_notification(999_999)
    assert task_queue.queued == []


@pytest.mark.django_db
def test_the_task_checks_again_when_another_workers_claim_expires(receiver, task_queue):
    delivery = make_delivery(make_webhook_channel(receiver.url))
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1, claimed_until=timezone.now() + CLAIM_LEASE)
    deliver_notification(delivery.pk)
    assert receiver.requests == []
    assert task_queue.countdowns == [CLAIM_LEASE.total_seconds() + 1]
    # The other worker died: the re-run takes the delivery over.
    task_queue.run_all()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 2)
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_notification_is_delivered_through_the_task_with_retries(
    receiver, task_queue, django_capture_on_commit_callbacks
):
    receiver.respond(500, times=2)
    make_webhook_channel(receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = notify(
            topic="incident.created", subject="SEV1: checkout is down", text="Down.", payload={}, severity="SEV1"
        )
    ran = task_queue.run_all()
    assert [task.countdown for task in ran] == [None, 30, 60]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.SUCCEEDED, 3, 200)
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_the_task_gives_up_after_the_maximum_attempts(receiver, task_queue, settings):
    settings.TRACEPOINT = settings.TRACEPOINT | {
        "WEBHOOK_MAX_ATTEMPTS": 6,
        "WEBHOOK_RETRY_BASE_SECONDS": 30,
        "WEBHOOK_RETRY_MAX_SECONDS": 300,
    }
    receiver.respond(500, times=10)
    delivery = make_delivery(make_webhook_channel(receiver.url))
    deliver_notification(delivery.pk)
    ran = task_queue.run_all()
    assert [task.countdown for task in ran] == [30, 60, 120, 240, 300]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Delivery.Status.FAILED, 6, 500)
    assert len(receiver.requests) == 6


def test_the_task_is_registered_under_a_stable_name_and_acknowledged_late():
    from tracepoint.celery import app

    assert app.tasks["notifications.deliver_notification"] is deliver_notification._get_current_object()
    assert deliver_notification.acks_late
