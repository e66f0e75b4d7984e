"""A status page's logo is an upload: checked by its magic bytes and size, stored through the storage API,
served by our own view with safe headers and only to visitors who may see the page; replacing or removing
it deletes the old file; a logo URL set before uploads keeps showing until it is replaced."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from statuspages import logos, setup
from statuspages.models import StatusPage
from tests.factories import make_layout, make_page, make_token, make_user


def png() -> bytes:
    """A real one-pixel PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0\0\0\0"))
        + chunk(b"IEND", b"")
    )


IMAGES = {
    "image/png": png(),
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64,
    "image/gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 32,
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32,
}
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(make_user("admin"))
    return client


def upload(data: bytes, name: str = "logo.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def edit_form(page: StatusPage, **extra) -> dict:
    return {"title": page.title, "slug": page.slug, "time_zone": "UTC", "description": "", "is_public": "on"} | extra


def logo_path(page: StatusPage) -> str:
    page.refresh_from_db()
    return f"/status/{page.slug}/logo/{page.logo_token}"


def test_an_uploaded_logo_is_stored_in_media_and_served_by_our_view_with_safe_headers(admin, media):
    created = admin.post(
        "/status-pages/new/",
        {"title": "Acme", "slug": "acme", "time_zone": "UTC", "is_public": "on", "logo": upload(IMAGES["image/png"])},
    )
    assert created.status_code == 302
    page = StatusPage.objects.get(slug="acme")
    assert page.logo.name.startswith("statuspages/logos/") and page.logo.name.endswith(".png")
    assert (media / page.logo.name).read_bytes() == IMAGES["image/png"] and page.logo_content_type == "image/png"
    html = Client().get("/status/acme/").content.decode()
    assert f'<img src="{logo_path(page)}"' in html
    response = Client().get(logo_path(page))
    assert response.status_code == 200 and b"".join(response.streaming_content) == IMAGES["image/png"]
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["ETag"] == f'"{page.logo_token}"'
    again = Client().get(logo_path(page), headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304 and again["ETag"] == response["ETag"]
    assert not html.count("/media/")


@pytest.mark.parametrize("content_type", sorted(IMAGES))
def test_png_jpeg_webp_and_gif_are_known_by_their_bytes_not_their_names(admin, content_type):
    page = make_page()
    misleading = upload(IMAGES[content_type], name="picture.txt", content_type="text/plain")
    assert admin.post("/status-pages/acme/edit/", edit_form(page, logo=misleading)).status_code == 302
    page.refresh_from_db()
    assert page.logo_content_type == content_type
    response = Client().get(logo_path(page))
    assert response.status_code == 200 and response["Content-Type"] == content_type


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (SVG, "logo.svg", "SVG and other formats are not accepted"),
        (SVG, "logo.png", "SVG and other formats are not accepted"),
        (b"<html><script>alert(1)</script></html>", "logo.gif", "Upload a PNG, JPEG, WebP or GIF image"),
        (b"", "logo.png", "The submitted file is empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * logos.LOGO_MAX_BYTES, "big.png", "the limit is 512 KB"),
    ],
)
def test_other_files_are_refused_with_a_reason(admin, media, data, name, message):
    page = make_page()
    response = admin.post("/status-pages/acme/edit/", edit_form(page, logo=upload(data, name=name)))
    html = response.content.decode()
    assert response.status_code == 400 and message in html.replace("&#x27;", "'")
    page.refresh_from_db()
    assert not page.logo and not (media / "statuspages").exists()


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(admin):
    page = make_page()
    huge = upload(b"\x89PNG\r\n\x1a\n" + b"\0" * logos.LOGO_MAX_REQUEST_BYTES)
    response = admin.post("/status-pages/acme/edit/", edit_form(page, logo=huge))
    assert response.status_code == 413
    assert not StatusPage.objects.get(pk=page.pk).logo


def test_replacing_the_logo_deletes_the_old_file_after_the_commit(admin, media, django_capture_on_commit_callbacks):
    page = make_page()
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/status-pages/acme/edit/", edit_form(page, logo=upload(IMAGES["image/png"])))
    old_path, old_file = logo_path(page), media / page.logo.name
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/status-pages/acme/edit/", edit_form(page, logo=upload(IMAGES["image/gif"], name="new.gif")))
    page.refresh_from_db()
    assert not old_file.exists() and (media / page.logo.name).read_bytes() == IMAGES["image/gif"]
    assert Client().get(old_path).status_code == 404 and Client().get(logo_path(page)).status_code == 200
    assert sorted(p.name for p in (media / logos.LOGO_DIR).iterdir()) == [Path(page.logo.name).name]


def test_removing_the_logo_deletes_its_file_and_the_page_shows_none(admin, media, django_capture_on_commit_callbacks):
    page = make_page()
    make_layout(page)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/status-pages/acme/edit/", edit_form(page, logo=upload(IMAGES["image/png"])))
    path, stored = logo_path(page), media / page.logo.name
    assert "Remove the logo" in admin.get("/status-pages/acme/edit/").content.decode()
    both = admin.post("/status-pages/acme/edit/", edit_form(page, logo=upload(IMAGES["image/png"]), remove_logo="on"))
    assert both.status_code == 400 and "not both" in both.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post("/status-pages/acme/edit/", edit_form(page, remove_logo="on")).status_code == 302
    page.refresh_from_db()
    assert not page.logo and page.logo_content_type == "" and not stored.exists()
    assert Client().get(path).status_code == 404 and "<img" not in Client().get("/status/acme/").content.decode()


def test_deleting_a_page_deletes_its_logo(db, media, django_capture_on_commit_callbacks):
    page = setup.save_page(StatusPage(slug="acme", title="Acme"), logo=logos.read_logo(upload(IMAGES["image/png"])))
    stored = media / page.logo.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        setup.delete_page(page)
    assert not stored.exists()


def test_a_save_from_a_form_loaded_before_another_upload_keeps_the_newer_logo(
    db, media, django_capture_on_commit_callbacks
):
    """Admin B loaded the page before admin A uploaded a logo; B's title change must neither bring back the
    old logo nor delete A's file."""
    with django_capture_on_commit_callbacks(execute=True):
        page = setup.save_page(StatusPage(slug="acme", title="Acme"), logo=logos.read_logo(upload(IMAGES["image/png"])))
    stale = StatusPage.objects.get(pk=page.pk)
    with django_capture_on_commit_callbacks(execute=True):
        newer = setup.save_page(StatusPage.objects.get(pk=page.pk), logo=logos.read_logo(upload(IMAGES["image/gif"])))
    stale.title = "Acme Cloud"
    with django_capture_on_commit_callbacks(execute=True):
        setup.save_page(stale)
    saved = StatusPage.objects.get(pk=page.pk)
    assert saved.title == "Acme Cloud" and saved.logo.name == newer.logo.name
    assert (media / saved.logo.name).exists()
    assert not (media / page.logo.name).exists()  # the first logo went when it was replaced


def test_a_failed_save_leaves_no_file_behind(db, media, monkeypatch):
    page = make_page()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(setup, "touch", broken)
    with pytest.raises(RuntimeError):
        setup.save_page(page, logo=logos.read_logo(upload(IMAGES["image/png"])))
    assert not any((media / logos.LOGO_DIR).iterdir())
    assert not StatusPage.objects.get(pk=page.pk).logo


def test_a_private_pages_logo_is_only_for_visitors_who_may_see_the_page(db):
    page = make_page(is_public=False, raw_password="open sesame")
    page = setup.save_page(page, logo=logos.read_logo(upload(IMAGES["image/png"])))
    path = logo_path(page)
    visitor = Client()
    assert visitor.get(path).status_code == 404
    access = visitor.get("/status/acme/access/").content.decode()
    assert path not in access and "<img" not in access
    visitor.post("/status/acme/access/", {"password": "open sesame"})
    response = visitor.get(path)
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-cache"
    assert "Cookie" in response["Vary"]
    assert path in visitor.get("/status/acme/").content.decode()
    team = Client()
    team.force_login(make_user("viewer"))
    assert team.get(path).status_code == 200


def test_unknown_missing_or_posted_logos_are_refused(db, media):
    page = setup.save_page(make_page(), logo=logos.read_logo(upload(IMAGES["image/png"])))
    path = logo_path(page)
    assert Client().get(f"/status/acme/logo/{'x' * 30}").status_code == 404
    assert Client().get(f"/status/nope/logo/{page.logo_token}").status_code == 404
    assert Client().post(path).status_code == 405
    default_storage.delete(page.logo.name)
    assert Client().get(path).status_code == 404
    assert Client().get(f"/status/{make_page(slug='plain').slug}/logo/{'y' * 30}").status_code == 404


def test_a_logo_url_from_before_uploads_keeps_showing_until_replaced_or_removed(
    admin, django_capture_on_commit_callbacks
):
    page = make_page(logo_url="https://cdn.example/acme.png")
    html = Client().get("/status/acme/").content.decode()
    assert '<img src="https://cdn.example/acme.png"' in html and 'referrerpolicy="no-referrer"' in html
    form = admin.get("/status-pages/acme/edit/").content.decode()
    assert "https://cdn.example/acme.png" in form and "Remove the logo" in form
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/status-pages/acme/edit/", edit_form(page, logo=upload(IMAGES["image/png"])))
    html = Client().get("/status/acme/").content.decode()
    assert "cdn.example" not in html and logo_path(page) in html
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/status-pages/acme/edit/", edit_form(page, remove_logo="on"))
    page.refresh_from_db()
    assert page.logo_url == "" and not page.logo


def test_the_api_gives_the_logos_address(db):
    from rest_framework.test import APIClient

    page = setup.save_page(make_page(), logo=logos.read_logo(upload(IMAGES["image/webp"])))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user('viewer'))}")
    body = client.get("/api/v1/status-pages/acme").json()
    assert body["logo"] == f"http://testserver{logo_path(page)}"
    assert client.get("/api/v1/status-pages").json()["results"][0]["logo"] == body["logo"]
