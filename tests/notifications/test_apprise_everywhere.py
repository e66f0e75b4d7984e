"""An apprise channel works wherever email and webhook channels do: topics and severity, alert rules'
chosen channels, monitors and incidents (the last in tests/incidents/test_action_links.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from events import alerts, keys
from events.models import AlertRule, Issue
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from tests.factories import make_event, make_incident, make_monitor
from tests.helpers import ingest
from tracepoint.notifications.models import Delivery, NotificationChannel
from tracepoint.notifications.tasks import deliver_notification

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def apprise_channel(receiver, **fields) -> NotificationChannel:
    port = receiver.server.server_address[1]
    values = {"name": "ntfy ops", "kind": "APPRISE", "apprise_url": f"ntfy://127.0.0.1:{port}/ops"} | fields
    return NotificationChannel.objects.create(**values)


def _deliver_all() -> None:
    for delivery_id in Delivery.objects.order_by("id").values_list("id", flat=True):
        deliver_notification(delivery_id)


def received(receiver) -> list[dict]:
    return [json.loads(request.body) for request in receiver.requests]


def test_a_monitor_going_down_and_up_reaches_an_apprise_channel_with_its_link(receiver):
    apprise_channel(receiver, topics=["monitor.*"])
    site = make_monitor("Checkout API")
    record_result(site.pk, CheckResult("up", 20), now=T0)
    record_result(site.pk, CheckResult("down", None, "HTTP 503"), now=T0 + timedelta(minutes=1))
    record_result(site.pk, CheckResult("up", 20), now=T0 + timedelta(minutes=5))
    _deliver_all()

    down, up = received(receiver)
    assert down["title"] == "[SEV2] [DOWN] Checkout API: HTTP 503"
    assert f"/monitors/{site.pk}/" in down["message"]
    assert up["title"] == "[UP] Checkout API"


def test_topics_and_minimum_severity_filter_apprise_channels_too(receiver, responder):
    apprise_channel(receiver, name="sev1 only", min_severity="SEV1")
    apprise_channel(receiver, name="monitors only", topics=["monitor.*"])
    make_incident(by=responder, severity="SEV2")
    assert not Delivery.objects.exists()
    make_incident(by=responder, severity="SEV1")
    assert [d.channel.name for d in Delivery.objects.all()] == ["sev1 only"]


def test_an_alert_rule_that_names_an_apprise_channel_sends_through_it(receiver):
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    channel = apprise_channel(receiver, topics=["monitor.*"])  # its topics do not matter to a rule naming it
    rule = AlertRule.objects.create(project=project, name="new issues", kind=AlertRule.Kind.NEW_ISSUE)
    rule.channels.set([channel])
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()

    alerts.evaluate([issue.pk], created=[issue.pk], now=now)
    _deliver_all()

    (message,) = received(receiver)
    assert message["title"] == "[SEV4] [Shop] new issues: LookupError: Order 1 not found"  # with its severity
    assert f"/issues/{issue.pk}/" in message["message"]


def test_a_disabled_apprise_channel_sends_nothing(receiver, responder):
    apprise_channel(receiver, enabled=False)
    make_incident(by=responder, severity="SEV1")
    _deliver_all()
    assert receiver.requests == [] and not Delivery.objects.exists()
