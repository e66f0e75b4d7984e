"""The real sentry-sdk, pointed at a project's DSN on a live server, gets its events grouped."""

from __future__ import annotations

import uuid

import pytest
import sentry_sdk

from events import digestion, keys, sentry_protocol
from events.models import Event, Issue, ReceivedEvent


def _find_user(user_id: int) -> None:
    raise ValueError(f"user {user_id} not found")


@pytest.mark.django_db(transaction=True)
def test_the_sdk_reaches_the_production_application(production_server, sentry_client):
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    sentry_client(project.active_key().dsn(production_server), release="shop@1.0.0")
    try:
        _find_user(7)
    except ValueError:
        event_id = sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)

    assert ReceivedEvent.objects.get(project=project).event_id == uuid.UUID(event_id)
    assert digestion.sweep_undigested(older_than_seconds=0) == 1
    assert Event.objects.get(project=project).event_id == uuid.UUID(event_id)
    assert Issue.objects.get(project=project).title == "ValueError: user 7 not found"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", ["br", "gzip", "none"])
def test_sdk_events_are_stored_and_grouped(live_server, sentry_client, compression, monkeypatch):
    encodings = []
    decode_content = sentry_protocol.decode_content

    def spy(data, content_encoding, *, limit):
        encodings.append(content_encoding)
        return decode_content(data, content_encoding, limit=limit)

    monkeypatch.setattr(sentry_protocol, "decode_content", spy)
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    key = project.active_key()
    host = live_server.url.split("://", 1)[1]
    experiments = {"none": {"transport_compression_level": 0}, "gzip": {"transport_compression_algo": "gzip"}}
    sentry_client(
        key.dsn(live_server.url),
        release="shop@1.0.0",
        environment="test",
        _experiments=experiments.get(compression, {"transport_compression_algo": "br"}),
    )
    assert key.dsn(live_server.url) == f"http://{key.public_key}@{host}/{project.id}"

    exception_ids = []
    for user_id in (1, 2):
        try:
            _find_user(user_id)
        except ValueError:
            exception_ids.append(sentry_sdk.capture_exception())
    message_id = sentry_sdk.capture_message("Payment provider timed out after 30 seconds", level="warning")
    sentry_sdk.flush(timeout=10)

    assert encodings[:3] == [{"none": ""}.get(compression, compression)] * 3
    received = set(ReceivedEvent.objects.filter(project=project).values_list("event_id", flat=True))
    assert received == {uuid.UUID(i) for i in [*exception_ids, message_id]}

    assert digestion.sweep_undigested(older_than_seconds=0) == 3
    stored = set(Event.objects.filter(project=project).values_list("event_id", flat=True))
    assert stored == received

    error_issue = Issue.objects.get(project=project, title__startswith="ValueError")
    assert error_issue.event_count == 2
    assert error_issue.title == "ValueError: user 1 not found"
    assert error_issue.culprit == f"{__name__} in _find_user"
    assert error_issue.service == "checkout"
    assert error_issue.level == "error"
    assert error_issue.first_release == "shop@1.0.0"
    assert set(error_issue.events.values_list("event_id", flat=True)) == {uuid.UUID(i) for i in exception_ids}

    message_issue = Issue.objects.exclude(pk=error_issue.pk).get(project=project)
    assert message_issue.title == "Payment provider timed out after 30 seconds"
    assert message_issue.event_count == 1
    assert message_issue.level == "warning"
    assert Issue.objects.filter(project=project).count() == 2

    event = Event.objects.get(event_id=uuid.UUID(message_id))
    assert (event.platform, event.environment, event.release) == ("python", "test", "shop@1.0.0")
    assert event.data["sdk"]["name"] == "sentry.python"
