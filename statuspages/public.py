"""The public side of a status page: HTML, Statuspage-compatible JSON, feeds and badges.

Everything is built from ``snapshot.take`` and cached whole, keyed by the page's
``version`` (bumped by every change that shows, statuspages.services.touch) and
the page's local date (the uptime bars move at midnight); entries also expire
after STATUSPAGE_CACHE_SECONDS so today's bar keeps up. Answers carry an ETag and
Last-Modified and turn into 304 for a client that has them. Public pages never
touch the session, so proxies may cache them; private ones (login or the page's
password) are ``Cache-Control: private`` and show nothing to anyone else: not
the page, not its JSON, feeds or badges (404, as for a page that does not exist).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date, url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_safe

from statuspages import snapshot as snapshots
from statuspages.models import StatusPage

JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
META_SECONDS = 300
SESSION_KEY = "statuspage-access"


# --- page lookup, access and the response cache -----------------------------------------------


def _meta_key(slug: str) -> str:
    return f"statuspages:meta:{slug}"


def _read_meta(slug: str) -> dict:
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
        cache.set(_meta_key(slug), _read_meta(slug), META_SECONDS)


def forget_slug(slug: str) -> None:
    """A slug that no longer names a page (renamed or deleted)."""
    _metas.pop(slug, None)
    cache.set(_meta_key(slug), _read_meta(slug), META_SECONDS)


def _meta(slug: str) -> dict | None:
    """The few fields every public request needs, remembered until the page changes."""
    meta = cache.get(_meta_key(slug))
    if meta is None:
        meta = _read_meta(slug)
        cache.add(_meta_key(slug), meta, META_SECONDS)
    return meta or None


def may_see(request: HttpRequest, meta: dict) -> bool:
    from tracepoint.accounts.roles import VIEWER, has_role

    if meta["is_public"]:
        return True
    if has_role(request.user, VIEWER):
        return True
    granted = request.session.get(SESSION_KEY, {})
    return bool(meta["password_tag"]) and granted.get(str(meta["pk"])) == meta["password_tag"]


def _page(request: HttpRequest, slug: str) -> dict:
    meta = _meta(slug)
    if meta is None or not may_see(request, meta):
        raise Http404("No such status page.")
    return meta


def _representation(meta: dict, name: str, extra_headers=None) -> tuple[str, dict[str, str]]:
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


def _store(key: str, build: Callable[[], tuple[bytes, str]]) -> tuple[bytes, str, str]:
    """Build and cache (body, content type, ETag); the ETag is the body's digest, so it changes with it."""
    body, content_type = build()
    stored = (body, content_type, '"' + hashlib.sha256(body).hexdigest()[:24] + '"')
    cache.set(key, stored, settings.TRACEPOINT["STATUSPAGE_CACHE_SECONDS"])
    return stored


def _matches(if_none_match: str, etag: str) -> bool:
    return etag in [tag.strip() for tag in if_none_match.split(",")]


def _cached(
    request: HttpRequest, meta: dict, name: str, build: Callable[[], tuple[bytes, str]], *, extra_headers=None
) -> HttpResponse:
    """One cached representation of the page (``name``): build() → (body, content type)."""
    key, headers = _representation(meta, name, extra_headers)
    stored = cache.get(key) or _store(key, build)
    body, content_type, etag = stored
    if content_type == "missing":
        raise Http404("Not on this page.")
    if _matches(request.headers.get("If-None-Match", ""), etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type=content_type)
    headers["ETag"] = etag
    for header, value in headers.items():
        response[header] = value
    return response


# What the WSGI fast path (events.fastpath) may answer from the cache alone: path → (slug, name, headers).
_FAST_ROUTES = [
    (re.compile(r"/status/(?P<slug>[a-z0-9-]{1,50})/"), lambda m: "page", None),
    (
        re.compile(r"/status/(?P<slug>[a-z0-9-]{1,50})/api/v2/(?P<resource>[a-z/.-]{1,60})"),
        lambda m: f"api:{m['resource']}" if m["resource"] in API_RESOURCES else None,
        {"Access-Control-Allow-Origin": "*"},
    ),
    (re.compile(r"/status/(?P<slug>[a-z0-9-]{1,50})/feed\.(?P<kind>atom|rss)"), lambda m: f"feed:{m['kind']}", None),
    (re.compile(r"/badge/(?P<slug>[a-z0-9-]{1,50})\.svg"), lambda m: "badge:", None),
    (re.compile(r"/badge/(?P<slug>[a-z0-9-]{1,50})/(?P<id>[a-z0-9]{12})\.svg"), lambda m: f"badge:{m['id']}", None),
    (
        re.compile(r"/status/(?P<slug>[a-z0-9-]{1,50})/incidents/(?P<id>[a-z0-9]{12})/"),
        lambda m: f"incident:{m['id']}",
        None,
    ),
    (
        re.compile(r"/status/(?P<slug>[a-z0-9-]{1,50})/maintenance/(?P<id>[a-z0-9]{12})/"),
        lambda m: f"maintenance:{m['id']}",
        None,
    ),
]


def from_cache(path: str, if_none_match: str) -> tuple[int, dict[str, str], bytes] | None:
    """A public page's representation straight from the cache, as (status, headers, body); None when
    the full view must answer (private page, not cached yet, not a cacheable route).

    Each process also remembers a page's version for MEMO_SECONDS and the representations it served
    (keyed by version): under a spike most answers touch neither Redis nor the database, and a change
    made in another process shows here within MEMO_SECONDS (at once in the process that made it)."""
    for pattern, name_of, extra in _FAST_ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        name = name_of(match)
        if name is None:
            return None
        meta = _remembered_meta(match["slug"])
        if not meta or not meta["is_public"]:
            return None
        key, headers = _representation(meta, name, extra)
        stored = _bodies.get(key)
        if stored is None:
            stored = cache.get(key)
            if stored is None or stored[1] == "missing":
                return None
            if len(_bodies) >= MEMO_BODIES:
                _bodies.clear()
            _bodies[key] = stored
        body, content_type, etag = stored
        headers["ETag"] = etag
        if _matches(if_none_match, etag):
            return 304, headers, b""
        headers["Content-Type"] = content_type
        return 200, headers, body
    return None


MEMO_SECONDS = 1.0
MEMO_BODIES = 256
_metas: dict[str, tuple[float, dict | None]] = {}
_bodies: dict[str, tuple[bytes, str]] = {}


def _remembered_meta(slug: str) -> dict | None:
    now = time.monotonic()
    remembered = _metas.get(slug)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    meta = cache.get(_meta_key(slug))  # never the database here: a miss goes to the full view
    if meta is not None:
        if len(_metas) >= MEMO_BODIES:
            _metas.clear()
        _metas[slug] = (now + MEMO_SECONDS, meta)
    return meta


def _load(meta: dict) -> StatusPage:
    page = StatusPage.objects.filter(pk=meta["pk"]).first()
    if page is None:  # deleted a moment ago
        raise Http404("No such status page.")
    return page


# --- HTML -----------------------------------------------------------------------------------------


@require_safe
def page(request: HttpRequest, slug: str) -> HttpResponse:
    meta = _meta(slug)
    if meta is not None and not may_see(request, meta):  # a private page: ask for its password or a login
        here = reverse("statuspages-public:page", args=[slug])
        if meta["password_tag"]:
            return redirect(f"{reverse('statuspages-public:access', args=[slug])}?next={here}")
        return redirect(f"{reverse('login')}?next={here}")
    meta = _page(request, slug)

    def build():
        snap = snapshots.take(_load(meta))
        rows = snapshots.bars(snap)
        html = render_to_string(
            "statuspages/public/page.html",
            {
                "snap": snap,
                "page": snap.page,
                "bars": rows,
                "uptimes": {pk: snapshots.window_uptime(r) for pk, r in rows.items()},
            },
        )
        return html.encode(), "text/html; charset=utf-8"

    return _cached(request, meta, "page", build)


@require_safe
def incident(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    meta = _page(request, slug)

    def build():
        status_page = _load(meta)
        link = snapshots.published_incidents(status_page).filter(public_id=public_id).first()
        if link is None:
            return b"", "missing"
        html = render_to_string(
            "statuspages/public/incident.html",
            {"page": status_page, "item": link, "status": snapshots.incident_status(link), "kind": "incident"},
        )
        return html.encode(), "text/html; charset=utf-8"

    return _cached(request, meta, f"incident:{public_id}", build)


@require_safe
def maintenance(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    meta = _page(request, slug)

    def build():
        status_page = _load(meta)
        window = snapshots.maintenances(status_page).filter(public_id=public_id).first()
        if window is None:
            return b"", "missing"
        html = render_to_string(
            "statuspages/public/incident.html",
            {"page": status_page, "item": window, "status": window.status, "kind": "maintenance"},
        )
        return html.encode(), "text/html; charset=utf-8"

    return _cached(request, meta, f"maintenance:{public_id}", build)


@require_safe
def history(request: HttpRequest, slug: str) -> HttpResponse:
    """Incidents and maintenance by month, newest month first: ``?month=YYYY-MM`` (default: this month)."""
    meta = _page(request, slug)
    zone = ZoneInfo(meta["time_zone"])
    today = timezone.now().astimezone(zone)
    try:
        year, month = (int(part) for part in request.GET.get("month", f"{today:%Y-%m}").split("-"))
        if not 1970 <= year <= today.year:
            raise ValueError("out of range")
        start = datetime(year, month, 1, tzinfo=zone)
    except (TypeError, ValueError):
        raise Http404("Use ?month=YYYY-MM, from 1970 to this month.") from None
    if start > today:
        raise Http404("That month has not happened yet.")
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    previous = datetime(year - (month == 1), 12 if month == 1 else month - 1, 1, tzinfo=zone)
    previous = previous if previous.year >= 1970 else None

    def build():
        status_page = _load(meta)
        incidents = list(
            snapshots.published_incidents(status_page).filter(
                incident__created_at__gte=start, incident__created_at__lt=end
            )
        )
        windows = list(snapshots.maintenances(status_page).filter(scheduled_for__gte=start, scheduled_for__lt=end))
        html = render_to_string(
            "statuspages/public/history.html",
            {
                "page": status_page,
                "month": start,
                "previous": previous,
                "next": end if end <= today else None,
                "incidents": [(link, snapshots.incident_status(link)) for link in incidents],
                "maintenances": windows,
            },
        )
        return html.encode(), "text/html; charset=utf-8"

    return _cached(request, meta, f"history:{start:%Y-%m}", build)


@csrf_protect
@require_http_methods(["GET", "POST"])
def access(request: HttpRequest, slug: str) -> HttpResponse:
    """The password form of a private page."""
    from tracepoint.ratelimit import client_ip, hit

    status_page = StatusPage.objects.filter(slug=slug, is_public=False).exclude(password="").first()
    if status_page is None:
        raise Http404("No such status page.")
    error = ""
    retry_after = 0
    if request.method == "POST":
        decision = hit("auth", f"statuspage:{status_page.pk}:{client_ip(request)}", fail_closed=True)
        if not decision.allowed:
            retry_after = decision.retry_after
            error = f"Too many attempts. Try again in {retry_after} seconds."
        elif status_page.check_password(request.POST.get("password", "")):
            granted = {**request.session.get(SESSION_KEY, {}), str(status_page.pk): password_tag(status_page.password)}
            request.session.cycle_key()  # a new session id with the new right: no fixation
            request.session[SESSION_KEY] = granted
            target = request.POST.get("next") or reverse("statuspages-public:page", args=[slug])
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
                target = reverse("statuspages-public:page", args=[slug])
            return redirect(target)
        else:
            error = "That password is not right."
    response = render(
        request,
        "statuspages/public/access.html",
        {"page": status_page, "error": error, "next": request.GET.get("next", "")},
        status=429 if retry_after else 400 if error else 200,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


# --- Statuspage-compatible JSON -----------------------------------------------------------------

API_RESOURCES = {
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
}


@require_safe
def api(request: HttpRequest, slug: str, resource: str) -> HttpResponse:
    from statuspages import statuspage_json

    if resource not in API_RESOURCES:
        response = HttpResponse(json.dumps({"error": "not found"}), status=404, content_type="application/json")
        response["Access-Control-Allow-Origin"] = "*"
        return response
    meta = _page(request, slug)

    def build():
        body = statuspage_json.render(_load(meta), resource, base_url=request.build_absolute_uri("/").rstrip("/"))
        # <, > and & as \u escapes: the same strings to a JSON client, inert if a browser renders the body.
        text = json.dumps(body, ensure_ascii=False).translate(JSON_ESCAPES)
        return text.encode(), "application/json"

    return _cached(request, meta, f"api:{resource}", build, extra_headers={"Access-Control-Allow-Origin": "*"})


# --- feeds and badges -----------------------------------------------------------------------------


@require_safe
def feed(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    from statuspages import feeds

    meta = _page(request, slug)

    def build():
        return feeds.render(_load(meta), kind, base_url=request.build_absolute_uri("/").rstrip("/"))

    return _cached(request, meta, f"feed:{kind}", build)


@require_safe
def badge(request: HttpRequest, slug: str, component: str | None = None) -> HttpResponse:
    from statuspages import badges

    meta = _page(request, slug)

    def build():
        status_page = _load(meta)
        if component is None:
            snap = snapshots.take(status_page)
            return badges.page_badge(snap.indicator, snap.description).encode(), "image/svg+xml"
        found = status_page.components.filter(public_id=component).first()
        if found is None:
            return b"", "missing"
        return badges.component_badge(found.name, found.status).encode(), "image/svg+xml"

    return _cached(request, meta, f"badge:{component or ''}", build)


# --- subscriptions ---------------------------------------------------------------------------------


# No CSRF token: the page is one cached copy for everyone, and a forged POST could do no more than
# the forger can do directly (start a subscription that only the mailbox's owner can confirm).
@csrf_exempt
@require_http_methods(["POST"])
def subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """The page's subscribe form: a confirmation mail; the same answer whatever the address's history."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from statuspages import subscribers
    from tracepoint.ratelimit import client_ip, hit

    meta = _page(request, slug)
    status_page = _load(meta)
    email = request.POST.get("email", "").strip()
    error = ""
    try:
        if len(email) > 254:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        error = "Enter a valid email address."
    if not error and not hit("write", f"subscribe:{client_ip(request)}").allowed:
        error = "Too many requests; try again in a minute."
    if not error:
        components = status_page.components.filter(public_id__in=request.POST.getlist("components")[:200])
        try:
            subscribers.subscribe_email(status_page, email, components=components)
        except subscribers.SubscriptionError as exc:
            error = exc.message
    return render(
        request,
        "statuspages/public/subscribed.html",
        {"page": status_page, "error": error, "email": email},
        status=400 if error else 200,
    )


@csrf_protect
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """GET shows a button (link scanners must not confirm for anyone); POST confirms."""
    from statuspages import subscribers
    from statuspages.models import Subscriber

    subscriber = Subscriber.objects.select_related("page").filter(token=token, page__slug=slug).first()
    if subscriber is None:
        raise Http404("This link is not valid any more.")
    if request.method == "POST":
        subscribers.confirm(token)
        subscriber.refresh_from_db()
    return render(request, "statuspages/public/confirm.html", {"page": subscriber.page, "subscriber": subscriber})


@csrf_exempt  # the token is the credential; mail clients send RFC 8058 one-click POSTs without a form
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    from statuspages import subscribers
    from statuspages.models import Subscriber

    subscriber = Subscriber.objects.select_related("page").filter(token=token, page__slug=slug).first()
    if subscriber is None:  # already gone, or never was: nothing to show (not even a private page's name)
        return HttpResponse("Unsubscribed.", content_type="text/plain; charset=utf-8", status=404)
    status_page = subscriber.page
    done = False
    if request.method == "POST":
        subscribers.unsubscribe(token)
        done = True
    return render(
        request,
        "statuspages/public/unsubscribe.html",
        {"page": status_page, "subscriber": subscriber, "done": done},
    )
