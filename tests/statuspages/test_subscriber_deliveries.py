"""Subscriber news goes out as one notification delivery per subscriber: retried, recorded, sent once,
even when the fan-out is cut short and run again; webhook URLs go through the SSRF guard."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from statuspages import services, subscribers
from statuspages.models import Subscriber
from tests.factories import make_incident, make_layout, make_page, make_token, make_user
from tests.helpers import REFUSED, url_for
from tests.notifications.conftest import WebhookReceiver
from tracepoint.notifications import services as notification_services
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.tasks import deliver_notification


@pytest.fixture(autouse=True)
def local_targets_allowed(settings):
    """Receivers here listen on 127.0.0.1, which the guard refuses by default (guard tests undo this)."""
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def guarded(settings):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": False,
        "OUTBOUND_ALLOWED_NETWORKS": [],
    }


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


def confirmed(page, email: str, components=()) -> Subscriber:
    subscriber = subscribers.subscribe_email(page, email, components=components)
    subscribers.confirm(subscriber.token)
    return subscriber


def published(page):
    """A published incident with one update, and the update (nobody is subscribed yet)."""
    link = services.publish_incident(page, make_incident(title="Search is slow"), body="Looking into it.")
    return link, link.updates.get()


# --- one delivery per subscriber -----------------------------------------------------------------


@pytest.mark.django_db
def test_each_subscriber_gets_a_delivery_of_its_own(eager_tasks, receiver, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    ann = confirmed(page, "ann@example.com")
    rest_only = confirmed(page, "rest@example.com", components=[layout["rest"]])
    confirmed(page, "web@example.com", components=[layout["website"]])  # not affected: not told
    subscribers.subscribe_email(page, "unconfirmed@example.com")  # never confirmed: not told
    hook = subscribers.subscribe_webhook(page, receiver.url)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.publish_incident(page, make_incident(title="API down"), components=[layout["rest"]], body="Down.")

    deliveries = Delivery.objects.order_by("recipient")
    assert [(d.kind, d.recipient, d.status) for d in deliveries] == [
        ("EMAIL", "ann@example.com", "SUCCEEDED"),
        ("WEBHOOK", receiver.url, "SUCCEEDED"),
        ("EMAIL", "rest@example.com", "SUCCEEDED"),
    ]
    assert {d.source for d in deliveries} == {
        f"statuspages.page:{page.pk}:subscriber:{s.pk}" for s in (ann, rest_only, hook)
    }
    assert all(d.channel_id is None and d.topic == "statuspage.incident.published" for d in deliveries)
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", "rest@example.com"]
    news = next(m for m in mail.outbox if m.to == ["ann@example.com"])
    unsubscribe = re.search(r"https?://\S+/unsubscribe/\S+/", news.body)[0]
    assert news.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert news.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert news.subject == "[Acme] API down: published" and news.alternatives
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["event"] == "published" and body["incident"]["name"] == "API down"
    assert request.headers["user-agent"] == "Tracepoint status page"


@pytest.mark.django_db
def test_a_failing_webhook_subscriber_is_retried_with_backoff_and_others_are_not_held_up(receiver):
    page = make_page()
    receiver.respond(503)
    subscribers.subscribe_webhook(page, receiver.url)
    confirmed(page, "ann@example.com")
    link, update = published(page)
    mail.outbox.clear()

    subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk)
    for delivery_id in Delivery.objects.values_list("pk", flat=True):
        deliver_notification(delivery_id)

    hook = Delivery.objects.get(kind="WEBHOOK")
    assert (hook.status, hook.attempts, hook.last_error) == (Delivery.Status.RETRYING, 1, "HTTP 503")
    assert hook.next_attempt_at > timezone.now()
    assert Delivery.objects.get(kind="EMAIL").status == Delivery.Status.SUCCEEDED
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


@pytest.mark.django_db
def test_running_the_fan_out_again_creates_and_sends_nothing_twice(receiver):
    page = make_page()
    for number in range(3):
        confirmed(page, f"s{number}@example.com")
    subscribers.subscribe_webhook(page, receiver.url)
    link, update = published(page)
    mail.outbox.clear()

    for _ in range(2):  # a redelivered task
        told = subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk)
        assert told == 4
        for delivery_id in Delivery.objects.values_list("pk", flat=True):
            deliver_notification(delivery_id)

    assert Delivery.objects.count() == 4
    assert sorted(m.to[0] for m in mail.outbox) == ["s0@example.com", "s1@example.com", "s2@example.com"]
    assert len(receiver.requests) == 1
    # A new update is new news: everyone hears once more.
    second = services.post_update(link, body="Found it.", status="identified")
    subscribers.notify(page.pk, incident_id=link.pk, event="identified", update_id=second.pk)
    assert Delivery.objects.count() == 8


@pytest.mark.django_db
def test_subscribers_confirmed_after_the_news_do_not_get_it():
    page = make_page()
    link, update = published(page)
    confirmed(page, "late@example.com")
    told = subscribers.notify(
        page.pk, incident_id=link.pk, event="investigating", update_id=update.pk, as_of=update.created_at
    )
    assert told == 0 and not Delivery.objects.exists()


@pytest.mark.django_db
def test_unsubscribing_withdraws_news_not_yet_sent():
    page = make_page()
    ann = confirmed(page, "ann@example.com")
    confirmed(page, "bob@example.com")
    link, update = published(page)
    mail.outbox.clear()
    subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk)

    assert subscribers.unsubscribe(ann.token)
    for delivery_id in Delivery.objects.values_list("pk", flat=True):
        deliver_notification(delivery_id)

    withdrawn = Delivery.objects.get(recipient="ann@example.com")
    assert (withdrawn.status, withdrawn.attempts) == (Delivery.Status.FAILED, 0)
    assert withdrawn.last_error == "the subscriber was removed"
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]


def test_removing_a_subscriber_through_the_api_withdraws_its_unsent_news(admin_client):
    page = make_page()
    ann = confirmed(page, "ann@example.com")
    link, update = published(page)
    subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk)
    assert Delivery.objects.get(recipient="ann@example.com").status == Delivery.Status.PENDING

    response = admin_client.delete(f"/api/v1/status-pages/{page.slug}/subscribers/{ann.pk}")
    assert response.status_code == 204, response.content
    withdrawn = Delivery.objects.get(recipient="ann@example.com")
    assert (withdrawn.status, withdrawn.last_error) == (Delivery.Status.FAILED, "the subscriber was removed")


def test_deleting_a_page_or_subscribers_in_admin_withdraws_their_unsent_news(admin_user, client):
    page, other = make_page(), make_page(slug="other")
    ann, bob = confirmed(page, "ann@example.com"), confirmed(page, "bob@example.com")
    cat = confirmed(other, "cat@example.com")
    for each in (page, other):
        link, update = published(each)
        subscribers.notify(each.pk, incident_id=link.pk, event="investigating", update_id=update.pk)
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 3

    client.force_login(admin_user)
    response = client.post(
        "/admin/statuspages/subscriber/",
        {"action": "delete_selected", "_selected_action": [ann.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert Delivery.objects.get(recipient="ann@example.com").status == Delivery.Status.FAILED
    assert Delivery.objects.get(recipient="bob@example.com").status == Delivery.Status.PENDING

    page.delete()
    bob_news = Delivery.objects.get(recipient="bob@example.com")
    assert (bob_news.status, bob_news.last_error) == (Delivery.Status.FAILED, "the status page was deleted")
    assert Delivery.objects.get(recipient="cat@example.com").status == Delivery.Status.PENDING
    assert cat.pk and bob.pk


# --- a fan-out cut short ------------------------------------------------------------------------


class WorkerKilled(BaseException):
    """What the fan-out sees of a SIGKILL: it stops here, nothing after runs."""


@pytest.mark.django_db(transaction=True)
def test_a_fan_out_killed_half_way_loses_no_news_and_sends_none_twice(eager_tasks, receiver, monkeypatch):
    page = make_page()
    link, update = published(page)  # its own fan-out runs now (real commits), to nobody yet
    emails = [f"s{number}@example.com" for number in range(7)]
    for email in emails:
        confirmed(page, email)
    for name in ("a", "b"):
        subscribers.subscribe_webhook(page, f"{receiver.url}/{name}")
    mail.outbox.clear()

    # Batches of two: the first two are created and sent; the third is created but the worker dies
    # after its commit, before its tasks reach the broker; the rest never happen.
    real_queue_direct, real_queue_id = notification_services.queue_direct, notification_services._queue_id
    batches: list[int] = []

    def dying_queue_direct(batch, **options):
        batches.append(len(batch))
        if len(batches) == 3:
            monkeypatch.setattr(notification_services, "_queue_id", lambda delivery_id: None)
            real_queue_direct(batch, **options)
            raise WorkerKilled
        return real_queue_direct(batch, **options)

    monkeypatch.setattr(notification_services, "queue_direct", dying_queue_direct)
    with pytest.raises(WorkerKilled):
        subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk, chunk_size=2)
    assert Delivery.objects.count() == 6
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 4
    assert len(mail.outbox) + len(receiver.requests) == 4

    # The broker hands the fan-out task to another worker: it runs again from the start.
    monkeypatch.setattr(notification_services, "queue_direct", real_queue_direct)
    monkeypatch.setattr(notification_services, "_queue_id", real_queue_id)
    told = subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk, chunk_size=2)

    assert told == 9
    assert sorted(m.to[0] for m in mail.outbox) == emails
    assert sorted(r.path for r in receiver.requests) == ["/hook/a", "/hook/b"]
    assert Delivery.objects.count() == 9
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}


# --- the SSRF guard -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_a_webhook_subscriber_with_a_refused_host_is_refused_when_added(guarded, host, reason):
    page = make_page()
    with pytest.raises(subscribers.SubscriptionError) as error:
        subscribers.subscribe_webhook(page, url_for(host))
    assert reason in error.value.message and "webhooks may not reach it" in error.value.message
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_the_api_answers_a_refused_webhook_url_with_a_validation_error(guarded):
    page = make_page()
    admin = make_user("admin")
    response = _api_client(admin).post(
        f"/api/v1/status-pages/{page.slug}/subscribers/",
        {"kind": "webhook", "url": "http://169.254.169.254/latest/meta-data/"},
        format="json",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and "link-local (cloud metadata)" in body["details"]["url"][0]


@pytest.mark.django_db
def test_the_admin_refuses_a_loopback_webhook_subscriber(guarded):
    subscriber = Subscriber(page=make_page(), kind=Subscriber.Kind.WEBHOOK, url="http://[::1]:8000/hook")
    with pytest.raises(ValidationError) as error:
        subscriber.full_clean()
    assert "a loopback address" in error.value.message_dict["url"][0]


@pytest.mark.django_db
def test_news_to_a_subscriber_saved_with_a_refused_url_fails_at_once(guarded, receiver):
    page = make_page()
    # Saved while private targets were allowed (or before the rule): the send is vetted anyway.
    Subscriber.objects.create(page=page, kind="webhook", url=receiver.url, confirmed_at=timezone.now())
    link, update = published(page)
    subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=update.pk)
    delivery = Delivery.objects.get()
    deliver_notification(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (Delivery.Status.FAILED, 1, None)
    assert delivery.last_error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert receiver.requests == []


def _api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client


def test_old_news_is_pinned_to_its_update(db):
    """queue() names the update it announces, so a later update cannot change what a rerun sends."""
    page = make_page()
    link, first = published(page)
    services.post_update(link, body="Found it.", status="identified")
    confirmed(page, "ann@example.com")
    mail.outbox.clear()
    subscribers.notify(page.pk, incident_id=link.pk, event="investigating", update_id=first.pk)
    [delivery] = Delivery.objects.all()
    assert "Looking into it." in delivery.body_text and "Found it." not in delivery.body_text
    assert delivery.created_at >= timezone.now() - timedelta(minutes=1)
