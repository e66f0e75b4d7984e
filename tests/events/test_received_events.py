"""A Sentry event is stored as it arrived (``ReceivedEvent``) and becomes an Event in digestion."""

from __future__ import annotations

import gzip
import json
import logging
import uuid
import zlib
from datetime import timedelta

from django.utils import timezone

from events import digestion, ingest
from events.models import Event, Issue, ReceivedEvent
from tests.helpers import EVENT_ID, digest_all, envelope, event_item


def post(client, project, key, body: bytes, *, encoding: str | None = None):
    headers = {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_key={key}, sentry_version=7"}
    if encoding:
        headers["HTTP_CONTENT_ENCODING"] = encoding
    return client.generic(
        "POST", f"/api/{project.id}/envelope/", body, content_type="application/x-sentry-envelope", **headers
    )


def secret_event(**fields) -> tuple[dict, bytes]:
    return event_item(
        message="checkout failed",
        request={"url": "https://shop.test/pay?token=abc123", "headers": {"Authorization": "Bearer abcdef123456"}},
        **fields,
    )


def test_the_request_stores_the_body_as_the_sdk_compressed_it_and_nothing_else(client, project, project_key):
    body = gzip.compress(envelope(secret_event()))

    response = post(client, project, project_key, body, encoding="gzip")

    assert response.status_code == 200
    received = ReceivedEvent.objects.get()
    assert (received.project_id, received.event_id) == (project.pk, uuid.UUID(EVENT_ID))
    assert bytes(received.body) == body
    assert (received.encoding, received.envelope) == ("gzip", True)
    assert not Event.objects.exists()


def test_digestion_turns_it_into_a_scrubbed_grouped_event_and_deletes_what_was_received(client, project, project_key):
    post(client, project, project_key, gzip.compress(envelope(secret_event())), encoding="gzip")

    assert digest_all() == 1

    event = Event.objects.get()
    assert event.event_id == uuid.UUID(EVENT_ID)
    assert event.message == "checkout failed"
    assert event.digested_at is not None and event.issue.title == "KeyError: 'sku'"
    stored = json.dumps(event.data)
    assert "abc123" not in stored and "abcdef123456" not in stored
    assert event.data["request"]["url"] == "https://shop.test/pay?token=[Filtered]"
    assert not ReceivedEvent.objects.exists()


def test_an_envelope_with_other_items_keeps_the_event_alone(client, project, project_key):
    body = envelope(({"type": "attachment", "filename": "big.bin"}, b"\x00" * 5000), secret_event())

    assert post(client, project, project_key, body).status_code == 200

    received = ReceivedEvent.objects.get()
    assert (received.encoding, received.envelope) == ("deflate", False)
    assert json.loads(zlib.decompress(bytes(received.body)))["message"] == "checkout failed"
    digest_all()
    assert Event.objects.get().message == "checkout failed"


def test_a_resend_before_digestion_is_received_once(client, project, project_key):
    for _ in range(3):
        assert post(client, project, project_key, envelope(event_item())).json() == {"id": EVENT_ID}

    assert ReceivedEvent.objects.count() == 1
    digest_all()
    assert Event.objects.count() == 1 and Issue.objects.get().event_count == 1


def test_a_resend_after_digestion_is_not_stored_or_counted_again(client, project, project_key):
    post(client, project, project_key, envelope(event_item()))
    digest_all()

    post(client, project, project_key, envelope(event_item()))
    assert ReceivedEvent.objects.count() == 1
    digest_all()

    assert Event.objects.count() == 1
    assert Issue.objects.get().event_count == 1
    assert not ReceivedEvent.objects.exists()


def test_a_received_event_that_cannot_be_read_is_dropped_loudly_and_the_batch_goes_on(
    client, project, project_key, caplog
):
    post(client, project, project_key, envelope(event_item()))
    broken_id = uuid.uuid4()
    ingest.receive(project, broken_id, body=b"not gzip", encoding="gzip", envelope=True)

    with caplog.at_level(logging.ERROR, logger="tracepoint.events"):
        digest_all()

    assert list(Event.objects.values_list("event_id", flat=True)) == [uuid.UUID(EVENT_ID)]
    assert not ReceivedEvent.objects.exists()
    assert str(broken_id) in caplog.text


def test_the_sweeper_digests_received_events_the_queue_missed(project):
    now = timezone.now()
    body = zlib.compress(event_item()[1])
    ingest.receive(project, uuid.UUID(EVENT_ID), body=body, encoding="deflate", envelope=False, now=now)

    assert digestion.sweep_undigested(now=now + timedelta(seconds=1)) == 0  # too fresh: the queue has it
    assert digestion.sweep_undigested(now=now + timedelta(seconds=6)) == 1

    event = Event.objects.get()
    assert event.received_at == now and event.issue is not None


def test_deleting_the_project_deletes_what_it_had_received(client, project, project_key):
    post(client, project, project_key, envelope(event_item()))

    project.delete()

    assert not ReceivedEvent.objects.exists()
