"""Apprise channels: validated when saved, never shown back in full, delivered through the SSRF guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from tests.notifications.factories import make_delivery
from tracepoint.notifications import apprise_channel
from tracepoint.notifications.delivery import apprise_notify_type, deliver, requeue_countdown
from tracepoint.notifications.forms import NotificationChannelForm
from tracepoint.notifications.models import Delivery, NotificationChannel
from tracepoint.notifications.services import notify

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"


def make_apprise_channel(url: str, **overrides) -> NotificationChannel:
    fields = {"name": "Chat", "kind": NotificationChannel.Kind.APPRISE, "apprise_url": url} | overrides
    return NotificationChannel.objects.create(**fields)


def _port(receiver) -> int:
    return receiver.server.server_address[1]


def _guarded(settings) -> None:
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": False,
        "OUTBOUND_ALLOWED_NETWORKS": [],
    }


# --- saving -----------------------------------------------------------------------------------


def test_an_unknown_scheme_is_refused_with_a_clear_error():
    channel = NotificationChannel(name="x", kind="APPRISE", apprise_url="bogus://example.com/x")
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    [message] = error.value.message_dict["apprise_url"]
    assert "bogus:// is not a service apprise knows" in message and "slack://" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "needs its service's URL"),
        ("hooks.slack.com/services/x", "starts with its service's scheme"),
        ("slack://onlyonetoken", "Slack URL is not valid"),
        ("gnome://", "notifies the server Tracepoint runs on"),
    ],
)
def test_urls_apprise_cannot_use_are_refused_when_saved(url, expected):
    channel = NotificationChannel(name="x", kind="APPRISE", apprise_url=url)
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    assert expected in " ".join(error.value.message_dict["apprise_url"])


@pytest.mark.parametrize(
    "url",
    [
        SLACK_URL,
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "tgram://123456789:abcdefg_hijklmnop/-12345",
        "ntfys://ntfy.sh/tracepoint-ops",
        "workflows://prod-01.westus.logic.azure.com:443/abcdefg/hijklmnop",
        "pagerduty://myroutekey@myapikey",
    ],
)
def test_urls_of_the_usual_services_are_accepted(url):
    NotificationChannel(name="x", kind="APPRISE", apprise_url=url).full_clean()


def test_a_url_naming_a_private_host_is_refused_when_private_targets_are_not_allowed(settings):
    _guarded(settings)
    channel = NotificationChannel(name="x", kind="APPRISE", apprise_url="json://169.254.169.254/latest")
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    [message] = error.value.message_dict["apprise_url"]
    assert "link-local (cloud metadata)" in message and "ALLOW_PRIVATE_TARGETS" in message


def test_the_secret_is_kept_but_only_its_redacted_form_is_shown():
    channel = make_apprise_channel("jsons://bot:hunter22@hooks.example.com/in?+Authorization=Bearer%20s3cr3tvalue")
    assert channel.apprise_url.startswith("jsons://bot:hunter22@")
    for shown in (channel.target, channel.apprise_url_redacted, str(channel)):
        assert "hunter22" not in shown and "s3cr3tvalue" not in shown
    assert channel.target == "jsons://bot:****@hooks.example.com/in?+Authorization=…"
    assert channel.public_target == "JSON"  # readers without the admin role see the service only


def test_slack_tokens_are_reduced_to_their_first_and_last_characters():
    channel = make_apprise_channel(SLACK_URL)
    assert channel.target.startswith("slack://T...2/A...D/T...Q")
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in channel.target
    assert channel.apprise_service == "Slack"


def test_changing_the_kind_drops_the_apprise_secret():
    channel = make_apprise_channel(SLACK_URL)
    channel.kind, channel.email_recipients = NotificationChannel.Kind.EMAIL, "ops@example.com"
    channel.save()
    channel.refresh_from_db()
    assert (channel.apprise_url, channel.apprise_url_redacted) == ("", "")


def test_the_admin_form_never_holds_the_stored_url_and_keeps_it_when_left_empty():
    channel = make_apprise_channel(SLACK_URL)
    form = NotificationChannelForm(instance=channel)
    html = str(form["apprise_url"])
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in html and "slack://T...2" in html  # the placeholder

    data = {"name": "Renamed", "kind": "APPRISE", "enabled": "on", "apprise_url": "", "topics": ""}
    form = NotificationChannelForm(data=data, instance=channel)
    assert form.is_valid(), form.errors
    form.save()
    channel.refresh_from_db()
    assert (channel.name, channel.apprise_url) == ("Renamed", SLACK_URL)


# --- delivering -------------------------------------------------------------------------------


def test_a_json_channel_posts_title_body_and_link_to_the_receiver(receiver):
    channel = make_apprise_channel(f"json://127.0.0.1:{_port(receiver)}/hook")
    [delivery] = notify(
        topic="issue.alert",
        subject="Checkout errors spiked",
        text="Plain text body",
        markdown="**SEV2** spike · [Open the issue](http://tp.example/issues/7/)",
        payload={},
        severity="SEV2",
        channels=[channel],
    )

    result = deliver(delivery.pk)

    assert result.status == Delivery.Status.SUCCEEDED and result.attempts == 1
    (request,) = receiver.requests
    assert request.path == "/hook"
    body = json.loads(request.body)
    assert body["title"] == "[SEV2] Checkout errors spiked"
    assert body["type"] == "failure"  # SEV1/SEV2
    assert body["message"] == "**SEV2** spike · [Open the issue](http://tp.example/issues/7/)"  # it takes Markdown


def test_an_ntfy_channel_on_a_local_server_gets_the_message(receiver):
    channel = make_apprise_channel(f"ntfy://127.0.0.1:{_port(receiver)}/ops-alerts")
    [delivery] = notify(
        topic="monitor.down",
        subject="[DOWN] api-health",
        text="Monitor api-health is down.",
        markdown="**Monitor** api\\_health is down · [Open the monitor](http://tp.example/monitors/3/)",
        payload={"to": "down"},
        severity="SEV3",
        channels=[channel],
    )
    assert deliver(delivery.pk).status == Delivery.Status.SUCCEEDED
    (request,) = receiver.requests
    body = json.loads(request.body)
    assert body["topic"] == "ops-alerts"
    assert body["title"] == "[SEV3] [DOWN] api-health"
    # ntfy takes text only: the Markdown arrives as plain text, its link as "label: url".
    assert body["message"] == "Monitor api_health is down · Open the monitor: http://tp.example/monitors/3/"


def test_a_mattermost_channel_gets_markdown_with_its_links(receiver):
    channel = make_apprise_channel(f"mmost://127.0.0.1:{_port(receiver)}/webhooktoken")
    [delivery] = notify(
        topic="incident.created",
        subject="New incident",
        markdown="Links: [Open](http://tp.example/incidents/1/)",
        text="fallback",
        payload={},
        channels=[channel],
    )
    assert deliver(delivery.pk).status == Delivery.Status.SUCCEEDED
    (request,) = receiver.requests
    assert request.path == "/hooks/webhooktoken"
    assert json.loads(request.body)["text"].endswith("Links: Open: http://tp.example/incidents/1/")


def test_a_failing_service_is_retried_with_backoff_and_every_attempt_recorded(receiver, task_queue, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "WEBHOOK_RETRY_BASE_SECONDS": 30, "WEBHOOK_MAX_ATTEMPTS": 3}
    channel = make_apprise_channel(f"json://127.0.0.1:{_port(receiver)}/hook")
    receiver.respond(503, times=2, body=b"busy")
    delivery = make_delivery(channel)

    task_queue.apply_async(args=(delivery.pk,))
    ran = task_queue.run_all()

    delivery.refresh_from_db()
    assert [task.countdown for task in ran] == [None, 30, 60]
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 3)
    assert len(receiver.requests) == 3


def test_the_failure_reason_comes_from_apprise(receiver):
    channel = make_apprise_channel(f"json://127.0.0.1:{_port(receiver)}/hook")
    receiver.respond(500)
    delivery = make_delivery(channel, created_at=T0, next_attempt_at=T0)
    result = deliver(delivery.pk, now=T0)
    assert (result.status, result.attempts) == (Delivery.Status.RETRYING, 1)
    assert "Failed to send JSON POST notification" in result.last_error and "500" in result.last_error


def test_recorded_errors_do_not_carry_the_urls_secrets(closed_port_url):
    port = closed_port_url.split(":")[2].split("/")[0]
    channel = make_apprise_channel(f"ntfy://127.0.0.1:{port}/secret-topic-name")
    result = deliver(make_delivery(channel).pk)
    assert result.status == Delivery.Status.RETRYING and result.last_error
    assert "secret-topic-name" not in result.last_error


def test_a_private_target_is_refused_for_good_with_its_reason(receiver, settings):
    _guarded(settings)
    # Saved while private targets were allowed, or by a script: the send is vetted anyway.
    channel = make_apprise_channel(f"json://127.0.0.1:{_port(receiver)}/hook")
    delivery = make_delivery(channel, created_at=T0, next_attempt_at=T0)

    result = deliver(delivery.pk, now=T0)

    assert receiver.requests == []
    assert (result.status, result.attempts, result.next_attempt_at) == (Delivery.Status.FAILED, 1, None)
    assert result.last_error == "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address (not retried)"
    assert requeue_countdown(result, now=T0) is None


def test_the_connect_time_guard_refuses_what_the_url_does_not_show(receiver, settings, monkeypatch):
    # Plugins whose URL holds tokens where a host would be (slack://A/B/C) connect to a host of their
    # own choosing: only the connect-time guard sees it. Simulate it by hiding the host from the check.
    _guarded(settings)
    monkeypatch.setattr(apprise_channel, "target_host", lambda plugin: None)
    channel = make_apprise_channel(f"json://127.0.0.1:{_port(receiver)}/hook")

    result = deliver(make_delivery(channel).pk)

    assert receiver.requests == []
    assert result.status == Delivery.Status.FAILED
    assert "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address" in result.last_error


def test_an_allowed_network_lets_a_private_target_through(receiver, settings):
    import ipaddress

    _guarded(settings)
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOWED_NETWORKS": [ipaddress.ip_network("127.0.0.0/8")]}
    channel = make_apprise_channel(f"json://127.0.0.1:{_port(receiver)}/hook")
    assert deliver(make_delivery(channel).pk).status == Delivery.Status.SUCCEEDED
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("severity", "payload", "expected"),
    [
        ("SEV1", {}, "failure"),
        ("SEV2", {}, "failure"),
        ("SEV3", {}, "warning"),
        ("SEV4", {}, "info"),
        ("", {}, "info"),
        ("SEV1", {"change": {"to": "RESOLVED"}}, "success"),
        ("", {"to": "up"}, "success"),
    ],
)
def test_severity_and_recovery_map_to_apprise_notify_types(severity, payload, expected):
    assert apprise_notify_type(Delivery(severity=severity, payload=payload)) == expected


def test_markdown_from_user_text_cannot_make_links_and_reads_plainly_as_text():
    user_text = "db_primary [click](http://evil.example) <b>"
    markdown = f"**SEV1** {apprise_channel.escape_markdown(user_text)} [Open](http://tp.example/i/1/)"
    assert "[click](http://evil.example)" not in markdown
    assert apprise_channel.to_text(markdown) == (
        "SEV1 db_primary [click](http://evil.example) <b> Open: http://tp.example/i/1/"
    )


def test_the_admin_pages_show_only_the_redacted_url(superuser):
    from django.test import Client

    channel = make_apprise_channel(SLACK_URL)
    client = Client()
    client.force_login(superuser)
    for url in (
        "/admin/notifications/notificationchannel/",
        f"/admin/notifications/notificationchannel/{channel.pk}/change/",
    ):
        page = client.get(url).text
        assert "slack://T...2/A...D/T...Q" in page and "TIiajkdnlazkcOXrIdevi7FQ" not in page
