"""The role matrix of DESIGN.md on a sample endpoint using the shared permission classes."""

import pytest
from django.contrib.auth.models import Group

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls")]

# (method, path, body) → expected status per role
MATRIX = [
    ("get", "/api/v1/samples", None, {"anonymous": 401, "viewer": 200, "responder": 200, "admin": 200}),
    ("post", "/api/v1/samples", {"name": "team-x"}, {"anonymous": 401, "viewer": 403, "responder": 201, "admin": 201}),
    (
        "patch",
        "/api/v1/samples/{id}",
        {"name": "renamed"},
        {"anonymous": 401, "viewer": 403, "responder": 200, "admin": 200},
    ),
    ("delete", "/api/v1/samples/{id}", None, {"anonymous": 401, "viewer": 403, "responder": 403, "admin": 204}),
]


@pytest.mark.parametrize("role", ["anonymous", "viewer", "responder", "admin"])
@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_role_matrix(role_clients, role, method, path, body, expected):
    group = Group.objects.create(name=f"sample-{method}")
    client = role_clients[role]
    url = path.format(id=group.pk)
    response = getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    assert response.status_code == expected[role], response.content
    if expected[role] == 201:
        assert Group.objects.filter(name="team-x").exists()
    if expected[role] == 204:
        assert not Group.objects.filter(pk=group.pk).exists()
    if expected[role] in (401, 403):
        assert Group.objects.filter(pk=group.pk, name=f"sample-{method}").exists()


def test_a_user_without_a_role_may_not_read(db, anonymous_client):
    from tests.factories import make_token, make_user

    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user())}")
    assert anonymous_client.get("/api/v1/samples").status_code == 403


def test_an_inactive_users_token_is_refused(viewer, anonymous_client):
    from tests.factories import make_token

    key = make_token(viewer)
    viewer.is_active = False
    viewer.save()
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert anonymous_client.get("/api/v1/samples").status_code == 401


def test_session_auth_works_for_the_api(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/v1/samples/ok")
    assert response.status_code == 200
    assert response.json() == {"user": "vera"}


def test_bearer_is_accepted_like_token(viewer, anonymous_client):
    from tests.factories import make_token

    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(viewer)}")
    response = anonymous_client.get("/api/v1/samples/ok")
    assert response.status_code == 200
    assert response.json() == {"user": "vera"}
