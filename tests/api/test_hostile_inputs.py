"""Inputs a hostile probe (schemathesis) sent that answered 500: each is now a 400 or 404 in the error shape."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from tests.factories import make_incident, make_layout, make_page, make_user

NOT_A_UUID = "not-a-uuid"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "request_id", "details"}
    assert body["code"] == code
    return body


def post_json(client, path: str, body) -> object:
    return client.post(path, json.dumps(body), content_type="application/json")


# --- a non-UUID incident id ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/incidents/{id}", None),
        ("patch", "/api/v1/incidents/{id}", {"title": "x"}),
        ("delete", "/api/v1/incidents/{id}", None),
        ("patch", "/api/v1/incidents/{id}/status", {"status": "ACKNOWLEDGED"}),
        ("post", "/api/v1/incidents/{id}/reopen", {}),
        ("post", "/api/v1/incidents/{id}/comments", {"body": "hello"}),
        ("get", "/api/v1/incidents/{id}/comments", None),
        ("get", "/api/v1/incidents/{id}/timeline", None),
    ],
)
def test_a_non_uuid_incident_id_is_404_on_every_route(admin_client, method, path, body):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(admin_client, method)(path.format(id=NOT_A_UUID), **kwargs)
    assert_error(response, 404, "NOT_FOUND")


# --- stats -----------------------------------------------------------------------------------------


def test_stats_accept_a_date_and_count_the_incidents_since_then(viewer_client, time_machine):
    time_machine.move_to("2026-03-01 12:00:00+00:00", tick=True)
    make_incident(title="New")
    make_incident(title="Resolved", status="RESOLVED")
    Incident.objects.create(title="Old", service="checkout", severity="SEV3")
    Incident.objects.filter(title="Old").update(created_at=timezone.now() - timedelta(days=120))

    response = viewer_client.get("/api/v1/incidents/stats/", {"since": "2026-01-01"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["since"] == "2026-01-01T00:00:00Z"
    assert body["total"] == 2 and body["open"] == 1
    assert body["by_status"]["RESOLVED"] == 1


def test_stats_with_a_date_that_does_not_exist_is_400(viewer_client):
    body = assert_error(viewer_client.get("/api/v1/incidents/stats/", {"since": "2026-13-45"}), 400, "VALIDATION_ERROR")
    assert "since" in body["details"]


# --- UTC offsets PostgreSQL cannot store ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/incidents/", "created_after"),
        ("/api/v1/incidents/", "created_before"),
        ("/api/v1/incidents/stats/", "since"),
        ("/api/v1/events/", "since"),
        ("/api/v1/events/", "until"),
    ],
)
def test_a_utc_offset_beyond_15_59_is_400_naming_the_parameter(admin_client, path, parameter):
    response = admin_client.get(path, {parameter: "2000-01-05T14:08:54-17:56"})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert parameter in body["details"]


def test_a_real_offset_still_filters(viewer_client):
    make_incident(title="Now")
    response = viewer_client.get("/api/v1/incidents/", {"created_after": "2000-01-05T14:08:54+14:00"})
    assert response.status_code == 200 and response.json()["count"] == 1


# --- taken username ------------------------------------------------------------------------------


def test_renaming_a_user_to_a_taken_username_is_400(admin_client):
    make_user("viewer", username="vera")
    rita = make_user("responder", username="rita")
    for taken in ("vera", "VERA"):
        response = admin_client.patch(f"/api/v1/users/{rita.pk}", {"username": taken}, format="json")
        body = assert_error(response, 400, "VALIDATION_ERROR")
        assert "username" in body["details"]
    assert admin_client.patch(f"/api/v1/users/{rita.pk}", {"username": "rita"}, format="json").status_code == 200


# --- NUL characters ----------------------------------------------------------------------------------


@pytest.fixture
def acme(db):
    page = make_page()
    return {"page": page, **make_layout(page)}


def test_nul_in_project_members_is_400(admin_client):
    response = post_json(admin_client, "/api/v1/projects/", {"name": "Shop", "slug": "shop", "members": ["a\x00b"]})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["details"] == {"members.0": ["NUL characters (\\u0000) are not allowed."]}


def test_nul_in_maintenance_components_is_400(admin_client, acme):
    start = timezone.now() + timedelta(days=1)
    body = {
        "title": "Upgrade",
        "components": ["\x00"],
        "scheduled_for": start.isoformat(),
        "scheduled_until": (start + timedelta(hours=1)).isoformat(),
    }
    response = post_json(admin_client, "/api/v1/status-pages/acme/maintenances/", body)
    assert "components.0" in assert_error(response, 400, "VALIDATION_ERROR")["details"]


def test_nul_in_subscriber_components_is_400(admin_client, acme):
    body = {"kind": "email", "email": "sub@example.com", "components": [acme["rest"].public_id + "\x00"]}
    response = post_json(admin_client, "/api/v1/status-pages/acme/subscribers/", body)
    assert "components.0" in assert_error(response, 400, "VALIDATION_ERROR")["details"]


def test_nul_anywhere_in_a_body_is_400_even_in_a_key(responder_client):
    response = post_json(
        responder_client, "/api/v1/incidents/", {"title": "x", "service": "api", "severity": "SEV1", "a\x00": 1}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    nested = {"title": "x", "service": "api", "severity": "SEV1", "summary": "ok", "x": [{"y": "\x00"}]}
    assert (
        "x.0.y"
        in assert_error(post_json(responder_client, "/api/v1/incidents/", nested), 400, "VALIDATION_ERROR")["details"]
    )


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/incidents/", "service"),
        ("/api/v1/incidents/", "owner"),
        ("/api/v1/incidents/", "search"),
        ("/api/v1/issues/", "service"),
        ("/api/v1/events/", "service"),
    ],
)
def test_nul_in_a_query_parameter_is_400_naming_it(admin_client, path, parameter):
    body = assert_error(admin_client.get(path, {parameter: "a\x00b"}), 400, "VALIDATION_ERROR")
    assert parameter in body["details"]
