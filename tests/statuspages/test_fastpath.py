"""Public outputs already cached are answered by the production WSGI wrapper without Django's handler."""

from __future__ import annotations

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory

from statuspages import public, services
from tests.factories import make_layout, make_page
from tests.helpers import call


def without_django(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("this request should not reach Django's handler")

    monkeypatch.setattr(WSGIHandler, "__call__", refuse)


@pytest.mark.parametrize("path", ["/status/acme/", "/status/acme/api/v2/summary.json", "/badge/acme.svg"])
def test_the_second_request_comes_from_the_cache_with_the_same_body_and_etag(db, monkeypatch, path):
    page = make_page()
    make_layout(page)
    first = call(path, method="GET")
    assert first[0] == 200
    without_django(monkeypatch)
    second = call(path, method="GET")
    assert second[0] == 200 and second[2] == first[2]
    assert second[1]["ETag"] == first[1]["ETag"] and second[1]["Content-Type"] == first[1]["Content-Type"]
    assert second[1]["X-Content-Type-Options"] == "nosniff" and "X-Request-ID" in second[1]
    not_modified = call(path, method="GET", headers={"HTTP_IF_NONE_MATCH": first[1]["ETag"]})
    assert not_modified[0] == 304 and not_modified[2] == b""
    head = call(path, method="HEAD")
    assert head[0] == 200 and head[2] == b"" and head[1]["Content-Length"] == str(len(first[2]))


def test_a_change_is_served_at_once_by_the_process_that_made_it(db, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    before = call("/status/acme/", method="GET")
    with django_capture_on_commit_callbacks(execute=True):
        services.set_override(layout["website"], "major_outage")
    after = call("/status/acme/", method="GET")
    assert after[1]["ETag"] != before[1]["ETag"] and b"Major outage" in after[2]


def test_private_pages_and_unknown_routes_always_go_through_django(db, monkeypatch):
    page = make_page(slug="inside", is_public=False)
    make_layout(page)
    assert call("/status/inside/api/v2/status.json", method="GET")[0] == 404
    request = RequestFactory().get("/")
    assert public.from_cache(request, public.api, {"slug": "inside", "resource": "status.json"}) is None
    assert public.from_cache(request, public.api, {"slug": "acme", "resource": "secrets.json"}) is None
    assert public.from_cache(request, public.history, {"slug": "acme"}) is None
