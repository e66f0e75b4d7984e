"""POST /api/v1/intake/generic: our own small JSON format, validated strictly, answered in our error shape."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from incidents.intake import correlate, services
from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, GroupStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/intake/generic"
DISK = {
    "title": "Disk 95% full on db-1",
    "severity": "critical",
    "dedup_key": "disk-full/db-1",
    "service": "db",
    "description": "/var at 95%",
    "labels": {"host": "db-1", "region": "eu-1"},
    "links": [{"href": "https://grafana.example/d/abc", "text": "Dashboard"}],
}


def post(body, *, token: str | None = None, path: str = URL):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(path, data, content_type="application/json", **headers)


def assert_validation_error(response, field: str) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and body["request_id"] and body["message"].startswith(field)
    assert field.split(".")[0].split("[")[0] in body["details"]
    return body


@pytest.fixture
def integration_and_token(db):
    return services.create_integration(kind="generic", name="Cron jobs", service="", service_label="service")


@pytest.fixture
def token(integration_and_token) -> str:
    return integration_and_token[1]


@pytest.fixture
def queued(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(correlate, "queue", lambda group, **options: calls.append(group))
    return calls


def test_a_firing_alert_is_stored_and_answered_202_with_its_key(token, queued):
    response = post(DISK, token=token)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and body["dedup_key"] == "disk-full/db-1"
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.FIRING and alert.summary == "Disk 95% full on db-1"
    assert (alert.service, alert.source_severity, alert.severity) == ("db", "critical", "SEV2")
    assert alert.labels == {"host": "db-1", "region": "eu-1"}
    assert alert.annotations == {"summary": "Disk 95% full on db-1", "description": "/var at 95%"}
    assert alert.links == [{"href": "https://grafana.example/d/abc", "text": "Dashboard"}]
    group = AlertGroup.objects.get()
    assert body["group_id"] == group.pk and group.message == "/var at 95%"
    assert AlertPayload.objects.get().status == "firing"
    assert [g.pk for g in queued] == [group.pk]


def test_only_a_title_is_needed(token):
    assert post({"title": "Nightly backup failed"}, token=token).status_code == 202
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.FIRING and alert.severity == "SEV3" and alert.service == ""


def test_without_a_dedup_key_the_same_title_and_labels_resolve_the_alert(token, queued):
    fired = post({"title": "Backup failed", "labels": {"service": "batch"}}, token=token).json()
    resolved = post({"title": "Backup failed", "labels": {"service": "batch"}, "status": "resolved"}, token=token)
    assert resolved.json()["dedup_key"] == fired["dedup_key"]
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.RESOLVED and alert.service == "batch"
    assert AlertGroup.objects.get().status == GroupStatus.RESOLVED
    # Other labels are another alert.
    post({"title": "Backup failed", "labels": {"service": "billing"}}, token=token)
    assert Alert.objects.count() == 2
    assert len(queued) == 3


@pytest.mark.parametrize(
    ("status", "expected"),
    [("acknowledged", AlertStatus.ACKNOWLEDGED), ("acknowledge", AlertStatus.ACKNOWLEDGED), ("resolve", "resolved")],
)
def test_status_words_and_their_synonyms(token, status, expected):
    post({**DISK, "status": "trigger"}, token=token)
    assert (
        post({"title": DISK["title"], "dedup_key": DISK["dedup_key"], "status": status}, token=token).status_code == 202
    )
    assert Alert.objects.get().status == expected


def test_resolving_an_unknown_key_is_accepted_and_changes_nothing(token):
    response = post({"title": "Never fired", "dedup_key": "nope", "status": "resolved"}, token=token)
    assert response.status_code == 202 and response.json()["group_id"] is None
    assert Alert.objects.count() == 0 and AlertPayload.objects.get().status == "resolved"


def test_an_explicit_sev_is_taken_as_it_is(token):
    post({"title": "Checkout down", "severity": "sev1"}, token=token)
    assert Alert.objects.get().severity == "SEV1"


def test_the_integrations_own_service_wins_over_the_body(db):
    _, token = services.create_integration(kind="generic", name="Checkout cron", service="checkout")
    post({**DISK, "service": "db"}, token=token)
    assert Alert.objects.get().service == "checkout"


def test_the_token_may_be_in_the_url(token):
    assert post(DISK, path=f"{URL}/{token}").status_code == 202


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"status": "exploded"}, "status"),
        ({"severity": ["critical"]}, "severity"),
        ({"dedup_key": "k" * 256}, "dedup_key"),
        ({"service": "Not A Service"}, "service"),
        ({"labels": ["host=db-1"]}, "labels"),
        ({"labels": {"host": {"nested": True}}}, "labels.host"),
        ({"links": [{"href": "javascript:alert(1)"}]}, "links[0].href"),
        ({"links": [{"href": "https://ok.example", "colour": "red"}]}, "links[0].colour"),
        ({"timestamp": "tomorrow-ish"}, "timestamp"),
        ({"timestamp": "2099-01-01T00:00:00Z"}, "timestamp"),
        ({"priority": "high"}, "priority"),  # unknown fields are refused, not ignored
    ],
)
def test_an_invalid_field_is_a_400_naming_it(token, change, field):
    body = {**DISK, **change}
    if change.get("title", "") is None:
        del body["title"]
    assert_validation_error(post(body, token=token), field)
    assert AlertPayload.objects.count() == 0


def test_a_body_that_is_not_an_object_is_a_400(token):
    response = post([DISK], token=token)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_malformed_json_is_a_400(token):
    response = post(b"{title: 'x'}", token=token)
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]


def test_a_nul_character_in_a_label_is_stored_rather_than_refused_by_the_database(token):
    body = {**DISK, "labels": {"host": "db-1\u0000"}, "description": "bad \ud800 surrogate"}
    assert post(json.dumps(body), token=token).status_code == 202
    alert = Alert.objects.get()
    assert alert.labels["host"] == "db-1\ufffd" and "\ufffd" in alert.annotations["description"]


def test_a_bad_token_is_a_401(integration_and_token):
    response = post(DISK, token="tpi_000000000000_nope")
    assert response.status_code == 401 and response.json()["code"] == "AUTHENTICATION_REQUIRED"


def test_a_routing_key_of_an_events_v2_integration_is_a_401_here(db):
    _, key = services.create_integration(kind="events_v2", name="PD", service="db")
    assert post(DISK, token=key).status_code == 401


def test_a_body_over_the_limit_is_a_413(token, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_MAX_BYTES": 2048}
    response = post({**DISK, "description": "x" * 4096}, token=token)
    assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_a_flood_is_a_429_with_retry_after(token, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "intake": "2/min"},
    }
    assert [post(DISK, token=token).status_code for _ in range(2)] == [202, 202]
    response = post(DISK, token=token)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert response.json()["code"] == "RATE_LIMIT_EXCEEDED"


def test_only_post_is_allowed(token):
    response = Client().get(URL)
    assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"
