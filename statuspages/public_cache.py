"""What the public side of status pages keeps: each page's few request-time fields and its cached
outputs, in the cache (shared) and for MEMO_SECONDS in each process.

Outputs are keyed by the page's ``version`` (bumped by every change that shows,
statuspages.services.touch) and the page's local date (the uptime bars move at midnight); they
also expire after STATUSPAGE_CACHE_SECONDS so today's bar keeps up. Answers carry an ETag and
Last-Modified and turn into 304 for a client that has them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.http import http_date

from statuspages.models import StatusPage

META_SECONDS = 300
MEMO_SECONDS = 1.0
MEMO_BODIES = 256
_metas: dict[str, tuple[float, dict | None]] = {}
_bodies: dict[str, tuple[bytes, str]] = {}


def meta_key(slug: str) -> str:
    return f"statuspages:meta:{slug}"


def read_meta(slug: str) -> dict:
    fields = ("pk", "version", "updated_at", "is_public", "time_zone", "password")
    row = StatusPage.objects.filter(slug=slug).values(*fields).first()
    if not row:
        return {}
    row["password_tag"] = password_tag(row.pop("password"))
    return row


def password_tag(password_hash: str) -> str:
    """Stands for the page's password in a visitor's session: a new password signs everyone out."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16] if password_hash else ""


def forget_pages(page_ids) -> None:
    """After a change commits: the pages' fresh versions replace the remembered ones. Writers *set*
    and readers only *add*, so a reader that read the row before the change cannot put it back."""
    for slug in StatusPage.objects.filter(pk__in=page_ids).values_list("slug", flat=True):
        _metas.pop(slug, None)
        cache.set(meta_key(slug), read_meta(slug), META_SECONDS)


def forget_slug(slug: str) -> None:
    """A slug that no longer names a page (renamed or deleted)."""
    _metas.pop(slug, None)
    cache.set(meta_key(slug), read_meta(slug), META_SECONDS)


def meta(slug: str) -> dict | None:
    """The few fields every public request needs, remembered until the page changes."""
    meta = cache.get(meta_key(slug))
    if meta is None:
        meta = read_meta(slug)
        cache.add(meta_key(slug), meta, META_SECONDS)
    return meta or None


def representation(meta: dict, name: str, extra_headers=None) -> tuple[str, dict[str, str]]:
    """(cache key, headers) of one representation (``name``) of the page's current version."""
    local_day = timezone.now().astimezone(ZoneInfo(meta["time_zone"])).date().isoformat()
    digest = hashlib.sha1(name.encode()).hexdigest()  # noqa: S324 - a cache key, not a secret
    key = f"statuspages:out:{meta['pk']}:{meta['version']}:{local_day}:{digest}"
    headers = {
        "Last-Modified": http_date(meta["updated_at"].timestamp()),
        "Cache-Control": f"public, max-age={settings.TRACEPOINT['STATUSPAGE_CACHE_SECONDS']}"
        if meta["is_public"]
        else "private, no-cache",
        **(extra_headers or {}),
    }
    return key, headers


def store(key: str, build: Callable[[], tuple[bytes, str]]) -> tuple[bytes, str, str]:
    """Build and cache (body, content type, ETag); the ETag is the body's digest, so it changes with it."""
    body, content_type = build()
    stored = (body, content_type, '"' + hashlib.sha256(body).hexdigest()[:24] + '"')
    cache.set(key, stored, settings.TRACEPOINT["STATUSPAGE_CACHE_SECONDS"])
    return stored


def matches(if_none_match: str, etag: str) -> bool:
    return etag in [tag.strip() for tag in if_none_match.split(",")]


def cached(
    request: HttpRequest, meta: dict, name: str, build: Callable[[], tuple[bytes, str]], *, extra_headers=None
) -> HttpResponse:
    """One cached representation of the page (``name``): build() → (body, content type)."""
    key, headers = representation(meta, name, extra_headers)
    stored = cache.get(key) or store(key, build)
    if stored[1] == "missing":
        raise Http404("Not on this page.")
    return answer(request, stored, headers)


def answer(request: HttpRequest, stored: tuple[bytes, str, str], headers: dict[str, str]) -> HttpResponse:
    status, header_list, body = answer_parts(request, stored, headers)
    response = HttpResponseNotModified() if status == 304 else HttpResponse(body)
    for header, value in header_list:
        response[header] = value
    return response


def answer_parts(
    request: HttpRequest, stored: tuple[bytes, str, str], headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of one stored output: a 304 for a client that has it."""
    body, content_type, etag = stored
    headers = [*headers.items(), ("ETag", etag)]
    if matches(request.META.get("HTTP_IF_NONE_MATCH", ""), etag):
        return 304, headers, b""
    return 200, [("Content-Type", content_type), *headers], body


def reset() -> None:
    """Forget what this process remembers of pages (tests call it between tests)."""
    _metas.clear()
    _bodies.clear()


def remembered_meta(slug: str) -> dict | None:
    now = time.monotonic()
    remembered = _metas.get(slug)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    meta = cache.get(meta_key(slug))  # never the database here: a miss goes to the full view
    if meta is not None:
        if len(_metas) >= MEMO_BODIES:
            _metas.clear()
        _metas[slug] = (now + MEMO_SECONDS, meta)
    return meta


def from_memory(
    request: HttpRequest, slug: str, name: str, extra_headers=None
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """(status, headers, body) of a public page's output from this process's memory or the cache,
    never the database (for the WSGI fast path: no response object); None when
    the page is private or unknown here, or the output is not cached yet.

    Each process remembers a page's fields for MEMO_SECONDS and the outputs it served (keyed by
    version): under a spike most answers touch neither Redis nor the database, and a change made in
    another process shows here within MEMO_SECONDS (at once in the process that made it)."""
    fields = remembered_meta(slug)
    if not fields or not fields["is_public"]:
        return None
    key, headers = representation(fields, name, extra_headers)
    stored = _bodies.get(key)
    if stored is None:
        stored = cache.get(key)
        if stored is None or stored[1] == "missing":
            return None
        if len(_bodies) >= MEMO_BODIES:
            _bodies.clear()
        _bodies[key] = stored
    return answer_parts(request, stored, headers)
