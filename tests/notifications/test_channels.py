import pytest
from django.core.exceptions import ValidationError

from tests.notifications.factories import make_email_channel, make_webhook_channel
from tracepoint.notifications.models import NotificationChannel, severity_rank

pytestmark = pytest.mark.django_db


def test_webhook_channels_get_a_generated_secret_when_left_blank():
    first = make_webhook_channel()
    second = make_webhook_channel()
    assert len(first.webhook_secret) >= 40
    assert first.webhook_secret != second.webhook_secret
    assert make_webhook_channel(webhook_secret="my-own-secret").webhook_secret == "my-own-secret"


def test_email_channels_need_at_least_one_valid_recipient():
    channel = NotificationChannel(name="ops", kind=NotificationChannel.Kind.EMAIL, email_recipients=" \n, ")
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    assert "email_recipients" in error.value.message_dict

    channel.email_recipients = "ops@example.com, not-an-address"
    with pytest.raises(ValidationError, match="not-an-address"):
        channel.full_clean()


def test_email_recipients_may_be_separated_by_commas_or_new_lines():
    channel = NotificationChannel(
        name="ops", kind=NotificationChannel.Kind.EMAIL, email_recipients="a@example.com,b@example.com\nc@example.com\n"
    )
    channel.full_clean()
    assert channel.recipients == ["a@example.com", "b@example.com", "c@example.com"]


@pytest.mark.parametrize("url", ["", "ftp://example.com/hook", "file:///etc/passwd", "not a url"])
def test_webhook_channels_need_an_http_or_https_url(url):
    channel = NotificationChannel(name="hook", kind=NotificationChannel.Kind.WEBHOOK, webhook_url=url)
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    assert "webhook_url" in error.value.message_dict


def test_a_webhook_channel_with_an_https_url_is_valid():
    channel = NotificationChannel(
        name="hook", kind=NotificationChannel.Kind.WEBHOOK, webhook_url="https://example.com/h"
    )
    channel.full_clean()


@pytest.mark.parametrize("topics", [["Incident Created"], ["incident."], "incident.created", [1]])
def test_topics_must_be_a_list_of_dotted_names(topics):
    channel = NotificationChannel(name="ops", kind=NotificationChannel.Kind.EMAIL, email_recipients="a@example.com")
    channel.topics = topics
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    assert "topics" in error.value.message_dict


def test_an_empty_topic_list_accepts_every_topic():
    channel = make_email_channel(topics=[])
    assert channel.accepts("incident.created", None)
    assert channel.accepts("monitor.down", None)


def test_a_channel_accepts_only_its_topics_and_wildcards_match_a_prefix():
    channel = make_email_channel(topics=["incident.created", "monitor.*"])
    assert channel.accepts("incident.created", None)
    assert not channel.accepts("incident.status_changed", None)
    assert channel.accepts("monitor.down", None)
    assert not channel.accepts("monitors.down", None)


@pytest.mark.parametrize(
    ("severity", "accepted"), [("SEV1", True), ("SEV2", True), ("SEV3", False), ("SEV4", False), (None, True)]
)
def test_min_severity_lets_through_only_notifications_at_least_that_severe(severity, accepted):
    channel = make_email_channel(min_severity="SEV2")
    assert channel.accepts("incident.created", severity) is accepted


def test_severity_rank_puts_sev1_first_and_refuses_unknown_values():
    assert [severity_rank(s) for s in ("SEV1", "SEV2", "SEV3", "SEV4")] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="unknown severity"):
        severity_rank("critical")
