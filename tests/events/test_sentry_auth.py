"""Sentry ingest authentication (header, query, envelope DSN) and CORS."""

from __future__ import annotations

import json

import pytest

from events import keys
from events.models import Event, ReceivedEvent
from tests.helpers import digest_all

EVENT_ID = "0f6a1b7c2d3e4f5a6b7c8d9e0f1a2b3c"
BODY = (
    json.dumps({"event_id": EVENT_ID}).encode()
    + b'\n{"type":"event"}\n'
    + json.dumps({"message": "hello", "level": "warning"}).encode()
)


def envelope_url(project, query: str = "") -> str:
    return f"/api/{project.id}/envelope/" + (f"?{query}" if query else "")


def post(client, url, body=BODY, **headers):
    return client.generic("POST", url, body, content_type="application/x-sentry-envelope", **headers)


@pytest.mark.parametrize(
    "header",
    [
        "Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.75.0",
        "sentry sentry_key={key},sentry_version=7",
        "SENTRY sentry_version=7, sentry_key={key}, sentry_secret=ignored",
        "sentry_key={key}, sentry_version=7",
    ],
)
def test_x_sentry_auth_header_authenticates(client, project, project_key, header):
    response = post(client, envelope_url(project), HTTP_X_SENTRY_AUTH=header.format(key=project_key))

    assert response.status_code == 200
    assert response.json() == {"id": EVENT_ID}
    assert ReceivedEvent.objects.count() == 1
    assert digest_all() == 1
    assert Event.objects.get().level == "warning"


def test_the_same_value_in_authorization_authenticates(client, project, project_key):
    response = post(client, envelope_url(project), HTTP_AUTHORIZATION=f"Sentry sentry_key={project_key}")

    assert response.status_code == 200


def test_query_parameters_authenticate(client, project, project_key):
    url = envelope_url(project, f"sentry_version=7&sentry_key={project_key}&sentry_client=sentry.javascript.node%2F11")

    assert post(client, url).status_code == 200


def test_the_dsn_in_the_envelope_header_authenticates_tunnelled_envelopes(client, project, project_key):
    header = {"event_id": EVENT_ID, "dsn": f"https://{project_key}@errors.example.com/{project.id}"}
    body = json.dumps(header).encode() + b'\n{"type":"event"}\n{"message":"from the browser"}'

    response = post(client, envelope_url(project), body)

    assert response.status_code == 200
    assert ReceivedEvent.objects.count() == 1
    assert digest_all() == 1
    assert Event.objects.get().message == "from the browser"


def test_a_missing_key_is_401(client, project):
    response = post(client, envelope_url(project))

    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert response["X-Sentry-Error"]
    assert not ReceivedEvent.objects.exists()


def test_an_unknown_key_is_401(client, project):
    response = post(client, envelope_url(project), HTTP_X_SENTRY_AUTH="Sentry sentry_key=" + "0" * 32)

    assert response.status_code == 401


def test_a_revoked_key_is_401(client, project, project_key):
    keys.revoke_key(project.active_key())

    response = post(client, envelope_url(project, f"sentry_key={project_key}"))

    assert response.status_code == 401


def test_a_key_of_another_project_is_403(client, project, project_key):
    other = keys.create_project(name="Other", slug="other")

    response = post(client, envelope_url(other), HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={project_key}")

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert not ReceivedEvent.objects.exists()


def test_a_dsn_key_of_another_project_is_403(client, project, project_key):
    other = keys.create_project(name="Other", slug="other")
    header = {"dsn": f"https://{project_key}@errors.example.com/{project.id}"}
    body = json.dumps(header).encode() + b'\n{"type":"event"}\n{"message":"x"}'

    assert post(client, envelope_url(other), body).status_code == 403


def test_an_unknown_project_id_is_403(client, project, project_key):
    response = post(
        client, f"/api/{project.id + 1000}/envelope/", HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={project_key}"
    )

    assert response.status_code == 403


def test_two_different_keys_are_refused(client, project, project_key):
    url = envelope_url(project, "sentry_key=" + "1" * 32)

    response = post(client, url, HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={project_key}")

    assert response.status_code == 400


def test_a_bad_header_key_is_refused_before_the_body_is_read(client, project):
    response = post(client, envelope_url(project), b"not an envelope", HTTP_X_SENTRY_AUTH="Sentry sentry_key=nope")

    assert response.status_code == 401


def test_cors_preflight(client, project):
    response = client.options(
        envelope_url(project),
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, sentry-trace",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "content-type, sentry-trace"


@pytest.mark.parametrize("auth", ["good", "missing"])
def test_every_response_carries_cors_headers(client, project, project_key, auth):
    headers = {"HTTP_X_SENTRY_AUTH": f"Sentry sentry_key={project_key}"} if auth == "good" else {}

    response = post(client, envelope_url(project), **headers)

    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Expose-Headers"] == "x-sentry-error, x-sentry-rate-limits, retry-after"
