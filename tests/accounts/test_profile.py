import re

import pytest
from django.test import Client

from tests.factories import make_user
from tracepoint.accounts.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(viewer):
    client = Client()
    client.force_login(viewer)
    return client


def _shown_key(response) -> str:
    match = re.search(rb'<code class="token" id="new-token">(tp_[^<]+)</code>', response.content)
    assert match, response.content
    return match.group(1).decode()


def test_profile_shows_role_and_tokens(logged_in, viewer):
    ApiToken.issue(viewer, "laptop")
    response = logged_in.get("/account/")
    assert response.status_code == 200
    assert b"viewer" in response.content
    assert b"laptop" in response.content


def test_generating_a_token_shows_it_once(logged_in, viewer):
    response = logged_in.post("/account/tokens/", {"name": "deploy hook"})
    assert response.status_code == 200
    key = _shown_key(response)
    assert ApiToken.objects.get(user=viewer, name="deploy hook").key_hash == hash_token(key)
    assert key.encode() not in logged_in.get("/account/").content


def test_regenerating_replaces_the_token(logged_in, viewer):
    token, old_key = ApiToken.issue(viewer, "ci")
    response = logged_in.post(f"/account/tokens/{token.pk}/regenerate/")
    new_key = _shown_key(response)
    assert new_key != old_key
    assert not ApiToken.objects.filter(key_hash=hash_token(old_key)).exists()
    assert ApiToken.objects.get(user=viewer).name == "ci"


def test_revoking_deletes_the_token(logged_in, viewer):
    token, _ = ApiToken.issue(viewer, "old")
    response = logged_in.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert response.redirect_chain == [("/account/", 302)]
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    # The flash message shows once, on the page after the redirect.
    assert b'<p class="message success">Token revoked.</p>' in response.content
    assert b"Token revoked." not in logged_in.get("/account/").content


def test_nobody_touches_another_users_token(logged_in):
    token, _ = ApiToken.issue(make_user("admin"), "theirs")
    assert logged_in.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert logged_in.post(f"/account/tokens/{token.pk}/regenerate/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_token_actions_are_post_only(logged_in, viewer):
    token, _ = ApiToken.issue(viewer, "x")
    assert logged_in.get(f"/account/tokens/{token.pk}/revoke/").status_code == 405


def test_token_names_are_escaped(logged_in, viewer):
    ApiToken.issue(viewer, "<script>alert(1)</script>")
    response = logged_in.get("/account/")
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;" in response.content


def test_form_posts_share_the_write_rate_limit(logged_in, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "write": "2/day"},
    }
    statuses = [logged_in.post("/account/tokens/", {"name": f"t{i}"}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    response = logged_in.post("/account/tokens/", {"name": "again"})
    assert b"Too many requests" in response.content
    assert int(response["Retry-After"]) >= 1
    assert logged_in.get("/account/").status_code == 200  # reads are not limited
