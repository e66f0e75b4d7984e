from datetime import UTC, datetime, timedelta

import pytest

from tests.notifications.factories import make_delivery, make_email_channel
from tracepoint.notifications.delivery import deliver
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.services import notify

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_an_email_goes_to_every_recipient_with_text_and_html_parts(mailoutbox):
    channel = make_email_channel(email_recipients="oncall@example.com\nsre@example.com")
    delivery = make_delivery(channel, next_attempt_at=T0)
    result = deliver(delivery.pk, now=T0)

    (message,) = mailoutbox
    assert message.to == ["oncall@example.com", "sre@example.com"]
    assert message.subject == "SEV1: checkout is down"
    assert message.body == "Checkout is down."
    assert message.alternatives[0][:2] == ("<p>Checkout is down.</p>", "text/html")
    assert (result.status, result.attempts, result.delivered_at) == (Delivery.Status.SUCCEEDED, 1, T0)
    assert result.response_code is None


def test_an_email_made_by_notify_without_html_still_has_an_html_part(mailoutbox, task_queue):
    make_email_channel()
    (delivery,) = notify(topic="incident.created", subject="SEV2: slow search", text="Search is slow.", payload={})
    deliver(delivery.pk)
    (message,) = mailoutbox
    assert message.body == "Search is slow."
    html, mimetype = message.alternatives[0][:2]
    assert mimetype == "text/html"
    assert "<p>Search is slow.</p>" in html


def test_smtp_failures_are_recorded_and_retried_like_webhook_failures(settings, mailoutbox):
    settings.EMAIL_BACKEND = "tests.notifications.failing_mail_backend.FailingEmailBackend"
    settings.TRACEPOINT = settings.TRACEPOINT | {"WEBHOOK_MAX_ATTEMPTS": 2, "WEBHOOK_RETRY_BASE_SECONDS": 30}
    delivery = make_delivery(make_email_channel(), next_attempt_at=T0)

    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.attempts == 1
    assert delivery.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert delivery.next_attempt_at == T0 + timedelta(seconds=30)

    deliver(delivery.pk, now=T0 + timedelta(seconds=30))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 2)
    assert mailoutbox == []


def test_an_email_channel_left_without_recipients_records_why(mailoutbox):
    channel = make_email_channel()
    delivery = make_delivery(channel, next_attempt_at=T0)
    channel.email_recipients = ""
    channel.save()
    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.last_error == "the channel has no email recipients"
    assert mailoutbox == []


def test_long_errors_are_cut_to_about_a_thousand_characters(settings):
    settings.EMAIL_BACKEND = "tests.notifications.failing_mail_backend.VerboseFailingEmailBackend"
    delivery = make_delivery(make_email_channel(), next_attempt_at=T0)
    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("SMTPDataError: (554, ")
    assert len(delivery.last_error) == 1000
    assert delivery.last_error.endswith("…")
