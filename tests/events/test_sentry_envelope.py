"""``POST /api/<project_id>/envelope/``: envelope parsing, encodings, limits, idempotency."""

from __future__ import annotations

import gzip
import io
import json
import time
import tracemalloc
import uuid
import zlib

import brotli
import pytest
from django.test import RequestFactory

from events import sentry
from events.models import Event, ReceivedEvent
from tests.helpers import EVENT_ID, digest_all, envelope, event_item


def post(client, project, key, body: bytes, *, encoding: str | None = None, **extra):
    headers = {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"}
    if encoding:
        headers["HTTP_CONTENT_ENCODING"] = encoding
    headers.update(extra)
    return client.generic(
        "POST", f"/api/{project.id}/envelope/", body, content_type="application/x-sentry-envelope", **headers
    )


def test_envelope_with_lengths_stores_the_event(client, project, project_key):
    response = post(client, project, project_key, envelope(event_item(message="checkout failed")))

    assert response.status_code == 200
    assert response.json() == {"id": EVENT_ID}
    # Stored as received; it is an Event once digested.
    assert ReceivedEvent.objects.get(project=project).event_id == uuid.UUID(EVENT_ID)
    assert not Event.objects.exists()
    assert digest_all() == 1
    event = Event.objects.get(project=project)
    assert event.event_id == uuid.UUID(EVENT_ID)
    assert event.event_type == "ERROR"
    assert event.data["exception"][0]["type"] == "KeyError"
    assert event.digested_at is not None


def test_envelope_without_lengths_and_final_newline_as_javascript_sends_it(client, project, project_key):
    body = envelope(event_item(platform="javascript"), lengths=False, final_newline=False)

    response = post(client, project, project_key, body)

    assert response.status_code == 200
    assert digest_all() == 1
    assert Event.objects.get(project=project).platform == "javascript"


def test_other_item_types_are_accepted_and_dropped(client, project, project_key):
    body = envelope(
        ({"type": "attachment", "filename": "note.txt", "content_type": "text/plain"}, b"hello\nworld"),
        event_item(),
        ({"type": "session"}, json.dumps({"sid": "x", "status": "ok"}).encode()),
        ({"type": "client_report"}, json.dumps({"discarded_events": []}).encode()),
        ({"type": "something_new_in_2030"}, b"\x00\x01binary"),
    )

    response = post(client, project, project_key, body)

    assert response.status_code == 200
    assert ReceivedEvent.objects.filter(project=project).count() == 1
    assert digest_all() == 1
    assert Event.objects.filter(project=project).count() == 1


def test_an_envelope_without_items_is_valid(client, project, project_key):
    assert post(client, project, project_key, b"{}\n").json() == {}
    assert post(client, project, project_key, b"{}").status_code == 200
    sessions = envelope(({"type": "session"}, b'{"sid":"a"}'), header={})
    assert post(client, project, project_key, sessions).json() == {}
    assert not ReceivedEvent.objects.exists()


def test_the_envelope_header_event_id_wins_over_the_payload(client, project, project_key):
    header_id = uuid.uuid4()
    body = envelope(event_item(event_id=uuid.uuid4().hex), header={"event_id": str(header_id)})

    response = post(client, project, project_key, body)

    assert response.json() == {"id": header_id.hex}
    assert ReceivedEvent.objects.get().event_id == header_id
    assert digest_all() == 1
    assert Event.objects.get().event_id == header_id


def test_without_any_event_id_one_is_generated(client, project, project_key):
    _, payload = event_item()
    payload_without_id = json.dumps({k: v for k, v in json.loads(payload).items() if k != "event_id"}).encode()
    body = envelope(({"type": "event"}, payload_without_id), header={})

    response = post(client, project, project_key, body)

    assert response.json()["id"] == ReceivedEvent.objects.get().event_id.hex
    assert digest_all() == 1
    assert response.json()["id"] == Event.objects.get().event_id.hex


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", lambda data: gzip.compress(data, 9)),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some clients send it
        ("br", lambda data: brotli.compress(data, quality=4)),
        ("identity", lambda data: data),
        ("GZIP", gzip.compress),
    ],
)
def test_compressed_bodies_are_inflated(client, project, project_key, encoding, compress):
    response = post(client, project, project_key, compress(envelope(event_item())), encoding=encoding)

    assert response.status_code == 200, response.content
    assert ReceivedEvent.objects.filter(project=project).count() == 1
    assert digest_all() == 1
    assert Event.objects.filter(project=project).count() == 1


def test_content_type_is_ignored(client, project, project_key):
    body = envelope(event_item())
    response = client.generic(
        "POST",
        f"/api/{project.id}/envelope/",
        body,
        content_type="text/plain;charset=UTF-8",
        HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={project_key}",
    )
    assert response.status_code == 200


def test_an_unknown_content_encoding_is_415(client, project, project_key):
    response = post(client, project, project_key, envelope(event_item()), encoding="zstd")

    assert response.status_code == 415
    assert response["X-Sentry-Error"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json\n",
        b"[]\n",
        b'{}\n{"length": 3}\nabc\n',  # item without a type
        b'{}\n{"type": "event", "length": 50}\n{"short": 1}\n',
        b'{}\n{"type": "event", "length": 2}\n{}xx\n',
        b'{}\n{"type": "event", "length": -1}\n{}\n',
        b'{}\n{"type": "event"}\nnot json\n',
        b'{}\n{"type": "event"}\n[1, 2]\n',
        b"{}\nnot a header\n",
    ],
)
def test_a_malformed_envelope_is_400_with_x_sentry_error(client, project, project_key, body):
    response = post(client, project, project_key, body)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response["X-Sentry-Error"]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert not ReceivedEvent.objects.exists()


def test_a_corrupt_compressed_body_is_400(client, project, project_key):
    truncated = gzip.compress(envelope(event_item()))[:-20]
    assert post(client, project, project_key, truncated, encoding="gzip").status_code == 400
    assert post(client, project, project_key, b"garbage", encoding="br").status_code == 400


def test_two_event_items_in_one_envelope_are_400(client, project, project_key):
    assert post(client, project, project_key, envelope(event_item(), event_item())).status_code == 400


def _zeros_gzipped(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = bytes(1024 * 1024)
    return b"".join(compressor.compress(chunk) for _ in range(megabytes)) + compressor.flush()


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_decompression_bomb_is_413_without_inflating_it(client, project, project_key, encoding):
    bomb = _zeros_gzipped(200) if encoding == "gzip" else brotli.compress(b"{}\n" + bytes(200 * 1024 * 1024), quality=1)
    assert len(bomb) < 1024 * 1024

    tracemalloc.start()
    started = time.monotonic()
    try:
        response = post(client, project, project_key, bomb, encoding=encoding)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert response["X-Sentry-Error"]
    assert time.monotonic() - started < 10
    assert peak < 4 * sentry.max_decompressed_bytes()  # the cap, not 200 MB


def test_the_decompressed_cap_comes_from_settings(client, project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "SENTRY_MAX_DECOMPRESSED_BYTES": 10_000}
    big = envelope(event_item(extra={"blob": "x" * 20_000}))

    assert post(client, project, project_key, gzip.compress(big), encoding="gzip").status_code == 413
    assert post(client, project, project_key, big).status_code == 413


def test_an_event_item_over_one_mib_is_413(client, project, project_key):
    body = envelope(event_item(extra={"blob": "x" * (1024 * 1024 + 10)}))

    response = post(client, project, project_key, body)

    assert response.status_code == 413
    assert not ReceivedEvent.objects.exists()


def test_a_compressed_body_over_the_ingest_limit_is_413(client, project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 2048}
    response = post(client, project, project_key, envelope(event_item(extra={"blob": "y" * 4096})))

    assert response.status_code == 413
    # Refused before the view ran, but still readable by a browser SDK.
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["X-Sentry-Error"] == "request body too large"
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


def _chunked_request(project, key, body: bytes):
    """What gunicorn hands Django for `Transfer-Encoding: chunked`: no Content-Length, a terminated input."""
    request = RequestFactory().generic(
        "POST", f"/api/{project.id}/envelope/", b"", HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={key}"
    )
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = io.BytesIO(body)
    request.META["wsgi.input_terminated"] = True
    return request


def test_a_chunked_body_without_content_length_is_read(project, project_key):
    response = sentry.envelope_view(_chunked_request(project, project_key, envelope(event_item())), project.id)

    assert response.status_code == 200
    assert ReceivedEvent.objects.filter(project=project).count() == 1
    assert digest_all() == 1
    assert Event.objects.filter(project=project).count() == 1


def test_a_chunked_body_over_the_limit_is_413_while_reading(project, project_key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INGEST_MAX_BYTES": 4096}
    body = envelope(event_item(extra={"blob": "z" * 100_000}))

    response = sentry.envelope_view(_chunked_request(project, project_key, body), project.id)

    assert response.status_code == 413


def test_the_same_event_id_twice_is_stored_once(client, project, project_key):
    body = envelope(event_item())

    first = post(client, project, project_key, body)
    second = post(client, project, project_key, gzip.compress(body), encoding="gzip")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"id": EVENT_ID}
    assert ReceivedEvent.objects.filter(project=project).count() == 1
    assert digest_all() == 1
    assert Event.objects.filter(project=project).count() == 1


def test_grouping_is_queued_after_commit(client, project, project_key, django_capture_on_commit_callbacks):
    from events import digestion

    with django_capture_on_commit_callbacks() as callbacks:
        post(client, project, project_key, envelope(event_item()))

    assert len(callbacks) == 1
    assert digestion.digest_pending() == 1
    assert Event.objects.get().issue.title == "KeyError: 'sku'"


def test_get_is_405(client, project, project_key):
    response = client.get(f"/api/{project.id}/envelope/?sentry_key={project_key}")

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
