"""The native ingest contract: ``POST /api/v1/events`` with a project key."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from events import digestion, ingest, keys, tasks
from events.ingest import DIGEST_DELAY_SECONDS
from events.models import Event, Issue

URL = "/api/v1/events"


@pytest.fixture
def client(project_key):
    client = APIClient()
    client.credentials(HTTP_X_PROJECT_KEY=project_key)
    return client


def body(**overrides) -> dict:
    return {"service": "checkout", "message": "ValueError: Order 12 not found", "route": "/checkout"} | overrides


def test_one_event_is_accepted_and_stored_undigested(client, project):
    event_id = str(uuid.uuid4())
    response = client.post(URL, body(event_id=event_id, user_id="u1", release="1.2"), format="json")
    assert response.status_code == 202, response.json()
    assert response.json() == {"accepted": 1, "ids": [event_id]}
    event = Event.objects.get()
    assert (event.project, str(event.event_id), event.service, event.release) == (project, event_id, "checkout", "1.2")
    assert event.digested_at is None
    assert event.data["exception"][0]["type"] == "ValueError"


def test_the_key_may_be_a_bearer_token(project_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {project_key}")
    assert client.post(URL, body(), format="json").status_code == 202


def test_a_list_of_1000_events_is_accepted(client):
    response = client.post(URL, [body(message=f"error {i}") for i in range(1000)], format="json")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1000
    assert Event.objects.count() == 1000


def test_1001_events_are_refused(client):
    response = client.post(URL, [body()] * 1001, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "events" in response.json()["details"]
    assert not Event.objects.exists()


def test_errors_name_the_item_and_the_field(client):
    items = [body(), body(level="loud"), body(service=""), "nope", body(colour="red")]
    response = client.post(URL, items, format="json")
    assert response.status_code == 400
    details = response.json()["details"]
    assert set(details) == {"events[1].level", "events[2].service", "events[3]", "events[4].colour"}
    assert not Event.objects.exists()


def test_an_error_needs_a_message_or_a_stacktrace(client):
    response = client.post(URL, {"service": "checkout"}, format="json")
    assert response.status_code == 400
    assert "events[0].message" in response.json()["details"]


def test_a_deploy_needs_no_message(client):
    response = client.post(URL, {"service": "checkout", "event_type": "DEPLOY", "release": "2.0"}, format="json")
    assert response.status_code == 202


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_X_PROJECT_KEY": "0" * 32}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_AUTHORIZATION": "Token x"}],
    ids=["missing", "unknown", "bad-bearer", "user-token-scheme"],
)
def test_a_missing_or_unknown_key_is_401(db, headers):
    response = APIClient().post(URL, body(), format="json", **headers)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert not Event.objects.exists()


def test_a_revoked_key_is_401(client, project):
    keys.revoke_key(project.active_key())
    assert client.post(URL, body(), format="json").status_code == 401


def test_a_rotated_key_and_the_old_one_both_work_until_revoked(client, project):
    new = keys.rotate_key(project)
    other = APIClient()
    other.credentials(HTTP_X_PROJECT_KEY=new.public_key)
    assert other.post(URL, body(), format="json").status_code == 202
    assert client.post(URL, body(), format="json").status_code == 202


def test_a_timestamp_more_than_a_day_ahead_is_refused(client):
    future = (timezone.now() + timedelta(days=2)).isoformat()
    response = client.post(URL, body(timestamp=future), format="json")
    assert response.status_code == 400
    assert "events[0].timestamp" in response.json()["details"]
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    assert client.post(URL, body(timestamp=soon), format="json").status_code == 202


def test_metadata_has_a_size_limit(client):
    limit = settings.TRACEPOINT["EVENT_METADATA_MAX_BYTES"]
    response = client.post(URL, body(metadata={"blob": "x" * limit}), format="json")
    assert response.status_code == 400
    assert "events[0].metadata" in response.json()["details"]
    assert client.post(URL, body(metadata={"cart": [1, 2]}), format="json").status_code == 202
    assert client.post(URL, body(metadata=[1]), format="json").status_code == 400


def test_a_body_over_the_ingest_limit_is_413(client):
    limit = settings.TRACEPOINT["INGEST_MAX_BYTES"]
    payload = json.dumps(body(message="x" * (limit + 1)))
    response = client.post(URL, payload, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_ingest_bodies_may_exceed_the_general_request_limit(client):
    with override_settings(TRACEPOINT=settings.TRACEPOINT | {"MAX_REQUEST_BYTES": 2048}):
        items = [body(message=f"error {i} " + "x" * 100) for i in range(50)]
        assert client.post(URL, items, format="json").status_code == 202


def test_the_same_event_id_is_stored_once(client):
    event_id = str(uuid.uuid4())
    assert client.post(URL, body(event_id=event_id), format="json").status_code == 202
    assert client.post(URL, [body(event_id=event_id), body(event_id=event_id)], format="json").status_code == 202
    assert Event.objects.count() == 1


def test_digestion_is_queued_after_commit_once_until_it_starts(
    client, project, monkeypatch, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False)
    monotonic = [1000.0]
    monkeypatch.setattr(ingest, "_clock", lambda: monotonic[0])
    queued = []
    monkeypatch.setattr(tasks.digest_pending, "apply_async", lambda *args, **kw: queued.append(kw))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(URL, [body(), body()], format="json")
    assert response.status_code == 202
    assert queued == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert queued == [{"countdown": DIGEST_DELAY_SECONDS, "retry": False}]  # a moment later: one batch
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, [body()], format="json")
    assert len(queued) == 1  # debounced: the queued task will see this event too
    time_machine.shift(DIGEST_DELAY_SECONDS)  # the task starts when it was queued for
    monotonic[0] += DIGEST_DELAY_SECONDS
    assert tasks.digest_pending() == 3
    assert Issue.objects.get().event_count == 3
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, [body()], format="json")
    assert len(queued) == 2  # the task cleared the debounce when it started


def test_with_the_broker_down_events_are_kept_and_the_sweeper_groups_them(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.digest_pending, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            URL, [body(message="ValueError: Order 1 gone"), body(message="ValueError: Order 2 gone")], format="json"
        )

    assert response.status_code == 202
    assert Event.objects.filter(digested_at__isnull=True).count() == 2
    assert not Issue.objects.exists()

    assert digestion.sweep_undigested(older_than_seconds=0) == 2
    assert Issue.objects.get().event_count == 2
    assert not Event.objects.filter(digested_at__isnull=True).exists()


def test_user_tokens_do_not_authenticate_ingest(viewer_client):
    assert viewer_client.post(URL, body(), format="json").status_code == 401
