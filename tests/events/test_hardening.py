"""Hostile or odd input never becomes a 500, a lost event or a stalled queue."""

import base64
import json
import time
import uuid
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from events import digestion, grouping, ingest, lifecycle
from events.models import Event, Issue, IssueStatus, ReceivedEvent
from tests import helpers
from tests.factories import make_event

pytestmark = pytest.mark.django_db


def envelope_with(raw_event: bytes) -> bytes:
    header = json.dumps({"event_id": uuid.uuid4().hex}).encode()
    item = json.dumps({"type": "event", "length": len(raw_event)}).encode()
    return header + b"\n" + item + b"\n" + raw_event + b"\n"


def post_envelope(client, project, key, body: bytes):
    return client.generic(
        "POST",
        f"/api/{project.id}/envelope/",
        body,
        content_type="application/x-sentry-envelope",
        HTTP_X_SENTRY_AUTH=f"Sentry sentry_key={key}",
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"message": "nan in extra", "extra": {"ratio": NaN, "big": Infinity}}',
        b'{"message": "nul \\u0000 byte", "user": {"id": "u\\u00001"}, "extra": {"k\\u0000": 1}}',
        b'{"message": "lone \\ud800 surrogate", "tags": {"t": "\\udfff"}}',
        b'{"exception": {"values": [{"type": "E\\ud800", "value": "x", "stacktrace": {"frames": '
        b'[{"function": "f\\ud800", "in_app": true}]}}]}}',
        b'{"message": "surrogates in kept data", "extra": {"k": "\\ud800"}, "contexts": {"app": {"n": "\\udfff"}}, '
        b'"breadcrumbs": {"values": [{"message": "b\\ud800"}]}, "exception": {"values": [{"type": "E", "value": "x", '
        b'"stacktrace": {"frames": [{"function": "f", "in_app": true, "vars": {"v": "\\ud800"}}]}}]}}',
    ],
    ids=["nan", "nul", "surrogate", "surrogate-in-frame", "surrogate-in-kept-data"],
)
def test_odd_text_and_numbers_are_stored_and_grouped(client, project, project_key, raw):
    response = post_envelope(client, project, project_key, envelope_with(raw))
    assert response.status_code == 200
    assert ReceivedEvent.objects.count() == 1  # a 2xx means the row exists
    assert digestion.sweep_undigested(older_than_seconds=0) == 1
    assert not ReceivedEvent.objects.exists()
    event = Event.objects.get()
    assert event.digested_at is not None and event.issue_id is not None
    assert "\x00" not in json.dumps(event.data) and "NaN" not in json.dumps(event.data)
    api = APIClient()
    api.force_authenticate(project.members.create(username="reader"))
    assert client.get("/health").status_code == 200


def test_native_metadata_with_odd_text_is_stored(client, project, project_key):
    refused = b'{"service": "api", "message": "ValueError: x\\u0000y"}'
    response = client.post("/api/v1/events", refused, content_type="application/json", HTTP_X_PROJECT_KEY=project_key)
    assert response.status_code == 400  # the native API is strict about its own fields
    assert "events[0].message" in response.json()["details"]
    raw = b'{"service": "api", "message": "ValueError: xy", "metadata": {"k": "\\ud800", "n": "\\u0000"}}'
    response = client.post("/api/v1/events", raw, content_type="application/json", HTTP_X_PROJECT_KEY=project_key)
    assert response.status_code == 202
    assert Event.objects.get().data["metadata"] == {"k": "\ufffd", "n": ""}


def test_deeply_nested_json_is_a_400_everywhere(client, project, project_key):
    deep = b'{"message": "x", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert post_envelope(client, project, project_key, envelope_with(deep)).status_code == 400
    native = client.post(
        "/api/v1/events",
        b'{"service": "api", "message": "x", "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        content_type="application/json",
        HTTP_X_PROJECT_KEY=project_key,
    )
    assert native.status_code == 400
    assert native.json()["code"] == "VALIDATION_ERROR"
    assert not Event.objects.exists() and not ReceivedEvent.objects.exists()


def test_a_crafted_cursor_is_a_400(admin_client, project):
    cursor = base64.b64encode(b"o=0&p=notadate").decode()
    response = admin_client.get(f"/api/v1/events?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["details"]


@pytest.mark.parametrize("value", ["99999999999999999999999", "1.5", "-1", "abc"])
def test_project_filters_take_only_real_ids(admin_client, value):
    for url in ("/api/v1/events", "/api/v1/issues"):
        response = admin_client.get(f"{url}?project={value}")
        assert response.status_code == 400, (url, value)
        assert "project" in response.json()["details"]


# An ERROR of the api service, stored and digested at its own time.
api_error = partial(make_event, "boom", kind="ValueError", service="api")


def test_a_late_event_from_before_the_resolution_is_not_a_regression(project, admin_user):
    now = timezone.now()
    first, late = now - timedelta(hours=2), now - timedelta(hours=1, minutes=30)
    helpers.ingest(project, api_error(at=first), now=first)
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status=IssueStatus.RESOLVED, by=admin_user, now=now - timedelta(hours=1))
    helpers.ingest(project, api_error(at=late), now=late)  # happened before the resolution, arrives late
    issue.refresh_from_db()
    assert (issue.status, issue.regression_count, issue.event_count) == (IssueStatus.RESOLVED, 0, 2)
    helpers.ingest(project, api_error(at=now), now=now)
    issue.refresh_from_db()
    assert (issue.status, issue.regression_count) == (IssueStatus.UNRESOLVED, 1)


def test_urls_with_ids_group_as_one_route(project):
    now = timezone.now()
    helpers.ingest(project, api_error(at=now, route="/orders/123/pay"), now=now)
    helpers.ingest(project, api_error(at=now, route="/orders/456/pay?retry=1"), now=now)
    helpers.ingest(project, api_error(at=now, route="/orders/3f2a9c1e-1111-4222-8333-444455556666/pay"), now=now)
    assert Issue.objects.count() == 1
    assert grouping.normalize_route("/orders/123/pay?x=1") == "/orders/<id>/pay"
    assert grouping.normalize_route("/v2/users") == "/v2/users"


def test_a_pathological_message_is_normalised_quickly():
    text = "a@" * 20_000 + " 12 " * 5000
    started = time.perf_counter()
    grouping.normalize_message(text)
    assert time.perf_counter() - started < 0.5


def test_a_group_that_cannot_be_stored_is_quarantined_not_stalling_the_queue(project, monkeypatch):
    now = timezone.now()
    good = make_event("a", kind="KeyError", service="api", at=now)
    bad = make_event("b", kind="PoisonError", service="api", at=now)
    ingest.store_events(project, [good, bad], now=now)
    original = digestion._issue_for

    def fail_for_poison(first, **kwargs):
        if "Poison" in json.dumps(first.data):
            raise RuntimeError("cannot store this group")
        return original(first, **kwargs)

    monkeypatch.setattr(digestion, "_issue_for", fail_for_poison)
    assert digestion.sweep_undigested(older_than_seconds=0, now=now + timedelta(seconds=1)) == 2
    assert not Event.objects.filter(digested_at__isnull=True).exists()
    assert Issue.objects.get().title.startswith("KeyError")
    assert Event.objects.get(event_id=bad.event_id).issue_id is None


def test_unticking_a_key_in_admin_records_the_revocation(admin_user, project):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    key = project.keys.get()
    response = client.post(
        f"/admin/events/project/{project.pk}/change/",
        {
            "name": project.name,
            "slug": project.slug,
            "services": json.dumps(project.services),
            "members": [],
            "keys-TOTAL_FORMS": "1",
            "keys-INITIAL_FORMS": "1",
            "keys-MIN_NUM_FORMS": "0",
            "keys-MAX_NUM_FORMS": "1000",
            "keys-0-id": str(key.pk),
            "keys-0-project": str(project.pk),
            "keys-0-label": key.label,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    key.refresh_from_db()
    assert key.is_active is False and key.revoked_at is not None


def test_an_old_sqlite_is_refused_by_a_system_check(monkeypatch):
    from events import checks

    monkeypatch.setattr(checks.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(checks.sqlite3, "sqlite_version", "3.31.1")
    errors = checks.sqlite_is_recent_enough(databases=["default"])
    if checks.connections["default"].vendor == "sqlite":
        assert [error.id for error in errors] == ["events.E001"]
        assert "3.31.1 is too old" in errors[0].msg
    else:
        assert errors == []
