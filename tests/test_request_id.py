import json
import logging
import uuid

import pytest
from django.test import Client

from tracepoint.logging import JsonFormatter, RequestIdFilter


def test_a_request_id_is_generated_when_none_is_given(db):
    response = Client().get("/health")
    assert uuid.UUID(response["X-Request-ID"])


def test_a_sane_request_id_is_echoed(db):
    response = Client().get("/health", HTTP_X_REQUEST_ID="abc-123.trace:7")
    assert response["X-Request-ID"] == "abc-123.trace:7"


@pytest.mark.parametrize("bad", ["has space", "x" * 200, "new\nline", "trailing\n", "<script>", ""])
def test_an_insane_request_id_is_replaced(db, bad):
    response = Client().get("/health", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert uuid.UUID(response["X-Request-ID"])


def test_error_bodies_carry_the_callers_request_id(db):
    response = Client().get("/api/v1/nowhere", HTTP_X_REQUEST_ID="trace-42")
    assert response.json()["request_id"] == "trace-42"


def test_each_request_logs_one_json_line_with_its_fields(db, caplog, viewer):
    caplog.set_level(logging.INFO, logger="tracepoint.request")
    client = Client()
    client.force_login(viewer)
    client.get("/", HTTP_X_REQUEST_ID="log-me-1")
    records = [r for r in caplog.records if r.name == "tracepoint.request"]
    assert len(records) == 1
    formatter = JsonFormatter()
    RequestIdFilter().filter(records[0])
    line = formatter.format(records[0])
    assert "\n" not in line
    data = json.loads(line)
    assert data["request_id"] == "log-me-1"
    assert data["method"] == "GET"
    assert data["path"] == "/"
    assert data["status"] == 200
    assert data["user"] == "vera"
    assert data["level"] == "INFO"
    assert isinstance(data["duration_ms"], float) and data["duration_ms"] >= 0
    assert data["time"].endswith("+00:00")


def test_other_log_lines_inside_a_request_carry_its_id(db, caplog):
    caplog.set_level(logging.WARNING)
    from django.test import override_settings

    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        Client().get("/ready", HTTP_X_REQUEST_ID="ready-trace")
    warnings = [r for r in caplog.records if r.name == "tracepoint.ready"]
    assert warnings
    RequestIdFilter().filter(warnings[0])
    assert json.loads(JsonFormatter().format(warnings[0]))["request_id"] == "ready-trace"


def test_exceptions_are_logged_on_one_line():
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, exc_info=__import__("sys").exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: broken" in json.loads(line)["exc_info"]
