"""Channel webhooks go through the SSRF guard: refused when saved, refused (for good) when sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from tests.helpers import REFUSED, url_for
from tests.notifications.factories import make_delivery, make_webhook_channel
from tracepoint.notifications.delivery import deliver, requeue_countdown
from tracepoint.notifications.forms import NotificationChannelForm
from tracepoint.notifications.models import Delivery, NotificationChannel

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def guarded(settings, local_targets_allowed):
    """Production defaults (the conftest allows local receivers for the other tests)."""
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": False,
        "OUTBOUND_ALLOWED_NETWORKS": [],
        "WEBHOOK_MAX_ATTEMPTS": 6,
    }


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_a_channel_with_a_refused_webhook_host_cannot_be_saved(host, reason):
    channel = NotificationChannel(name="hook", kind=NotificationChannel.Kind.WEBHOOK, webhook_url=url_for(host))
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    [message] = error.value.message_dict["webhook_url"]
    assert reason in message and "webhooks may not reach it" in message


def test_the_admin_form_shows_the_refusal():
    form = NotificationChannelForm(
        data={"name": "hook", "kind": "WEBHOOK", "webhook_url": "http://169.254.169.254/latest", "topics": ""}
    )
    assert not form.is_valid()
    assert "link-local (cloud metadata)" in form.errors["webhook_url"][0]


def test_the_admin_add_page_refuses_a_loopback_webhook(superuser):
    client = Client()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:notifications_notificationchannel_add"),
        {"name": "hook", "kind": "WEBHOOK", "enabled": "on", "webhook_url": "http://127.0.0.1:8000/", "topics": ""},
    )
    assert response.status_code == 200 and "a loopback address" in response.text
    assert not NotificationChannel.objects.exists()


def test_a_public_webhook_url_may_be_saved():
    NotificationChannel(name="hook", kind="WEBHOOK", webhook_url="https://93.184.215.14/hook").full_clean()


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_a_delivery_to_a_refused_address_fails_at_once_and_is_not_retried(receiver, host, reason):
    # Saved before the rule, or while private targets were allowed: the send is vetted anyway.
    port = int(receiver.url.split(":")[2].split("/")[0]) if host in ("127.0.0.1", "localhost") else 80
    delivery = make_delivery(make_webhook_channel(url_for(host, port)), created_at=T0, next_attempt_at=T0)

    result = deliver(delivery.pk, now=T0)

    assert result.attempted and receiver.requests == []
    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (Delivery.Status.FAILED, 1, None)
    assert re.match(r"refused: \S+ resolves to \S+, a .+ address \(not retried\)$", stored.last_error)
    assert reason in stored.last_error
    assert requeue_countdown(result, now=T0) is None  # the task does not queue another attempt


def test_a_redirect_from_an_allowed_receiver_is_never_followed(receiver, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    receiver.respond(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    delivery = make_delivery(make_webhook_channel(receiver.url), created_at=T0, next_attempt_at=T0)
    deliver(delivery.pk, now=T0)
    delivery.refresh_from_db()
    assert len(receiver.requests) == 1
    assert delivery.response_code == 302 and "not followed" in delivery.last_error
