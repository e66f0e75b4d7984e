from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import IdempotencyKey, Incident
from incidents.tasks import purge_idempotency_keys

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents"
BODY = {"title": "Queue backlog", "service": "worker", "severity": "SEV2"}


def post(client, body, key):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_same_body_returns_the_original_with_200(responder_client):
    first = post(responder_client, BODY, "k-1")
    again = post(responder_client, dict(reversed(list(BODY.items()))), "k-1")  # key order does not matter
    assert first.status_code == 201 and first["Idempotent-Replayed"] == "false"
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Incident.objects.count() == 1


def test_same_key_different_body_is_409(responder_client):
    post(responder_client, BODY, "k-2")
    response = post(responder_client, BODY | {"severity": "SEV1"}, "k-2")
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_CONFLICT"
    assert Incident.objects.count() == 1


def test_keys_belong_to_one_user(responder_client, admin_client):
    a = post(responder_client, BODY, "shared-name")
    b = post(admin_client, BODY, "shared-name")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_without_a_key_each_post_creates(responder_client):
    responder_client.post(URL, BODY, format="json")
    responder_client.post(URL, BODY, format="json")
    assert Incident.objects.count() == 2


def test_a_malformed_key_is_400(responder_client):
    response = post(responder_client, BODY, "has spaces in it")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["details"]


def test_an_invalid_body_does_not_burn_the_key(responder_client):
    assert post(responder_client, BODY | {"severity": "bad"}, "k-3").status_code == 400
    assert post(responder_client, BODY, "k-3").status_code == 201


def test_expired_keys_create_anew_and_are_purged(responder, settings):
    now = timezone.now()
    first, created = services.create_incident_idempotent(key="k-4", body=BODY, by=responder, now=now, **BODY)
    assert created
    later = now + timedelta(hours=settings.TRACEPOINT["IDEMPOTENCY_KEY_TTL_HOURS"], seconds=1)
    second, created = services.create_incident_idempotent(key="k-4", body=BODY, by=responder, now=later, **BODY)
    assert created and second.pk != first.pk
    IdempotencyKey.objects.update(expires_at=now)
    assert purge_idempotency_keys() == 1
    assert not IdempotencyKey.objects.exists()


def test_the_purge_task_is_scheduled_by_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-idempotency-keys"]
    assert entry["task"] == purge_idempotency_keys.name
