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

import json
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_safe

from statuspages import badges, feeds, logos, public_cache, statuspage_json, subscribers
from statuspages import snapshot as snapshots
from statuspages.models import StatusPage, Subscriber
from tracepoint.accounts.roles import VIEWER, has_role
from tracepoint.middleware import quiet_success
from tracepoint.ratelimit import client_ip, hit

JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
META_SECONDS = 300
SESSION_KEY = "statuspage-access"


# --- page lookup and access -------------------------------------------------------------------


def may_see(request: HttpRequest, meta: dict) -> bool:
    if meta["is_public"]:
        return True
    if has_role(request.user, VIEWER):
        return True
    granted = request.session.get(SESSION_KEY, {})
    return bool(meta["password_tag"]) and granted.get(str(meta["pk"])) == meta["password_tag"]


def _page(request: HttpRequest, slug: str) -> dict:
    meta = public_cache.meta(slug)
    if meta is None or not may_see(request, meta):
        raise Http404("No such status page.")
    return meta


def from_cache(request: HttpRequest, view: Callable, kwargs: dict) -> tuple[int, list, bytes] | None:
    """What ``view`` would answer, as (status, headers, body), from the cache alone, for the WSGI fast
    path (tracepoint.fastpath); None when the full view must answer (private page, not cached yet, not
    a cached output)."""
    output = _CACHED_OUTPUTS.get(view)
    named = output(kwargs) if output is not None else None
    if named is None:
        return None
    return public_cache.from_memory(request, kwargs["slug"], *named)


def _load(meta: dict) -> StatusPage:
    page = StatusPage.objects.filter(pk=meta["pk"]).first()
    if page is None:  # deleted a moment ago
        raise Http404("No such status page.")
    return page


# --- HTML -----------------------------------------------------------------------------------------


def page_context(status_page: StatusPage) -> dict:
    """What the public page's template shows (also the dashboard's preview of it)."""
    snap = snapshots.take(status_page)
    rows = snapshots.bars(snap)
    return {
        "snap": snap,
        "page": snap.page,
        "bars": rows,
        "uptimes": {pk: snapshots.window_uptime(r) for pk, r in rows.items()},
    }


@quiet_success
@require_safe
def page(request: HttpRequest, slug: str) -> HttpResponse:
    meta = public_cache.meta(slug)
    if meta is not None and not may_see(request, meta):  # a private page: ask for its password or a login
        here = reverse("statuspages-public:page", args=[slug])
        if meta["password_tag"]:
            return redirect(f"{reverse('statuspages-public:access', args=[slug])}?next={here}")
        return redirect(f"{reverse('login')}?next={here}")
    meta = _page(request, slug)

    def build():
        html = render_to_string("statuspages/public/page.html", page_context(_load(meta)))
        return html.encode(), "text/html; charset=utf-8"

    return public_cache.cached(request, meta, "page", build)


@quiet_success
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

    return public_cache.cached(request, meta, f"incident:{public_id}", build)


@quiet_success
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

    return public_cache.cached(request, meta, f"maintenance:{public_id}", build)


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

    return public_cache.cached(request, meta, f"history:{start:%Y-%m}", build)


@csrf_protect
@require_http_methods(["GET", "POST"])
def access(request: HttpRequest, slug: str) -> HttpResponse:
    """The password form of a private page."""
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
            granted = {
                **request.session.get(SESSION_KEY, {}),
                str(status_page.pk): public_cache.password_tag(status_page.password),
            }
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


# --- the logo ------------------------------------------------------------------------------------

LOGO_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": "inline",
    "Cross-Origin-Resource-Policy": "same-site",
}


@require_safe
def logo(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """A page's uploaded logo, to whoever may see the page (a private page's only after its password or
    a login), with the type stored at upload. ``token`` names this upload, so a new logo is a new URL
    and this one may be cached for a long time."""
    meta = _page(request, slug)
    row = StatusPage.objects.filter(pk=meta["pk"]).values("logo", "logo_content_type").first()
    if not row or not row["logo"] or logos.token_of(row["logo"]) != token:
        raise Http404("No such logo.")
    etag = f'"{token}"'
    if public_cache.matches(request.headers.get("If-None-Match", ""), etag):
        response = HttpResponseNotModified()
    else:
        try:
            stored = default_storage.open(row["logo"], "rb")
        except FileNotFoundError:
            raise Http404("No such logo.") from None
        response = FileResponse(stored, content_type=row["logo_content_type"])
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=31536000, immutable" if meta["is_public"] else "private, no-cache"
    if not meta["is_public"]:
        patch_vary_headers(response, ["Cookie"])
    for name, value in LOGO_HEADERS.items():
        response[name] = value
    return response


# --- Statuspage-compatible JSON -----------------------------------------------------------------

API_CORS = {"Access-Control-Allow-Origin": "*"}
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


@quiet_success
@require_safe
def api(request: HttpRequest, slug: str, resource: str) -> HttpResponse:
    if resource not in API_RESOURCES:
        response = HttpResponse(json.dumps({"error": "not found"}), status=404, content_type="application/json")
        for name, value in API_CORS.items():
            response[name] = value
        return response
    meta = _page(request, slug)

    def build():
        body = statuspage_json.render(_load(meta), resource, base_url=request.build_absolute_uri("/").rstrip("/"))
        # <, > and & as \u escapes: the same strings to a JSON client, inert if a browser renders the body.
        text = json.dumps(body, ensure_ascii=False).translate(JSON_ESCAPES)
        return text.encode(), "application/json"

    return public_cache.cached(request, meta, f"api:{resource}", build, extra_headers=API_CORS)


# --- feeds and badges -----------------------------------------------------------------------------


@quiet_success
@require_safe
def feed(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    meta = _page(request, slug)

    def build():
        return feeds.render(_load(meta), kind, base_url=request.build_absolute_uri("/").rstrip("/"))

    return public_cache.cached(request, meta, f"feed:{kind}", build)


@quiet_success
@require_safe
def badge(request: HttpRequest, slug: str, component: str | None = None) -> HttpResponse:
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

    return public_cache.cached(request, meta, f"badge:{component or ''}", build)


# --- subscriptions ---------------------------------------------------------------------------------


# No CSRF token: the page is one cached copy for everyone, and a forged POST could do no more than
# the forger can do directly (start a subscription that only the mailbox's owner can confirm).
@csrf_exempt
@require_http_methods(["POST"])
def subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """The page's subscribe form: a confirmation mail; the same answer whatever the address's history."""
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


# The cached representation each public view answers with, by the view's keyword arguments: what
# from_cache may serve without the view (the views above name the same representations).
_CACHED_OUTPUTS: dict[Callable, Callable[[dict], tuple[str, dict | None] | None]] = {
    page: lambda kwargs: ("page", None),
    api: lambda kwargs: (f"api:{kwargs['resource']}", API_CORS) if kwargs["resource"] in API_RESOURCES else None,
    feed: lambda kwargs: (f"feed:{kwargs['kind']}", None),
    badge: lambda kwargs: (f"badge:{kwargs.get('component') or ''}", None),
    incident: lambda kwargs: (f"incident:{kwargs['public_id']}", None),
    maintenance: lambda kwargs: (f"maintenance:{kwargs['public_id']}", None),
}
