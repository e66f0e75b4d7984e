"""The set-up flow for a status page (admins): 1 the page, 2 components from monitors in one step, 3 a preview
of the public page; each step reachable again from the page's detail."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from statuspages import setup
from statuspages.models import Component, ComponentGroup, StatusPage
from tests.factories import make_layout, make_monitor, make_page, make_user

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(make_user("admin"))
    return client


def as_role(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role))
    return client


# --- step 1: the page ------------------------------------------------------------------------------


def test_step_one_shows_the_form_with_a_time_zone_picker_and_no_password_removal(admin):
    html = admin.get("/status-pages/new/").content.decode()
    assert '<select name="time_zone"' in html and '<optgroup label="Europe">' in html
    assert '<option value="Europe/Paris">Paris</option>' in html
    assert 'name="logo"' in html and 'enctype="multipart/form-data"' in html
    assert "Remove the password" not in html and "Remove the logo" not in html
    for label in ("Title", "Address", "Time zone", "Logo", "Public page", "Password"):
        assert re.search(rf"<label for=\"id_\w+\">{label}<|<span>{label}</span>", html), label
    assert '<fieldset class="group">' in html and '<button type="submit" class="primary">Create the page' in html
    assert 'aria-current="page">1. The page' in html


def test_step_one_creates_the_page_with_a_slug_made_from_the_title_and_goes_to_step_two(admin):
    make_page(slug="acme-cloud", title="Other")
    response = admin.post("/status-pages/new/", {"title": "Acme Cloud!", "slug": "", "time_zone": "Europe/Paris"})
    assert response.status_code == 302 and response["Location"] == "/status-pages/acme-cloud-2/setup/components/"
    page = StatusPage.objects.get(slug="acme-cloud-2")
    assert page.title == "Acme Cloud!" and page.time_zone == "Europe/Paris" and page.is_public is False
    assert page.password == "" and not page.logo


def test_step_one_can_set_a_password_and_errors_come_back_inline(admin):
    response = admin.post(
        "/status-pages/new/", {"title": "Internal", "slug": "internal", "time_zone": "UTC", "password": "s3cret pass"}
    )
    assert response.status_code == 302
    assert StatusPage.objects.get(slug="internal").check_password("s3cret pass")
    bad = admin.post("/status-pages/new/", {"title": "", "slug": "Not A Slug", "time_zone": "Mars/Base"})
    html = bad.content.decode()
    assert bad.status_code == 400 and html.count('class="field-errors"') == 3
    assert "is not one" in html and "Use lowercase letters" in html


def test_the_slug_new_is_taken_by_the_dashboard(admin):
    response = admin.post("/status-pages/new/", {"title": "New", "slug": "new", "time_zone": "UTC"})
    assert response.status_code == 400 and "taken by the dashboard" in response.content.decode()
    assert setup.suggest_slug("New") == "new-2"
    assert setup.suggest_slug("¡¡!!") == "status"


def test_an_htmx_title_change_answers_only_the_address_field_with_a_suggestion(admin):
    make_page(slug="acme", title="Acme")
    response = admin.get("/status-pages/new/", {"title": "Acme", "slug": ""}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "<form" not in html
    assert html.strip().startswith('<div id="slug-field">') and 'value="acme-2"' in html
    kept = admin.get("/status-pages/new/", {"title": "Acme", "slug": "mine"}, headers=HTMX).content.decode()
    assert 'value="mine"' in kept
    assert 'hx-get="/status-pages/new/"' in admin.get("/status-pages/new/").content.decode()


def test_editing_is_step_one_again_and_only_a_page_with_a_password_offers_to_remove_it(admin):
    page = make_page()
    html = admin.get("/status-pages/acme/edit/").content.decode()
    assert "Remove the password" not in html and 'value="Acme"' in html and 'aria-current="page">1. The page' in html
    page.set_password("hunter22")
    page.save()
    html = admin.get("/status-pages/acme/edit/").content.decode()
    assert "Remove the password" in html and "This page has a password" in html
    form = {"title": "Acme", "slug": "acme", "time_zone": "UTC", "description": "", "remove_password": "on"}
    assert admin.post("/status-pages/acme/edit/", form).status_code == 302
    assert StatusPage.objects.get(pk=page.pk).password == ""
    bad = admin.post("/status-pages/acme/edit/", form | {"slug": ""})
    assert bad.status_code == 400 and "Acme: the page" in bad.content.decode()


# --- step 2: components from monitors -------------------------------------------------------------


def test_step_two_turns_each_ticked_monitor_into_a_component_in_a_new_group(admin):
    page = make_page()
    api, web, _other = make_monitor("API"), make_monitor("Website"), make_monitor("Worker")
    html = admin.get("/status-pages/acme/setup/components/").content.decode()
    assert 'type="checkbox" name="monitors"' in html and "Worker (HTTP" in html
    assert 'aria-current="page">2. Components from monitors' in html
    response = admin.post("/status-pages/acme/setup/components/", {"monitors": [web.pk, api.pk], "new_group": "Core"})
    assert response.status_code == 302 and response["Location"] == "/status-pages/acme/setup/preview/"
    group = ComponentGroup.objects.get(page=page)
    components = list(Component.objects.filter(page=page).order_by("position"))
    assert [c.name for c in components] == ["API", "Website"] and group.name == "Core"
    assert [list(c.monitors.all()) for c in components] == [[api], [web]]
    assert all(c.group == group for c in components)
    again = admin.get("/status-pages/acme/setup/components/").content.decode()
    assert "Worker (HTTP" in again and "API (HTTP" not in again and "On the page now" in again


def test_step_two_puts_components_in_an_existing_group_after_the_last_one(admin):
    page = make_page()
    layout = make_layout(page)
    search = make_monitor("Search")
    last = max(Component.objects.filter(page=page).values_list("position", flat=True))
    admin.post("/status-pages/acme/setup/components/", {"monitors": [search.pk], "group": layout["group"].pk})
    component = Component.objects.get(name="Search")
    assert component.group == layout["group"] and component.position == last + 1
    assert list(component.monitors.all()) == [search]


def test_step_two_refuses_nothing_ticked_and_two_groups_at_once(admin):
    page = make_page()
    layout = make_layout(page)
    search = make_monitor("Search")
    empty = admin.post("/status-pages/acme/setup/components/", {"monitors": []})
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    both = admin.post(
        "/status-pages/acme/setup/components/", {"monitors": [search.pk], "group": layout["group"].pk, "new_group": "X"}
    )
    assert both.status_code == 400 and "not both" in both.content.decode()
    taken = admin.post("/status-pages/acme/setup/components/", {"monitors": [layout["monitors"]["web"].pk]})
    assert taken.status_code == 400 and "Select a valid choice" in taken.content.decode()
    assert Component.objects.filter(page=page, name="Search").count() == 0


def test_step_two_without_monitors_says_how_to_get_some(admin):
    make_page()
    html = admin.get("/status-pages/acme/setup/components/").content.decode()
    assert (
        "There are no monitors yet" in html
        and 'href="/monitors/new/"' in html
        and "<form" not in html.split("<main")[1]
    )


# --- step 3: the preview -------------------------------------------------------------------------------


def test_step_three_frames_the_real_public_rendering(admin):
    page = make_page(is_public=False)
    make_layout(page)
    html = admin.get("/status-pages/acme/setup/preview/").content.decode()
    assert '<iframe src="/status-pages/acme/preview/"' in html and 'href="/status/acme/"' in html
    assert "it is private" in html and 'aria-current="page">3. Preview' in html
    preview = admin.get("/status-pages/acme/preview/")
    body = preview.content.decode()
    assert preview.status_code == 200 and preview["X-Frame-Options"] == "SAMEORIGIN"
    assert preview["Cache-Control"] == "private, no-store"
    assert 'class="sp-components"' in body and "REST" in body and "Website" in body
    assert '<base target="_blank">' in body and "statuspage.css" in body
    assert Client().get("/status/acme/").status_code == 302  # still private for visitors


def test_the_detail_links_to_each_step_for_admins_only(admin):
    make_page()
    html = admin.get("/status-pages/acme/").content.decode()
    for href in (
        "/status-pages/acme/edit/",
        "/status-pages/acme/setup/components/",
        "/status-pages/acme/setup/preview/",
    ):
        assert f'href="{href}"' in html
    assert 'action="/status-pages/acme/edit/"' not in html  # the settings live in step 1 now
    assert "/setup/components/" not in as_role("responder").get("/status-pages/acme/").content.decode()


# --- access --------------------------------------------------------------------------------------


SETUP_URLS = ("/status-pages/new/", "/status-pages/acme/edit/", "/status-pages/acme/setup/components/")


def test_anonymous_visitors_go_to_the_login(db):
    make_page()
    for path in (*SETUP_URLS, "/status-pages/acme/setup/preview/", "/status-pages/acme/preview/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_viewers_and_responders_may_not_set_pages_up(db):
    make_page()
    monitor = make_monitor()
    for role in ("viewer", "responder"):
        client = as_role(role)
        for path in SETUP_URLS:
            assert client.get(path).status_code == 403, path
            assert client.post(path, {"title": "x", "slug": "x", "monitors": [monitor.pk]}).status_code == 403
        assert client.get("/status-pages/acme/setup/preview/").status_code == 403
        assert client.get("/status-pages/acme/preview/").status_code == 200  # the team reads every page
    assert StatusPage.objects.count() == 1 and Component.objects.count() == 0


def test_wrong_methods_are_405(admin):
    make_page()
    assert admin.put("/status-pages/new/").status_code == 405
    assert admin.delete("/status-pages/acme/edit/").status_code == 405
    assert admin.put("/status-pages/acme/setup/components/").status_code == 405
    assert admin.post("/status-pages/acme/setup/preview/").status_code == 405
    assert admin.post("/status-pages/acme/preview/").status_code == 405
    assert admin.post("/status-pages/", {"title": "x"}).status_code == 405  # pages are created in step 1


def test_setup_pages_of_a_missing_page_are_404(admin):
    for path in ("/status-pages/nope/edit/", "/status-pages/nope/setup/components/", "/status-pages/nope/preview/"):
        assert admin.get(path).status_code == 404
