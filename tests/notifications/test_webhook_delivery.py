import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.notifications.factories import make_delivery, make_webhook_channel
from tracepoint.notifications.delivery import CLAIM_LEASE, deliver, verify_signature
from tracepoint.notifications.models import Delivery

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def limits(settings):
    settings.TRACEPOINT = settings.TRACEPOINT | {
        "WEBHOOK_MAX_ATTEMPTS": 6,
        "WEBHOOK_RETRY_BASE_SECONDS": 30,
        "WEBHOOK_RETRY_MAX_SECONDS": 3600,
        "WEBHOOK_TIMEOUT_SECONDS": 10,
    }
    return settings.TRACEPOINT


def _delivery(url, **overrides):
    return make_delivery(make_webhook_channel(url), created_at=T0, next_attempt_at=T0, **overrides)


def test_a_webhook_posts_signed_json_that_the_receiver_can_verify(receiver, limits):
    delivery = _delivery(receiver.url)
    result = deliver(delivery.pk, now=T0)

    (request,) = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Tracepoint-Webhook/1"
    assert request.headers["x-tracepoint-topic"] == "incident.created"
    assert request.headers["x-tracepoint-delivery"] == str(delivery.pk)
    assert request.headers["x-tracepoint-signature"].startswith("sha256=")
    assert verify_signature(delivery.channel.webhook_secret, request.body, request.headers["x-tracepoint-signature"])
    assert json.loads(request.body) == {
        "topic": "incident.created",
        "subject": "SEV1: checkout is down",
        "payload": {"incident": {"id": "42", "severity": "SEV1"}},
        "delivery_id": delivery.pk,
        "sent_at": "2026-03-01T12:00:00Z",
    }
    assert result.status == Delivery.Status.SUCCEEDED
    assert result.attempted
    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.attempts, stored.response_code) == (Delivery.Status.SUCCEEDED, 1, 200)
    assert stored.delivered_at == T0
    assert stored.next_attempt_at is None
    assert stored.claimed_until is None


def test_the_signature_fails_with_another_secret_or_a_changed_body(receiver, limits):
    delivery = _delivery(receiver.url)
    deliver(delivery.pk, now=T0)
    (request,) = receiver.requests
    header = request.headers["x-tracepoint-signature"]
    secret = delivery.channel.webhook_secret
    assert not verify_signature("another secret", request.body, header)
    assert not verify_signature(secret, request.body + b" ", header)
    assert not verify_signature(secret, request.body, header.removeprefix("sha256="))
    assert not verify_signature(secret, request.body, None)
    assert not verify_signature(secret, request.body, "sha256=" + "0" * 64)


def test_an_error_response_is_recorded_and_retried_after_the_base_delay(receiver, limits):
    receiver.respond(500, body=b"database unavailable")
    delivery = _delivery(receiver.url)
    result = deliver(delivery.pk, now=T0)

    assert result.attempted
    stored = Delivery.objects.get(pk=delivery.pk)
    assert stored.status == Delivery.Status.RETRYING
    assert stored.attempts == 1
    assert stored.response_code == 500
    assert stored.last_error == "HTTP 500: database unavailable"
    assert stored.next_attempt_at == T0 + timedelta(seconds=30)
    assert stored.delivered_at is None


def test_failed_attempts_back_off_exponentially_until_one_succeeds(receiver, limits):
    receiver.respond(503, times=3)
    delivery = _delivery(receiver.url)
    now = T0
    waits = []
    for _ in range(4):
        deliver(delivery.pk, now=now)
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            waits.append((delivery.next_attempt_at - now).total_seconds())
            now = delivery.next_attempt_at
    assert waits == [30, 60, 120]
    assert len(receiver.requests) == 4
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert (delivery.attempts, delivery.response_code) == (4, 200)
    assert delivery.last_error == "HTTP 503"  # the last failure stays on record
    # Every attempt was signed over exactly the bytes it sent.
    for request in receiver.requests:
        assert verify_signature(
            delivery.channel.webhook_secret, request.body, request.headers["x-tracepoint-signature"]
        )


def test_no_attempt_is_made_before_the_next_one_is_due(receiver, limits):
    receiver.respond(500)
    delivery = _delivery(receiver.url)
    deliver(delivery.pk, now=T0)
    early = deliver(delivery.pk, now=T0 + timedelta(seconds=20))
    assert not early.attempted
    assert early.attempts == 1
    assert len(receiver.requests) == 1


def test_a_delivery_fails_for_good_after_the_maximum_attempts(receiver, limits, settings):
    settings.TRACEPOINT = limits | {"WEBHOOK_MAX_ATTEMPTS": 3}
    receiver.respond(500, times=10)
    delivery = _delivery(receiver.url)
    now = T0
    for _ in range(3):
        deliver(delivery.pk, now=now)
        delivery.refresh_from_db()
        now = delivery.next_attempt_at or now
    assert delivery.status == Delivery.Status.FAILED
    assert (delivery.attempts, delivery.response_code, delivery.last_error) == (3, 500, "HTTP 500")
    assert delivery.next_attempt_at is None

    after = deliver(delivery.pk, now=now + timedelta(days=1))
    assert not after.attempted
    assert len(receiver.requests) == 3


def test_backoff_is_capped_at_the_maximum_delay(receiver, limits, settings):
    settings.TRACEPOINT = limits | {"WEBHOOK_RETRY_BASE_SECONDS": 100, "WEBHOOK_RETRY_MAX_SECONDS": 250}
    receiver.respond(500, times=3)
    delivery = _delivery(receiver.url)
    now, waits = T0, []
    for _ in range(3):
        deliver(delivery.pk, now=now)
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert waits == [100, 200, 250]


def test_a_refused_connection_is_recorded_as_a_failed_attempt(closed_port_url, limits):
    delivery = _delivery(closed_port_url)
    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.attempts == 1
    assert delivery.response_code is None
    assert delivery.last_error.startswith("ConnectionError: ")


def test_a_slow_receiver_times_out(receiver, limits, settings):
    settings.TRACEPOINT = limits | {"WEBHOOK_TIMEOUT_SECONDS": 0.3}
    receiver.respond(200, delay_seconds=2)
    delivery = _delivery(receiver.url)
    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.response_code is None
    assert "Timeout" in delivery.last_error


def test_redirects_are_not_followed(receiver, limits):
    receiver.respond(302, headers={"Location": receiver.url + "/elsewhere"})
    delivery = _delivery(receiver.url)
    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert len(receiver.requests) == 1
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.response_code == 302
    assert "not followed" in delivery.last_error


def test_a_succeeded_delivery_is_not_sent_twice(receiver, limits):
    delivery = _delivery(receiver.url)
    deliver(delivery.pk, now=T0)
    again = deliver(delivery.pk, now=T0 + timedelta(hours=1))
    assert not again.attempted
    assert again.attempts == 1
    assert len(receiver.requests) == 1


def test_a_delivery_another_worker_is_sending_is_left_alone(receiver, limits):
    delivery = _delivery(receiver.url)
    # What a claim by another worker looks like: an attempt counted and a live claim.
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1, claimed_until=T0 + CLAIM_LEASE)
    result = deliver(delivery.pk, now=T0 + timedelta(seconds=5))
    assert not result.attempted
    assert receiver.requests == []


def test_a_delivery_whose_worker_died_is_taken_over_when_the_claim_expires(receiver, limits):
    delivery = _delivery(receiver.url)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1, claimed_until=T0 + CLAIM_LEASE)
    result = deliver(delivery.pk, now=T0 + CLAIM_LEASE + timedelta(seconds=1))
    assert result.attempted
    assert (result.status, result.attempts) == (Delivery.Status.SUCCEEDED, 2)
    assert len(receiver.requests) == 1


def test_deliveries_to_a_disabled_channel_stop(receiver, limits):
    delivery = _delivery(receiver.url)
    delivery.channel.enabled = False
    delivery.channel.save()
    result = deliver(delivery.pk, now=T0)
    assert result.status == Delivery.Status.FAILED
    assert result.last_error == "the channel was disabled"
    assert receiver.requests == []


def test_an_unknown_delivery_raises_does_not_exist(limits):
    with pytest.raises(Delivery.DoesNotExist):
        deliver(999_999, now=T0)
