"""A new SEV1/SEV2 incident and every status change notify the channels (email + signed webhook)."""

import json

import pytest
from django.core import mail

from incidents import services
from tests.factories import make_incident
from tests.notifications.conftest import WebhookReceiver
from tests.notifications.factories import make_email_channel, make_webhook_channel
from tracepoint.notifications.delivery import deliver, verify_signature
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.tasks import deliver_notification


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    """The receivers listen on 127.0.0.1, which the outbound guard refuses by default."""
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


def _deliver_all() -> None:
    for delivery_id in Delivery.objects.order_by("id").values_list("id", flat=True):
        deliver_notification(delivery_id)


def test_a_new_sev1_incident_is_mailed_and_posted(responder, receiver, django_capture_on_commit_callbacks):
    make_email_channel(email_recipients="oncall@example.com")
    channel = make_webhook_channel(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident = make_incident(by=responder, title="Checkout down", severity="SEV1")
    # Deliveries are recorded with the incident; the work is queued only on commit.
    assert Delivery.objects.count() == 2 and callbacks
    assert receiver.requests == [] and mail.outbox == []
    _deliver_all()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["oncall@example.com"]
    assert "Checkout down" in message.subject and "SEV1" in message.subject
    assert "Checkout down" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "Open the incident in Tracepoint" in html

    (request,) = receiver.requests
    assert verify_signature(channel.webhook_secret, request.body, request.headers["x-tracepoint-signature"])
    body = json.loads(request.body)
    assert body["topic"] == "incident.created"
    assert body["payload"]["incident"]["id"] == str(incident.pk)
    assert body["payload"]["incident"]["url"].endswith(f"/incidents/{incident.pk}/")


def test_low_severity_creation_is_quiet_but_status_changes_notify(
    responder, receiver, django_capture_on_commit_callbacks
):
    make_webhook_channel(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=responder, severity="SEV4")
    assert not Delivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=responder)
    with django_capture_on_commit_callbacks(execute=True):
        services.transition_incident(incident.pk, to="ACKNOWLEDGED", by=responder)  # no-op: no notification
    _deliver_all()
    (request,) = receiver.requests
    body = json.loads(request.body)
    assert body["topic"] == "incident.status_changed"
    assert body["payload"]["change"] == {"event": "status_changed", "from": "OPEN", "to": "ACKNOWLEDGED"}


def test_a_refused_transition_notifies_nobody(responder, receiver, django_capture_on_commit_callbacks):
    make_webhook_channel(url=receiver.url)
    incident = make_incident(by=responder, severity="SEV4", status="RESOLVED")
    Delivery.objects.all().delete()
    with pytest.raises(services.InvalidStatusTransition), django_capture_on_commit_callbacks(execute=True):
        services.transition_incident(incident.pk, to="MITIGATED", by=responder)
    assert not Delivery.objects.exists()


def test_a_failing_receiver_is_retried_and_recorded(responder, receiver, django_capture_on_commit_callbacks):
    make_webhook_channel(url=receiver.url)
    receiver.respond(503)
    with django_capture_on_commit_callbacks(execute=True):
        make_incident(by=responder, severity="SEV2")
    delivery = Delivery.objects.get()
    deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("RETRYING", 1, 503)
    deliver(delivery.pk, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("SUCCEEDED", 2, 200)
    assert len(receiver.requests) == 2
