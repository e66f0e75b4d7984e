import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from tests.factories import make_user
from tests.notifications.factories import make_delivery, make_email_channel, make_webhook_channel
from tracepoint.accounts.roles import sync_role_permissions
from tracepoint.notifications.delivery import verify_signature
from tracepoint.notifications.models import Delivery, NotificationChannel
from tracepoint.notifications.services import send_test_notification
from tracepoint.notifications.tasks import deliver_notification

pytestmark = pytest.mark.django_db

CHANNELS = "admin:notifications_notificationchannel_changelist"
DELIVERIES = "admin:notifications_delivery_changelist"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_superusers_see_the_channel_and_delivery_lists(superuser):
    channel = make_webhook_channel(name="PagerBridge")
    make_delivery(channel, status=Delivery.Status.FAILED, attempts=6, response_code=502, last_error="HTTP 502")
    client = _client(superuser)

    channels = client.get(reverse(CHANNELS))
    assert channels.status_code == 200
    assert "PagerBridge" in channels.text
    assert "Send a test notification" in channels.text

    deliveries = client.get(reverse(DELIVERIES))
    assert deliveries.status_code == 200
    assert "incident.created" in deliveries.text
    assert "502" in deliveries.text
    assert "Retry failed deliveries now" in deliveries.text


def test_deliveries_can_be_filtered_and_searched(superuser):
    channel = make_email_channel()
    make_delivery(channel, subject="SEV1: checkout is down", status=Delivery.Status.FAILED)
    make_delivery(channel, subject="SEV2: search is slow", status=Delivery.Status.SUCCEEDED)
    client = _client(superuser)
    failed = client.get(reverse(DELIVERIES), {"status__exact": Delivery.Status.FAILED})
    assert [d.subject for d in failed.context["cl"].result_list] == ["SEV1: checkout is down"]
    found = client.get(reverse(DELIVERIES), {"q": "search"})
    assert [d.subject for d in found.context["cl"].result_list] == ["SEV2: search is slow"]


def test_admins_by_role_see_the_channel_list(admin_user):
    sync_role_permissions()
    assert Group.objects.get(name="admin").permissions.filter(codename="change_notificationchannel").exists()
    assert _client(admin_user).get(reverse(CHANNELS)).status_code == 200


@pytest.mark.parametrize("role", ["viewer", "responder"])
def test_only_admins_can_open_the_notification_admin(role):
    client = _client(make_user(role))
    for url in (reverse(CHANNELS), reverse(DELIVERIES)):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_the_channel_change_page_shows_the_webhook_secret(superuser):
    channel = make_webhook_channel()
    response = _client(superuser).get(reverse("admin:notifications_notificationchannel_change", args=[channel.pk]))
    assert response.status_code == 200
    assert channel.webhook_secret in response.text
    assert "X-Tracepoint-Signature" in response.text


def test_a_channel_added_in_admin_takes_topics_one_per_line_and_gets_a_secret(superuser):
    response = _client(superuser).post(
        reverse("admin:notifications_notificationchannel_add"),
        {
            "name": "Ops webhook",
            "kind": NotificationChannel.Kind.WEBHOOK,
            "enabled": "on",
            "email_recipients": "",
            "webhook_url": "https://hooks.example.com/tracepoint",
            "webhook_secret": "",
            "topics": "incident.created\nincident.status_changed, incident.created",
            "min_severity": "SEV2",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    channel = NotificationChannel.objects.get(name="Ops webhook")
    assert channel.topics == ["incident.created", "incident.status_changed"]
    assert channel.min_severity == "SEV2"
    assert len(channel.webhook_secret) >= 40


@pytest.mark.parametrize(
    ("fields", "field_with_error"),
    [
        ({"kind": NotificationChannel.Kind.EMAIL, "email_recipients": ""}, "email_recipients"),
        ({"kind": NotificationChannel.Kind.EMAIL, "email_recipients": "ops@example"}, "email_recipients"),
        ({"kind": NotificationChannel.Kind.WEBHOOK, "webhook_url": ""}, "webhook_url"),
        ({"kind": NotificationChannel.Kind.WEBHOOK, "webhook_url": "ftp://example.com/x"}, "webhook_url"),
        (
            {"kind": NotificationChannel.Kind.EMAIL, "email_recipients": "a@example.com", "topics": "Bad Topic!"},
            "topics",
        ),
    ],
)
def test_the_channel_form_rejects_incomplete_channels(superuser, fields, field_with_error):
    data = {"name": "Broken", "enabled": "on", "email_recipients": "", "webhook_url": "", "topics": ""} | fields
    response = _client(superuser).post(reverse("admin:notifications_notificationchannel_add"), data)
    assert response.status_code == 200
    assert field_with_error in response.context["adminform"].form.errors
    assert not NotificationChannel.objects.exists()


def test_the_test_action_queues_a_test_delivery_for_each_selected_channel(
    superuser, task_queue, django_capture_on_commit_callbacks
):
    hook = make_webhook_channel(topics=["incident.created"], enabled=False)
    email = make_email_channel(min_severity="SEV1")
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(superuser).post(
            reverse(CHANNELS), {"action": "send_test_notification", "_selected_action": [hook.pk, email.pk]}
        )
    assert response.status_code == 302
    deliveries = Delivery.objects.filter(topic="test")
    assert {d.channel for d in deliveries} == {hook, email}
    assert sorted(task_queue.delivery_ids) == sorted(d.pk for d in deliveries)
    assert all("test notification" in d.subject for d in deliveries)


def test_a_test_delivery_reaches_a_disabled_channel(receiver, task_queue, superuser):
    channel = make_webhook_channel(receiver.url, enabled=False)
    delivery = send_test_notification(channel, by=superuser)
    deliver_notification(delivery.pk)
    (request,) = receiver.requests
    assert request.headers["x-tracepoint-topic"] == "test"
    assert verify_signature(channel.webhook_secret, request.body, request.headers["x-tracepoint-signature"])


def test_the_retry_action_resets_failed_deliveries_and_queues_them(
    superuser, task_queue, django_capture_on_commit_callbacks
):
    channel = make_webhook_channel()
    failed = make_delivery(channel, status=Delivery.Status.FAILED, attempts=6, response_code=500, last_error="HTTP 500")
    succeeded = make_delivery(channel, status=Delivery.Status.SUCCEEDED, attempts=1, response_code=200)
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(superuser).post(
            reverse(DELIVERIES), {"action": "retry_now", "_selected_action": [failed.pk, succeeded.pk]}, follow=True
        )
    assert "Queued 1 failed delivery(ies) again. Skipped 1 that had not failed." in response.text
    failed.refresh_from_db()
    succeeded.refresh_from_db()
    assert (failed.status, failed.attempts, failed.claimed_until) == (Delivery.Status.PENDING, 0, None)
    assert failed.last_error == "HTTP 500"  # kept until the next attempt says otherwise
    assert succeeded.status == Delivery.Status.SUCCEEDED
    assert task_queue.delivery_ids == [failed.pk]


def test_a_retried_delivery_is_sent_again(receiver, superuser, task_queue, django_capture_on_commit_callbacks):
    failed = make_delivery(make_webhook_channel(receiver.url), status=Delivery.Status.FAILED, attempts=6)
    with django_capture_on_commit_callbacks(execute=True):
        _client(superuser).post(reverse(DELIVERIES), {"action": "retry_now", "_selected_action": [failed.pk]})
    task_queue.run_all()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.response_code) == (Delivery.Status.SUCCEEDED, 1, 200)
    assert len(receiver.requests) == 1


def test_deliveries_are_read_only_in_admin(superuser):
    delivery = make_delivery(make_email_channel())
    client = _client(superuser)
    change_url = reverse("admin:notifications_delivery_change", args=[delivery.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert "Checkout is down." in page.text
    assert client.post(change_url, {"status": Delivery.Status.SUCCEEDED}).status_code == 403
    assert client.get(reverse("admin:notifications_delivery_add")).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
