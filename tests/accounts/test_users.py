"""Users: the admin API and page, invitations with a one-time link, deactivation revoking access."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_token, make_user
from tracepoint.accounts.models import ApiToken
from tracepoint.accounts.roles import user_role


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client


def test_admins_create_list_edit_and_delete_users_others_cannot(db, django_capture_on_commit_callbacks):
    admin = make_user("admin")
    viewer = make_user("viewer")
    assert api(viewer).get("/api/v1/users").status_code == 403
    assert APIClient().get("/api/v1/users").status_code == 401
    with django_capture_on_commit_callbacks(execute=True):
        created = api(admin).post(
            "/api/v1/users",
            {"username": "nina", "email": "nina@example.com", "name": "Nina Ops", "role": "responder"},
            format="json",
        )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["username"], body["name"], body["role"], body["is_active"]) == ("nina", "Nina Ops", "responder", True)
    nina = get_user_model().objects.get(username="nina")
    assert not nina.has_usable_password() and len(mail.outbox) == 1
    assert api(admin).get("/api/v1/users").json()["count"] == 3
    assert (
        api(admin).post("/api/v1/users", {"username": "nina", "email": "x@example.com"}, format="json").status_code
        == 400
    )
    changed = api(admin).patch(f"/api/v1/users/{nina.pk}", {"role": "admin"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "admin"
    assert api(admin).delete(f"/api/v1/users/{nina.pk}").status_code == 204
    assert api(admin).get(f"/api/v1/users/{nina.pk}").status_code == 404


def test_everyone_reads_themselves(db):
    viewer = make_user("viewer", username="vic")
    me = api(viewer).get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["username"] == "vic" and me.json()["role"] == "viewer"


def test_the_invitation_link_sets_a_password_once(db, django_capture_on_commit_callbacks):
    admin = make_user("admin")
    with django_capture_on_commit_callbacks(execute=True):
        api(admin).post(
            "/api/v1/users", {"username": "omar", "email": "omar@example.com", "role": "viewer"}, format="json"
        )
    link = re.search(r"https?://\S+/account/invitation/\S+/", mail.outbox[0].body)[0]
    path = link[link.index("/account/") :]
    client = Client()
    form_page = client.get(path, follow=True)
    assert b"Choose your password" in form_page.content
    set_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    done = client.post(
        set_url, {"new_password1": "a-long-new-passphrase-1", "new_password2": "a-long-new-passphrase-1"}
    )
    assert done.status_code == 302
    assert Client().login(username="omar", password="a-long-new-passphrase-1")
    again = Client().get(path, follow=True)
    assert b"has been used or has expired" in again.content


def test_deactivating_a_user_revokes_tokens_and_sessions(db):
    admin = make_user("admin")
    rita = make_user("responder", username="rita")
    token_client = api(rita)
    browser = Client()
    browser.login(username="rita", password=PASSWORD)
    assert browser.get("/incidents/").status_code == 200
    response = api(admin).patch(f"/api/v1/users/{rita.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert not ApiToken.objects.filter(user=rita).exists()
    assert token_client.get("/api/v1/incidents").status_code == 401
    assert browser.get("/incidents/").status_code == 302  # back to the login


def test_admins_cannot_lock_themselves_out(db):
    admin = make_user("admin")
    client = api(admin)
    assert client.patch(f"/api/v1/users/{admin.pk}", {"is_active": False}, format="json").status_code == 400
    assert client.patch(f"/api/v1/users/{admin.pk}", {"role": "viewer"}, format="json").status_code == 400
    assert client.delete(f"/api/v1/users/{admin.pk}").status_code == 400
    assert user_role(admin) == "admin"


def test_the_users_page_invites_and_edits_for_admins_only(db, django_capture_on_commit_callbacks):
    admin = make_user("admin")
    viewer = make_user("viewer")
    client = Client()
    client.force_login(viewer)
    assert client.get("/account/users/").status_code == 403
    client.force_login(admin)
    assert "Invite someone" in client.get("/account/users/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/account/users/", {"username": "lee", "email": "lee@example.com", "role": "viewer"})
    assert sent.status_code == 302 and len(mail.outbox) == 1
    lee = get_user_model().objects.get(username="lee")
    client.post(f"/account/users/{lee.pk}/", {"role": "responder", "is_active": "on"})
    lee.refresh_from_db()
    assert user_role(lee) == "responder"
    client.post(f"/account/users/{lee.pk}/", {"role": "responder"})  # unchecked: inactive
    lee.refresh_from_db()
    assert lee.is_active is False
