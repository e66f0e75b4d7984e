import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from tracepoint.accounts.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def test_username_and_password_give_a_working_token(responder):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token", {"username": "rita", "password": PASSWORD, "name": "ci"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("tp_")
    assert body["name"] == "ci"
    assert body["user"] == {"id": responder.pk, "username": "rita", "role": "responder"}
    stored = ApiToken.objects.get(user=responder)
    assert stored.key_hash == hash_token(body["token"])  # only the hash is kept
    assert body["token"] not in {stored.key_hash, stored.prefix}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.get("/api/schema/").status_code == 200


def test_wrong_credentials_are_401(responder):
    response = APIClient().post("/api/v1/auth/token", {"username": "rita", "password": "bad"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert not ApiToken.objects.exists()


def test_missing_fields_are_400_naming_them():
    response = APIClient().post("/api/v1/auth/token", {"username": "rita"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["details"]


def test_token_requests_are_rate_limited_per_ip(responder, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "auth": "2/day"},
    }
    client = APIClient()
    statuses = [
        client.post("/api/v1/auth/token", {"username": "rita", "password": "x"}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_a_token_records_when_it_was_last_used(viewer):
    from tests.factories import make_token

    key = make_token(viewer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert ApiToken.objects.get().last_used_at is None
    client.get("/api/schema/")
    assert ApiToken.objects.get().last_used_at is not None


def test_a_malformed_authorization_header_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token a b")
    assert client.get("/api/schema/").status_code == 401
