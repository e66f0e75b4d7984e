"""Every error under /api/ has one shape: code, message, request_id, details."""

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls")]


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "request_id", "details"}
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"] == response["X-Request-ID"]
    assert isinstance(body["details"], dict)
    return body


def test_validation_error_is_400_with_field_details(responder_client):
    body = assert_error_shape(
        responder_client.post("/api/v1/samples", {"name": ""}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert "name" in body["details"]
    assert body["message"].startswith("name:")


def test_malformed_json_is_400(responder_client):
    response = responder_client.post("/api/v1/samples", "{not json", content_type="application/json")
    assert_error_shape(response, 400, "VALIDATION_ERROR")


def test_missing_credentials_is_401_with_a_challenge(anonymous_client):
    response = anonymous_client.get("/api/v1/samples")
    assert_error_shape(response, 401, "AUTHENTICATION_REQUIRED")
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_bad_token_is_401(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token tp_not-a-real-token")
    assert_error_shape(anonymous_client.get("/api/v1/samples"), 401, "AUTHENTICATION_REQUIRED")


def test_viewer_writing_is_403(viewer_client):
    assert_error_shape(viewer_client.post("/api/v1/samples", {"name": "x"}, format="json"), 403, "PERMISSION_DENIED")


def test_unknown_api_path_is_404():
    body = assert_error_shape(Client().get("/api/v1/nowhere"), 404, "NOT_FOUND")
    assert body["details"]["path"] == "/api/v1/nowhere"


def test_unknown_object_is_404(viewer_client):
    assert_error_shape(viewer_client.get("/api/v1/samples/999999"), 404, "NOT_FOUND")


def test_wrong_method_is_405_listing_allowed_methods(responder_client):
    body = assert_error_shape(responder_client.put("/api/v1/samples", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
    assert "GET" in body["details"]["allowed"]
    assert "PUT" not in body["details"]["allowed"]


def test_wrong_method_on_a_plain_django_api_view_is_405_in_the_same_shape(responder_client):
    body = assert_error_shape(responder_client.get("/api/v1/auth/token"), 405, "METHOD_NOT_ALLOWED")
    assert body["details"]["allowed"] == ["POST"]


def test_unsupported_media_type_is_415(responder_client):
    response = responder_client.post("/api/v1/samples", "name=x", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_too_large_a_body_is_413(responder_client, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "MAX_REQUEST_BYTES": 1024}
    response = responder_client.post("/api/v1/samples", {"name": "x" * 2000}, format="json")
    body = assert_error_shape(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["limit_bytes"] == 1024


def test_rate_limited_writes_are_429_with_retry_after(responder_client, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "write": "2/min"},
    }
    for name in ("a", "b"):
        assert responder_client.post("/api/v1/samples", {"name": name}, format="json").status_code == 201
    response = responder_client.post("/api/v1/samples", {"name": "c"}, format="json")
    body = assert_error_shape(response, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["details"]["retry_after_seconds"] == int(response["Retry-After"])
    # Reads are not limited.
    assert responder_client.get("/api/v1/samples").status_code == 200


def test_unexpected_exception_is_500_and_logged(viewer_client, caplog):
    viewer_client.raise_request_exception = False
    response = viewer_client.get("/api/v1/samples/boom")
    body = assert_error_shape(response, 500, "INTERNAL_ERROR")
    assert "sample failure" not in body["message"]  # no internals leak to the client
    logged = [r for r in caplog.records if r.name == "tracepoint.errors"]
    assert logged and logged[0].exc_info[0] is RuntimeError


def test_lost_database_is_503_with_retry_after(viewer_client):
    response = viewer_client.get("/api/v1/samples/database_gone")
    body = assert_error_shape(response, 503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"] == "5"
    assert body["details"] == {"dependency": "database"}


def test_csrf_failure_under_api_is_403_in_the_shape(viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    # DRF's session authentication enforces CSRF itself.
    body = assert_error_shape(
        client.post("/api/v1/samples", {"name": "x"}, content_type="application/json"), 403, "PERMISSION_DENIED"
    )
    assert "CSRF" in body["message"]


def test_html_pages_keep_html_errors():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Page not found" in response.content
