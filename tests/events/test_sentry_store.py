"""Legacy ``POST /api/<project_id>/store/``: one event per body, Relay's decoding."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
import zlib

import pytest

from events.models import Event, ReceivedEvent
from tests.helpers import digest_all

EVENT = {
    "event_id": "b5f3a1c2d4e5f60718293a4b5c6d7e8f",
    "platform": "python",
    "exception": [{"type": "ZeroDivisionError", "value": "division by zero"}],  # legacy bare list
    "tags": [["service", "api"], ["region", "eu"]],  # legacy pairs
}


def post(client, project, key, body: bytes, **headers):
    return client.generic(
        "POST",
        f"/api/{project.id}/store/",
        body,
        content_type="application/json",
        HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={key}, sentry_version=7",
        **headers,
    )


@pytest.mark.parametrize(
    ("encode", "headers"),
    [
        (lambda raw: raw, {}),
        (gzip.compress, {"HTTP_CONTENT_ENCODING": "gzip"}),
        (lambda raw: base64.b64encode(zlib.compress(raw)), {}),  # raven-python
        (lambda raw: base64.b64encode(raw), {}),
        (lambda raw: gzip.compress(base64.b64encode(zlib.compress(raw))), {"HTTP_CONTENT_ENCODING": "gzip"}),
    ],
)
def test_store_accepts_the_legacy_encodings(client, project, project_key, encode, headers):
    response = post(client, project, project_key, encode(json.dumps(EVENT).encode()), **headers)

    assert response.status_code == 200, response.content
    assert response.json() == {"id": EVENT["event_id"]}
    assert ReceivedEvent.objects.filter(project=project).count() == 1
    assert digest_all() == 1
    event = Event.objects.get(project=project)
    assert event.event_id == uuid.UUID(EVENT["event_id"])
    assert event.service == "api"
    assert event.data["exception"][0]["type"] == "ZeroDivisionError"
    assert event.data["tags"] == {"service": "api", "region": "eu"}


def test_store_needs_a_key(client, project):
    response = client.generic("POST", f"/api/{project.id}/store/", json.dumps(EVENT), content_type="application/json")

    assert response.status_code == 401
    assert response["X-Sentry-Error"]


def test_store_refuses_a_body_that_is_not_an_event(client, project, project_key):
    assert post(client, project, project_key, b"@@@ nothing @@@").status_code == 400
    assert post(client, project, project_key, b"[1, 2, 3]").status_code == 400


def test_store_caps_a_zlib_bomb_inside_base64(client, project, project_key):
    bomb = base64.b64encode(zlib.compress(b"{" + bytes(100 * 1024 * 1024), 9))

    response = post(client, project, project_key, bomb)

    assert response.status_code == 413


def test_store_supports_cors_preflight(client, project):
    response = client.options(f"/api/{project.id}/store/")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
