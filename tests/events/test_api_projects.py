"""``/api/v1/projects``: admins manage projects, keys and members; members read theirs."""

import pytest
from django.conf import settings

from events.models import Project, ProjectKey

URL = "/api/v1/projects"


@pytest.fixture
def member_project(project, viewer):
    project.members.add(viewer)
    return project


def test_anonymous_is_401(anonymous_client, project):
    assert anonymous_client.get(URL).status_code == 401


def test_admin_creates_a_project_with_a_key_and_a_dsn(admin_client, viewer):
    response = admin_client.post(
        URL,
        {"name": "Web", "slug": "web", "services": ["Frontend", "api"], "members": [viewer.username]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    project = Project.objects.get(slug="web")
    key = project.keys.get()
    assert body["id"] == project.pk
    assert body["services"] == ["frontend", "api"]
    assert body["members"] == [viewer.username]
    assert body["dsn"] == key.dsn(settings.TRACEPOINT["BASE_URL"])
    assert body["dsn"].endswith(f"/{project.pk}")
    assert body["keys"] == [
        {
            "id": key.pk,
            "public_key": key.public_key,
            "label": "Default",
            "active": True,
            "created": body["keys"][0]["created"],
            "revoked": None,
        }
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "slug": "shop"}, "slug"),
        ({"name": "X", "slug": "not a slug"}, "slug"),
        ({"name": "X", "slug": "x", "services": ["bad service!"]}, "services"),
        ({"name": "X", "slug": "x", "members": ["nobody"]}, "members"),
        ({"slug": "x"}, "name"),
    ],
)
def test_invalid_projects_are_400(admin_client, project, payload, field):
    response = admin_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_admin_updates_members_and_services(admin_client, project, viewer, responder):
    response = admin_client.patch(
        f"{URL}/{project.pk}", {"members": [viewer.username, responder.username], "services": ["api"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert sorted(response.json()["members"]) == sorted([viewer.username, responder.username])
    assert set(project.members.all()) == {viewer, responder}
    project.refresh_from_db()
    assert project.services == ["api"]


def test_admin_deletes_a_project(admin_client, project):
    assert admin_client.delete(f"{URL}/{project.pk}").status_code == 204
    assert not Project.objects.exists()


def test_members_read_their_projects_only(viewer_client, member_project):
    other = Project.objects.create(name="Internal", slug="internal")
    body = viewer_client.get(URL).json()
    assert [row["slug"] for row in body["results"]] == ["shop"]
    assert viewer_client.get(f"{URL}/{member_project.pk}").status_code == 200
    assert viewer_client.get(f"{URL}/{other.pk}").status_code == 404


def test_non_members_see_no_projects(responder_client, project):
    assert responder_client.get(URL).json()["results"] == []
    assert responder_client.get(f"{URL}/{project.pk}").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "responder"])
def test_only_admins_write(role_clients, project, viewer, responder, role):
    project.members.add(viewer, responder)
    client = role_clients[role]
    assert client.post(URL, {"name": "X", "slug": "x"}, format="json").status_code == 403
    assert client.patch(f"{URL}/{project.pk}", {"name": "Y"}, format="json").status_code == 403
    assert client.delete(f"{URL}/{project.pk}").status_code == 403
    assert client.post(f"{URL}/{project.pk}/keys", {}, format="json").status_code == 403
    key = project.keys.get()
    assert client.post(f"{URL}/{project.pk}/keys/{key.pk}/revoke", {}, format="json").status_code == 403
    assert project.keys.get().is_active


def test_rotate_adds_a_key_the_dsn_follows_and_revoke_retires_the_old_one(admin_client, project):
    old = project.keys.get()
    response = admin_client.post(f"{URL}/{project.pk}/keys", {"label": "2026"}, format="json")
    assert response.status_code == 201, response.json()
    new = ProjectKey.objects.get(pk=response.json()["id"])
    assert (response.json()["label"], response.json()["active"]) == ("2026", True)
    body = admin_client.get(f"{URL}/{project.pk}").json()
    assert body["dsn"] == new.dsn(settings.TRACEPOINT["BASE_URL"])
    assert [key["id"] for key in body["keys"]] == [new.pk, old.pk]

    response = admin_client.post(f"{URL}/{project.pk}/keys/{old.pk}/revoke")
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert response.json()["revoked"] is not None
    old.refresh_from_db()
    assert not old.is_active

    admin_client.post(f"{URL}/{project.pk}/keys/{new.pk}/revoke")
    assert admin_client.get(f"{URL}/{project.pk}").json()["dsn"] is None


def test_revoking_a_key_of_another_project_is_404(admin_client, project):
    other = Project.objects.create(name="Internal", slug="internal")
    key = ProjectKey.objects.create(project=other)
    assert admin_client.post(f"{URL}/{project.pk}/keys/{key.pk}/revoke").status_code == 404


def test_bad_ordering_and_page_are_400(admin_client, project):
    assert admin_client.get(f"{URL}?ordering=secret").status_code == 400
    assert admin_client.get(f"{URL}?page=0").status_code == 400
    assert admin_client.get(f"{URL}?ordering=-created_at").status_code == 200


def test_wrong_methods_are_405(admin_client, project):
    assert admin_client.get(f"{URL}/{project.pk}/keys").status_code == 405
    assert admin_client.put(f"{URL}/{project.pk}/keys/1/revoke", {}, format="json").status_code == 405
