"""Every status page write goes through statuspages.services: the front doors bump no versions and forget
no slugs themselves, and a renamed or deleted slug is forgotten after the commit, never on a rollback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client

from statuspages import public, public_cache, setup
from statuspages.models import StatusPage
from tests.factories import make_layout, make_page, make_token, make_user

FRONT_DOORS = ("api.py", "views.py", "admin.py")
ADMIN_FORM = {
    "title": "Acme",
    "time_zone": "Etc/UTC",
    "is_public": "on",
    "footer_links": "[]",
    "description": "",
    "logo_url": "",
    "created_at_0": "2026-01-01",
    "created_at_1": "00:00:00",
    "updated_at_0": "2026-01-01",
    "updated_at_1": "00:00:00",
}


@pytest.mark.parametrize("name", FRONT_DOORS)
def test_front_doors_leave_versions_and_slugs_to_the_services(name):
    source = (Path(public.__file__).parent / name).read_text()
    assert not re.findall(r"\bchanged\(|forget_slug|forget_pages|\btouch\(", source)


def _rename_by_api(page: StatusPage) -> int:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user('admin'))}")
    return client.patch(f"/api/v1/status-pages/{page.slug}", {"slug": "acme-two"}, format="json").status_code


def _rename_by_dashboard(page: StatusPage) -> int:
    client = Client()
    client.force_login(make_user("admin"))
    form = {"title": page.title, "slug": "acme-two", "description": "", "logo_url": "", "time_zone": "Etc/UTC"}
    return client.post(f"/status-pages/{page.slug}/edit/", form | {"is_public": "on"}).status_code


def _rename_by_admin(page: StatusPage) -> int:
    client = Client()
    client.force_login(make_user("admin"))
    return client.post(
        f"/admin/statuspages/statuspage/{page.pk}/change/", ADMIN_FORM | {"slug": "acme-two"}
    ).status_code


@pytest.mark.parametrize("rename", [_rename_by_api, _rename_by_dashboard, _rename_by_admin])
def test_a_renamed_page_is_gone_from_its_old_slug_after_the_commit(db, django_capture_on_commit_callbacks, rename):
    page = make_page()
    make_layout(page)
    visitor = Client()
    assert visitor.get("/status/acme/").status_code == 200  # the slug is remembered now
    with django_capture_on_commit_callbacks(execute=True):
        assert rename(page) in (200, 302)
    assert StatusPage.objects.get(pk=page.pk).slug == "acme-two"
    assert visitor.get("/status/acme/").status_code == 404
    assert visitor.get("/status/acme-two/").status_code == 200


def test_a_deleted_page_is_gone_after_the_commit(db, django_capture_on_commit_callbacks, admin_client):
    make_layout(make_page())
    visitor = Client()
    assert visitor.get("/status/acme/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete("/api/v1/status-pages/acme").status_code == 204
    assert visitor.get("/status/acme/").status_code == 404


@pytest.mark.parametrize("write", ["rename", "delete"])
def test_a_rolled_back_write_forgets_no_slug(db, django_capture_on_commit_callbacks, monkeypatch, write):
    page = make_page()
    forgotten = []
    monkeypatch.setattr(public_cache, "forget_slug", forgotten.append)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        if write == "rename":
            page.slug = "acme-two"
            setup.save_page(page)
        else:
            setup.delete_page(page)
        raise RuntimeError("rolled back")
    assert forgotten == []
    assert callbacks == []
    assert StatusPage.objects.get(pk=page.pk).slug == "acme"


def test_a_committed_rename_forgets_the_old_slug_once(db, django_capture_on_commit_callbacks, monkeypatch):
    page = make_page()
    forgotten = []
    monkeypatch.setattr(public_cache, "forget_slug", forgotten.append)
    page.slug = "acme-two"
    with django_capture_on_commit_callbacks(execute=False):
        setup.save_page(page)
        assert forgotten == []  # not before the commit
    with django_capture_on_commit_callbacks(execute=True):
        page.slug = "acme-three"
        setup.save_page(page)
    assert forgotten == ["acme-two"]


def test_setup_writes_bump_the_page_version(db, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    version = StatusPage.objects.get(pk=page.pk).version
    group = setup.save_group(layout["group"])
    setup.save_component(layout["rest"], monitors=[layout["monitors"]["rest"]])
    setup.delete_component(layout["website"])
    setup.delete_group(group)
    assert StatusPage.objects.get(pk=page.pk).version == version + 4
