"""Two workers running the same delivery at once: exactly one of them sends."""

import threading

import pytest
from django.db import connection

from tests.notifications.factories import make_delivery, make_webhook_channel
from tracepoint.notifications.delivery import deliver
from tracepoint.notifications.models import Delivery


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_delivery_send_it_once(receiver):
    # The receiver is slow, so the second worker arrives while the first one is sending.
    receiver.respond(200, delay_seconds=0.3)
    delivery = make_delivery(make_webhook_channel(receiver.url))
    start = threading.Barrier(4)
    results: list[Delivery] = []

    def worker() -> None:
        try:
            start.wait()
            results.append(deliver(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(receiver.requests) == 1
    assert sum(result.attempted for result in results) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)
