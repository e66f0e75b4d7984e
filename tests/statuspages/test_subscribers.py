"""Subscribers: double opt-in, unsubscribe in every mail, component filters, webhooks, told via Celery."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from statuspages import services, subscribers
from statuspages.models import Maintenance, Subscriber
from tests.factories import make_incident, make_layout, make_page
from tests.notifications.conftest import WebhookReceiver


@pytest.fixture(autouse=True)
def local_targets_allowed(settings):
    """The webhook receivers here listen on 127.0.0.1, which the SSRF guard refuses by default."""
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def acme(db, eager_tasks):
    page = make_page()
    return {"page": page, **make_layout(page)}


def confirm_link(message) -> str:
    return re.search(r"https?://\S+/subscribe/confirm/\S+/", message.body)[0]


def test_double_opt_in_then_news_with_an_unsubscribe_link(acme, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/status/acme/subscribe/", {"email": "Ann@Example.com"})
    assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    [confirmation] = mail.outbox
    assert confirmation.to == ["ann@example.com"] and "List-Unsubscribe" in confirmation.extra_headers
    path = confirm_link(confirmation).split("testserver", 1)[-1].split("example.com", 1)[-1]
    path = path[path.index("/status/") :]
    assert "Confirm" in client.get(path).content.decode()  # a GET (a link scanner) confirms nothing
    assert Subscriber.objects.get().confirmed_at is None
    # Before confirmation nothing is sent.
    incident = make_incident(title="Search is slow")
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_incident(acme["page"], incident, body="Looking into it.")
    assert len(mail.outbox) == 1
    client.post(path)
    assert Subscriber.objects.get().confirmed_at is not None
    link = acme["page"].page_incidents.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.post_update(link, body="Found it.", status="identified")
    news = mail.outbox[-1]
    assert news.subject == "[Acme] Search is slow: identified" and "Found it." in news.body
    unsubscribe = re.search(r"https?://\S+/unsubscribe/\S+/", news.body)[0]
    assert news.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    one_click = Client(enforce_csrf_checks=True).post(unsubscribe[unsubscribe.index("/status/") :])
    assert one_click.status_code == 200 and not Subscriber.objects.exists()


def test_the_answer_does_not_tell_whether_an_address_is_known(acme):
    first = Client().post("/status/acme/subscribe/", {"email": "ann@example.com"}).content
    again = Client().post("/status/acme/subscribe/", {"email": "ann@example.com"}).content
    assert first == again and Subscriber.objects.count() == 1
    bad = Client().post("/status/acme/subscribe/", {"email": "not an address"})
    assert bad.status_code == 400


def test_component_filters_decide_who_hears(acme, django_capture_on_commit_callbacks):
    page = acme["page"]
    for address, components in (("rest@example.com", [acme["rest"]]), ("web@example.com", [acme["website"]]),
                                ("all@example.com", [])):  # fmt: skip
        subscriber = subscribers.subscribe_email(page, address, components=components)
        subscribers.confirm(subscriber.token)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_incident(page, make_incident(), components=[acme["rest"]], body="Down.")
    assert sorted(m.to[0] for m in mail.outbox) == ["all@example.com", "rest@example.com"]


def test_webhooks_get_the_statuspage_json_and_maintenance_news(acme, django_capture_on_commit_callbacks):
    receiver = WebhookReceiver()
    try:
        subscribers.subscribe_webhook(acme["page"], receiver.url)
        window = Maintenance.objects.create(
            page=acme["page"], title="Upgrade", scheduled_for=timezone.now() - timedelta(minutes=1),
            scheduled_until=timezone.now() + timedelta(hours=1),
        )  # fmt: skip
        window.components.add(acme["website"])
        with django_capture_on_commit_callbacks(execute=True):
            services.advance_maintenances()
        [request] = receiver.requests
    finally:
        receiver.close()
    body = json.loads(request.body)
    assert body["event"] == "in_progress" and body["scheduled_maintenance"]["name"] == "Upgrade"
    assert body["page"]["id"] == acme["page"].public_id
