"""POST /api/v1/intake/alertmanager: status codes Alertmanager acts on (2xx done, 5xx retried, 4xx dropped)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from incidents.intake import services, views
from incidents.intake.models import Alert, AlertPayload, Integration
from tests.intake.conftest import am_payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/intake/alertmanager"
ROOT = Path(__file__).resolve().parents[2]


def post(body, *, token: str | None = None, path: str = URL, **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return Client().post(path, data, content_type="application/json", **headers)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    assert body["code"] == code and body["message"] and "request_id" in body and "details" in body
    return body


def test_a_payload_with_a_bearer_token_is_stored_and_answered_202(token):
    response = post(am_payload(), token=token)
    assert response.status_code == 202
    assert response.json()["new_alerts"] == 1 and response["X-Request-ID"]
    assert Alert.objects.count() == 1 and AlertPayload.objects.count() == 1


def test_the_token_may_be_in_the_url(token):
    assert post(am_payload(), path=f"{URL}/{token}").status_code == 202
    assert Alert.objects.count() == 1


def test_the_example_of_the_spec_is_taken_as_it_is(token):
    spec = Path("/work/shared/specs/alertmanager-webhook.md")
    if not spec.exists():
        pytest.skip("the spec is not on this machine")
    example = spec.read_text().split("## Example\n```json\n", 1)[1].split("```", 1)[0]
    assert post(example.encode(), token=token).status_code == 202
    assert dict(Alert.objects.values_list("fingerprint", "status")) == {
        "5d7e9b6c1f0a2e43": "firing",
        "a1b2c3d4e5f60718": "resolved",
    }


@pytest.mark.parametrize("presented", [None, "wrong", "tpi_000000000000_" + "x" * 43])
def test_a_bad_token_is_a_401(integration, presented):
    response = post(am_payload(), token=presented)
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert AlertPayload.objects.count() == 0


def test_a_bad_url_token_is_a_401(integration):
    assert_error(post(am_payload(), path=f"{URL}/tpi_nope"), 401, "AUTHENTICATION_REQUIRED")


def test_a_disabled_integration_is_a_401(integration, token):
    Integration.objects.filter(pk=integration.pk).update(is_active=False)
    assert_error(post(am_payload(), token=token), 401, "AUTHENTICATION_REQUIRED")


def test_malformed_json_is_a_400(token):
    assert_error(post(b'{"version": "4", ', token=token), 400, "VALIDATION_ERROR")
    assert_error(post(b"\xff\xfe", token=token), 400, "VALIDATION_ERROR")
    assert AlertPayload.objects.count() == 0


def test_version_3_is_a_400(token):
    body = assert_error(post({**am_payload(), "version": "3"}, token=token), 400, "VALIDATION_ERROR")
    assert body["details"]["field"] == "version"


def test_a_body_over_the_limit_is_a_413(token, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_MAX_BYTES": 2048}
    payload = am_payload()
    payload["commonAnnotations"]["description"] = "x" * 4096
    body = assert_error(post(payload, token=token), 413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["limit_bytes"] == 2048
    assert AlertPayload.objects.count() == 0


def _chunked_request(token: str, body: bytes):
    """What gunicorn hands Django for `Transfer-Encoding: chunked`: no Content-Length, a terminated input."""
    request = RequestFactory().generic("POST", URL, b"", HTTP_AUTHORIZATION=f"Bearer {token}")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = io.BytesIO(body)
    request.META["wsgi.input_terminated"] = True
    return request


def test_a_chunked_body_is_read_and_over_the_limit_is_a_413_while_reading(token, settings):
    # No Content-Length to refuse up front: the limit is counted while reading.
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_MAX_BYTES": 2048}
    assert views.alertmanager_webhook(_chunked_request(token, json.dumps(am_payload()).encode())).status_code == 202
    payload = am_payload()
    payload["commonAnnotations"]["description"] = "x" * 4096
    response = views.alertmanager_webhook(_chunked_request(token, json.dumps(payload).encode()))
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert AlertPayload.objects.count() == 1


def test_a_flood_from_one_integration_is_a_429_with_retry_after(token, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "intake": "3/min"},
    }
    assert [post(am_payload(), token=token).status_code for _ in range(3)] == [202, 202, 202]
    response = post(am_payload(), token=token)
    body = assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert int(response["Retry-After"]) >= 1 and body["details"]["retry_after_seconds"] >= 1
    assert AlertPayload.objects.count() == 3
    # Judged per integration: another one still gets through.
    _, other = services.create_integration(kind="alertmanager", name="Other", service="other")
    assert post(am_payload(), token=other).status_code == 202


def test_only_post_is_allowed(token):
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"


def test_no_csrf_token_is_needed(token):
    response = Client(enforce_csrf_checks=True).post(
        URL, json.dumps(am_payload()), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 202


def test_an_unreachable_database_is_a_503_which_alertmanager_retries():
    # A separate process whose database cannot be reached at all.
    script = """
import json, django
django.setup()
from django.test import Client
response = Client().post("/api/v1/intake/alertmanager", b'{"version": "4"}', content_type="application/json",
                         HTTP_AUTHORIZATION="Bearer tpi_0123456789ab_secret")
print(json.dumps([response.status_code, response.get("Retry-After"), response.json()["code"]]))
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings_test",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/unreachable",
        "LOG_LEVEL": "CRITICAL",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [503, "5", "SERVICE_UNAVAILABLE"]


def test_a_token_in_the_url_stays_out_of_the_request_log(db, client, caplog):
    _, token = services.create_integration(kind="alertmanager", name="AM", service="checkout")
    caplog.set_level("INFO", logger="tracepoint.request")
    response = client.post(f"/api/v1/intake/alertmanager/{token}", b"{not json", content_type="application/json")
    assert response.status_code == 400
    [line] = [record for record in caplog.records if record.name == "tracepoint.request"]
    assert token not in line.getMessage() and token not in line.path
    assert line.path == "/api/v1/intake/alertmanager/<token>"
