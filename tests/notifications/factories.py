"""Plain factory functions for notification tests (keyword defaults, overrides win)."""

from __future__ import annotations

import itertools

from django.utils import timezone

from tracepoint.notifications.models import Delivery, NotificationChannel

_counter = itertools.count(1)


def make_email_channel(**overrides) -> NotificationChannel:
    number = next(_counter)
    fields = {
        "name": f"email channel {number}",
        "kind": NotificationChannel.Kind.EMAIL,
        "email_recipients": "oncall@example.com, sre@example.com",
    } | overrides
    return NotificationChannel.objects.create(**fields)


def make_webhook_channel(url: str = "http://127.0.0.1:9/hook", **overrides) -> NotificationChannel:
    number = next(_counter)
    fields = {"name": f"webhook channel {number}", "kind": NotificationChannel.Kind.WEBHOOK, "webhook_url": url}
    return NotificationChannel.objects.create(**(fields | overrides))


def make_delivery(channel: NotificationChannel, **overrides) -> Delivery:
    now = timezone.now()
    fields = {
        "topic": "incident.created",
        "subject": "SEV1: checkout is down",
        "body_text": "Checkout is down.",
        "body_html": "<p>Checkout is down.</p>",
        "payload": {"incident": {"id": "42", "severity": "SEV1"}},
        "created_at": now,
        "updated_at": now,
        "next_attempt_at": now,
    } | overrides
    return Delivery.objects.create(channel=channel, **fields)
