"""The channels dashboard: readers see no secret, admins add (kind first), edit, switch, delete and test."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.factories import make_user
from tests.notifications.factories import make_email_channel, make_webhook_channel
from tracepoint.notifications.models import Delivery, NotificationChannel

pytestmark = pytest.mark.django_db

SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"
SLACK_SECRET = "TIiajkdnlazkcOXrIdevi7FQ"
HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(role: str | None) -> Client:
    client = Client()
    if role:
        client.force_login(make_user(role))
    return client


@pytest.fixture
def admin():
    return client_for("admin")


@pytest.fixture
def slack():
    return NotificationChannel.objects.create(name="Slack #ops", kind="APPRISE", apprise_url=SLACK_URL)


# --- the list -------------------------------------------------------------------------------------


def test_the_list_shows_kind_target_topics_severity_and_last_delivery(admin, slack):
    make_email_channel(name="Ops mail", email_recipients="ops@example.com", topics=["incident.*"], min_severity="SEV2")
    Delivery.objects.create(channel=slack, topic="test", subject="t", status="FAILED", last_error="HTTP 404: no hook")

    page = admin.get("/channels/").text

    assert "Slack #ops" in page and "Chat or push (apprise)" in page and "slack://T...2/A...D/T...Q" in page
    assert "Ops mail" in page and "ops@example.com" in page and "incident.*" in page and "SEV2" in page
    assert "Failed" in page and "HTTP 404: no hook" in page
    assert SLACK_SECRET not in page
    assert "Send test" in page and "Add a channel" in page


def test_readers_see_the_channels_without_any_secret(slack):
    make_webhook_channel(url="https://hooks.example.com/T0K3N-in-path?key=abc123", name="Hook")
    Delivery.objects.create(channel=slack, topic="test", subject="t", status="FAILED", last_error="HTTP 404: no hook")
    for role in ("viewer", "responder"):
        response = client_for(role).get("/channels/")
        assert response.status_code == 200
        page = response.text
        assert "Slack #ops" in page and "<code>Slack</code>" in page and "https://hooks.example.com/…" in page
        for secret in ("T...2", SLACK_SECRET, "T0K3N", "abc123", "HTTP 404: no hook"):
            assert secret not in page
        assert "Send test" not in page and "Add a channel" not in page


def test_the_nav_links_to_the_channels(admin):
    assert 'href="/channels/"' in admin.get("/").text


def test_anonymous_users_are_sent_to_the_login():
    response = Client().get("/channels/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/channels/new/"),
        ("post", "/channels/new/?kind=EMAIL"),
        ("get", "/channels/{pk}/"),
        ("post", "/channels/{pk}/toggle/"),
        ("post", "/channels/{pk}/test/"),
        ("post", "/channels/{pk}/delete/"),
    ],
)
def test_only_admins_change_channels(slack, method, path):
    response = getattr(client_for("responder"), method)(path.format(pk=slack.pk), {"name": "x"})
    assert response.status_code == 403
    slack.refresh_from_db()
    assert slack.enabled and slack.name == "Slack #ops"


@pytest.mark.parametrize("path", ["/channels/", "/channels/{pk}/toggle/", "/channels/{pk}/test/"])
def test_wrong_methods_are_refused(admin, slack, path):
    method = "post" if path == "/channels/" else "get"
    assert getattr(admin, method)(path.format(pk=slack.pk)).status_code == 405


# --- adding and editing ---------------------------------------------------------------------------


def test_adding_starts_with_the_kind(admin):
    page = admin.get("/channels/new/").text
    for kind in ("EMAIL", "WEBHOOK", "APPRISE"):
        assert f'href="/channels/new/?kind={kind}"' in page
    assert "Slack, Microsoft Teams, Discord, Telegram" in page


@pytest.mark.parametrize(
    ("kind", "present", "absent"),
    [
        ("EMAIL", 'name="email_recipients"', ('name="webhook_url"', 'name="apprise_url"')),
        ("WEBHOOK", 'name="webhook_url"', ('name="email_recipients"', 'name="apprise_url"')),
        ("APPRISE", 'name="apprise_url"', ('name="email_recipients"', 'name="webhook_url"')),
    ],
)
def test_the_form_has_only_the_fields_of_its_kind(admin, kind, present, absent):
    page = admin.get(f"/channels/new/?kind={kind}").text
    assert present in page and all(field not in page for field in absent)
    assert 'name="topic_choices" value="incident.created"' in page and 'name="min_severity"' in page


def test_the_apprise_form_gives_examples(admin):
    page = admin.get("/channels/new/?kind=APPRISE").text
    for example in ("slack://", "discord://", "workflows://", "tgram://", "ntfys://"):
        assert example in page


def test_an_admin_adds_an_apprise_channel_with_topics_and_severity(admin):
    response = admin.post(
        "/channels/new/",
        {
            "kind": "APPRISE",
            "name": "Slack #ops",
            "apprise_url": SLACK_URL,
            "topic_choices": ["incident.created", "monitor.down"],
            "other_topics": "issue.*",
            "min_severity": "SEV2",
            "enabled": "on",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/channels/"
    channel = NotificationChannel.objects.get()
    assert (channel.kind, channel.apprise_url, channel.min_severity) == ("APPRISE", SLACK_URL, "SEV2")
    assert channel.topics == ["incident.created", "monitor.down", "issue.*"]
    assert SLACK_SECRET not in admin.get("/channels/").text


def test_an_unknown_apprise_scheme_is_shown_on_the_form(admin):
    response = admin.post("/channels/new/", {"kind": "APPRISE", "name": "x", "apprise_url": "bogus://host/x"})
    assert response.status_code == 400 and "bogus:// is not a service apprise knows" in response.text
    assert not NotificationChannel.objects.exists()


def test_bad_topics_are_shown_on_the_form(admin):
    data = {"kind": "EMAIL", "name": "x", "email_recipients": "a@example.com", "other_topics": "Not A Topic!"}
    response = admin.post("/channels/new/", data)
    assert response.status_code == 400 and "Not a topic" in response.text


def test_editing_never_renders_the_stored_url_and_keeps_it_when_left_empty(admin, slack):
    page = admin.get(f"/channels/{slack.pk}/").text
    assert SLACK_SECRET not in page
    assert 'placeholder="slack://T...2/A...D/T...Q' in page and "Leave empty to keep the current URL" in page

    response = admin.post(f"/channels/{slack.pk}/", {"name": "Slack #incidents", "apprise_url": "", "enabled": "on"})

    assert response.status_code == 302
    slack.refresh_from_db()
    assert (slack.name, slack.apprise_url, slack.enabled) == ("Slack #incidents", SLACK_URL, True)


def test_editing_replaces_the_url_when_a_new_one_is_typed(admin, slack):
    new = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"
    admin.post(f"/channels/{slack.pk}/", {"name": "Discord", "apprise_url": new, "enabled": "on"})
    slack.refresh_from_db()
    assert (slack.apprise_url, slack.apprise_service) == (new, "Discord")


def test_the_edit_form_keeps_checked_and_other_topics_apart(admin):
    channel = make_email_channel(topics=["incident.created", "issue.*"])
    page = admin.get(f"/channels/{channel.pk}/").text
    assert 'value="incident.created" id="id_topic_choices_0" checked' in page
    assert 'name="other_topics" value="issue.*"' in page


# --- switch, delete, test ---------------------------------------------------------------------


def test_disabling_with_htmx_returns_the_row_only(admin, slack):
    response = admin.post(f"/channels/{slack.pk}/toggle/", {"enabled": "false"}, **HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="channel-{slack.pk}"') and "<html" not in response.text
    assert "Disabled" in response.text and ">Enable</button>" in response.text
    slack.refresh_from_db()
    assert not slack.enabled
    admin.post(f"/channels/{slack.pk}/toggle/", {"enabled": "true"})
    slack.refresh_from_db()
    assert slack.enabled


def test_delete_asks_first_then_deletes_on_post(admin, slack):
    page = admin.get(f"/channels/{slack.pk}/delete/").text
    assert "Delete “Slack #ops”?" in page and 'method="post"' in page
    assert NotificationChannel.objects.filter(pk=slack.pk).exists()
    response = admin.post(f"/channels/{slack.pk}/delete/")
    assert response.status_code == 302 and not NotificationChannel.objects.filter(pk=slack.pk).exists()


def test_send_test_shows_success_in_the_row(admin, receiver):
    port = receiver.server.server_address[1]
    channel = NotificationChannel.objects.create(name="JSON", kind="APPRISE", apprise_url=f"json://127.0.0.1:{port}/x")

    response = admin.post(f"/channels/{channel.pk}/test/", **HTMX)

    assert response.status_code == 200 and "Test message sent." in response.text and "<html" not in response.text
    (request,) = receiver.requests
    body = json.loads(request.body)
    assert body["title"] == "Tracepoint test notification for JSON"
    assert "**JSON**" in body["message"] and "the channel works" in body["message"]
    delivery = Delivery.objects.get()
    assert (delivery.topic, delivery.status, delivery.attempts) == ("test", "SUCCEEDED", 1)


def test_send_test_shows_the_failure_reason_and_does_not_retry(admin, receiver, task_queue):
    receiver.respond(500, body=b"no such hook")
    channel = make_webhook_channel(url=receiver.url, name="Hook")

    response = admin.post(f"/channels/{channel.pk}/test/", **HTMX)

    assert "Test failed: HTTP 500: no such hook" in response.text
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("FAILED", 1, None)
    assert task_queue.queued == []  # nothing left to retry in the background


def test_send_test_without_htmx_redirects_with_a_message(admin, receiver):
    channel = make_webhook_channel(url=receiver.url, name="Hook")
    response = admin.post(f"/channels/{channel.pk}/test/", follow=True)
    assert "Test message sent to “Hook”." in response.text
