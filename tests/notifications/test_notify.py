import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from tests.notifications.factories import make_email_channel, make_webhook_channel
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.services import notify

pytestmark = pytest.mark.django_db


def _notify(**overrides):
    arguments = {
        "topic": "incident.created",
        "subject": "SEV1: checkout is down",
        "text": "Checkout is down.",
        "html": "<p>Checkout is down.</p>",
        "payload": {"incident": {"id": "42"}},
        "severity": "SEV1",
    } | overrides
    return notify(**arguments)


def test_notify_creates_one_pending_delivery_per_matching_channel(task_queue):
    email = make_email_channel()
    hook = make_webhook_channel()
    deliveries = _notify()
    assert {d.channel for d in deliveries} == {email, hook}
    for delivery in Delivery.objects.all():
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.attempts == 0
        assert delivery.topic == "incident.created"
        assert delivery.severity == "SEV1"
        assert delivery.subject == "SEV1: checkout is down"
        assert delivery.body_text == "Checkout is down."
        assert delivery.body_html == "<p>Checkout is down.</p>"
        assert delivery.payload == {"incident": {"id": "42"}}


def test_notify_queues_one_task_per_channel_only_after_commit(
    task_queue, receiver, django_capture_on_commit_callbacks, mailoutbox
):
    make_email_channel()
    make_webhook_channel(receiver.url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deliveries = _notify()
        assert task_queue.queued == []
    assert len(callbacks) == 2
    assert sorted(task_queue.delivery_ids) == sorted(d.pk for d in deliveries)
    assert task_queue.countdowns == [None, None]
    # Queuing is all notify does: nothing was sent.
    assert receiver.requests == []
    assert mailoutbox == []


def test_a_rolled_back_transaction_queues_nothing(task_queue, django_capture_on_commit_callbacks):
    make_webhook_channel()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _notify()
        raise RuntimeError("the caller's transaction fails")
    assert callbacks == []
    assert task_queue.queued == []
    assert not Delivery.objects.exists()


def test_disabled_channels_get_nothing(task_queue):
    make_email_channel(enabled=False)
    enabled = make_webhook_channel()
    assert [d.channel for d in _notify()] == [enabled]


def test_notify_routes_by_topic(task_queue):
    created_only = make_email_channel(topics=["incident.created"])
    everything = make_email_channel(topics=[])
    incidents = make_webhook_channel(topics=["incident.*"])
    assert {d.channel for d in _notify(topic="incident.status_changed")} == {everything, incidents}
    assert {d.channel for d in _notify(topic="incident.created")} == {created_only, everything, incidents}
    assert {d.channel for d in _notify(topic="monitor.down")} == {everything}


def test_notify_routes_by_min_severity(task_queue):
    sev1_only = make_email_channel(min_severity="SEV1")
    up_to_sev3 = make_webhook_channel(min_severity="SEV3")
    any_severity = make_webhook_channel()
    assert {d.channel for d in _notify(severity="SEV1")} == {sev1_only, up_to_sev3, any_severity}
    assert {d.channel for d in _notify(severity="SEV2")} == {up_to_sev3, any_severity}
    assert {d.channel for d in _notify(severity="SEV4")} == {any_severity}
    assert {d.channel for d in _notify(severity=None)} == {sev1_only, up_to_sev3, any_severity}


def test_notify_without_a_matching_channel_creates_nothing(task_queue, django_capture_on_commit_callbacks):
    make_email_channel(topics=["monitor.down"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert _notify() == []
    assert callbacks == []
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("severity", "critical"), ("topic", "Incident Created"), ("topic", "")])
def test_notify_refuses_unknown_severities_and_malformed_topics(task_queue, field, value):
    make_email_channel()
    with pytest.raises(ValueError):
        _notify(**{field: value})
    assert not Delivery.objects.exists()


def test_notify_makes_an_html_body_from_the_text_when_none_is_given(task_queue):
    make_email_channel()
    (delivery,) = _notify(html=None, text="Checkout is down.\n\n<b>not bold</b>")
    assert "<p>Checkout is down.</p>" in delivery.body_html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in delivery.body_html


def test_notify_keeps_subjects_to_one_line(task_queue):
    make_email_channel()
    (delivery,) = _notify(subject="SEV1:\ncheckout\r\n is down")
    assert delivery.subject == "SEV1: checkout is down"


def test_notify_accepts_uuids_and_datetimes_in_the_payload(task_queue):
    make_webhook_channel()
    incident_id = uuid.uuid4()
    (delivery,) = _notify(payload={"id": incident_id, "at": timezone.now()})
    delivery.refresh_from_db()
    assert delivery.payload["id"] == str(incident_id)
