"""A Sentry event is stored as it arrived (``ReceivedEvent``) and becomes an Event in digestion."""

from __future__ import annotations

import gzip
import json
import logging
import re
import uuid
import zlib
from datetime import timedelta

import pytest
from django.utils import timezone

from events import digestion, ingest
from events.models import Event, Issue, ReceivedEvent
from tests.helpers import EVENT_ID, digest_all, envelope, event_item, receive_sdk_event


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


def _failing_impact(monkeypatch, times: int) -> None:
    from events import impact

    real, calls = impact.refresh, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError("impact refresh failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(impact, "refresh", flaky)


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_after_inserting_is_retried_group_by_group_and_stores_each_event_once(project, monkeypatch):
    receive_sdk_event(project)
    digest_all()  # the issue exists
    received = [receive_sdk_event(project) for _ in range(3)]
    _failing_impact(monkeypatch, times=1)

    assert digestion.digest_pending() == 3

    assert not ReceivedEvent.objects.exists()
    assert set(received) <= set(Event.objects.values_list("event_id", flat=True))
    assert Event.objects.count() == 4 and Issue.objects.get().event_count == 4


@pytest.mark.django_db(transaction=True)
def test_a_new_issue_s_events_are_stored_with_its_history_when_every_batch_attempt_fails_late(project, monkeypatch):
    for _ in range(3):
        receive_sdk_event(project)
    _failing_impact(monkeypatch, times=100)  # the careful retry guards the refresh; the minute task redoes it

    assert digestion.digest_pending() == 3

    issue = Issue.objects.get()
    assert issue.event_count == 3 and Event.objects.filter(issue=issue).count() == 3
    assert issue.activity.get().event_id == Event.objects.order_by("timestamp", "id").first().pk
    assert not ReceivedEvent.objects.exists()


def test_an_envelope_whose_header_outweighs_its_event_keeps_the_event_alone(client, project, project_key):
    body = envelope(event_item(), header={"event_id": EVENT_ID, "padding": "x" * 100_000})

    assert post(client, project, project_key, gzip.compress(body), encoding="gzip").status_code == 200

    received = ReceivedEvent.objects.get()
    assert not received.envelope and len(received.body) < 1_000


def test_a_long_list_of_codings_is_stored_as_the_digester_reads_it(client, project, project_key):
    body = gzip.compress(envelope(event_item()))

    response = post(client, project, project_key, body, encoding="identity, IDENTITY, identity,identity, gzip")

    assert response.status_code == 200
    assert ReceivedEvent.objects.get().encoding == "gzip"
    digest_all()
    assert Event.objects.get().event_id == uuid.UUID(EVENT_ID)


def test_a_batch_loads_a_bounded_amount_of_bodies(project, monkeypatch):
    for _ in range(5):
        receive_sdk_event(project)
    first, second = (len(row.body) for row in ReceivedEvent.objects.order_by("id")[:2])
    monkeypatch.setattr(digestion, "RECEIVED_BATCH_MAX_BYTES", first + second)

    assert digestion.digest_pending() == 2
    assert ReceivedEvent.objects.count() == 3


def test_integers_over_64_bits_are_kept_exactly(client, project, project_key):
    post(
        client, project, project_key, envelope(event_item(tags={"order": 123456789012345678901234}, extra={"n": 2**70}))
    )

    digest_all()

    event = Event.objects.get()
    assert event.data["tags"]["order"] == "123456789012345678901234"
    assert event.data["extra"]["n"] == 2**70


def test_integers_below_the_64_bit_range_are_kept_exactly(client, project, project_key):
    post(client, project, project_key, envelope(event_item(extra={"n": -9_999_999_999_999_999_999})))

    digest_all()

    assert Event.objects.get().data["extra"]["n"] == -9_999_999_999_999_999_999


def test_an_event_whose_fingerprint_fails_is_stored_without_an_issue(client, project, project_key, monkeypatch):
    from events import grouping

    real = grouping.fingerprint_components

    def failing(data, **kwargs):
        if "poison" in json.dumps(data):
            raise ValueError("cannot fingerprint this")
        return real(data, **kwargs)

    monkeypatch.setattr(grouping, "fingerprint_components", failing)
    post(client, project, project_key, envelope(event_item(message="poison")))

    digest_all()

    event = Event.objects.get()  # kept, not dropped as unreadable
    assert event.event_id == uuid.UUID(EVENT_ID) and event.issue_id is None and event.digested_at is not None
    assert not ReceivedEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1}', b'{"n": 1234567890123456789}', b'{"n": 123456789012345678}', b'{"t": "9999999999999999999"}',
     b"-12345678901234567890", b"12345678901234567\xff89", "\u0661\u0662\u0663".encode() * 7, b"1" * 40],
)  # fmt: skip
def test_the_quick_long_number_test_agrees_with_the_expression(body):
    assert digestion._has_long_number(body) == bool(re.search(rb"\d{19}", body))


@pytest.mark.django_db
def test_on_postgresql_event_data_is_compressed_with_lz4_and_bodies_are_not_compressed_again(
    client, project, project_key
):
    from django.db import connection

    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        pytest.skip("column compression is PostgreSQL's, from 14 on")
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        if "lz4" not in (cursor.fetchone()[0] or []):
            pytest.skip("this PostgreSQL was built without lz4")
        cursor.execute(
            "SELECT attrelid::regclass::text, attname, attcompression, attstorage FROM pg_attribute "
            "WHERE (attrelid, attname) IN "
            "(('events_event'::regclass, 'data'), ('events_receivedevent'::regclass, 'body')) ORDER BY 1"
        )
        assert cursor.fetchall() == [("events_event", "data", "l", "x"), ("events_receivedevent", "body", "", "e")]
    # A realistic event's data is over the TOAST threshold: stored compressed, with lz4.
    item = event_item(
        message="checkout failed",
        extra={f"line_{i}": f"item {i} of the cart, with a longer name" * 2 for i in range(50)},
    )
    assert post(client, project, project_key, gzip.compress(envelope(item)), encoding="gzip").status_code == 200
    digest_all()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(data) FROM events_event")
        assert cursor.fetchall() == [("lz4",)]
