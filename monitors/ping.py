"""Heartbeat ping endpoints, Healthchecks-compatible: ``/ping/<uuid>[/start|/fail|/log|/<exit status>]``.

HEAD, GET and POST are equivalent; the key in the URL is the only credential;
a POSTed body (its first PING_BODY_MAX_BYTES bytes) is kept with the ping. In
production the WSGI fast path (events.fastpath) answers pings through
``answer`` without Django's handler; this view is the same answer for the
development server, the test client and methods the fast path leaves alone.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from monitors import services
from tracepoint import metrics
from tracepoint.errors import NotFoundError
from tracepoint.ratelimit import client_ip

ALLOWED_METHODS = ("GET", "HEAD", "POST")
# What never_cache would add; written out once because this is the hottest path there is.
NO_CACHE_HEADERS = (
    ("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate, private"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
)


def headers() -> list[tuple[str, str]]:
    return [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Access-Control-Allow-Origin", "*"),
        ("Ping-Body-Limit", str(services.ping_body_limit())),
        *NO_CACHE_HEADERS,
    ]


def answer(request: HttpRequest, key, action: str | None) -> tuple[int, str]:
    """Record one ping; (status code, plain-text body) as Healthchecks answers."""
    if request.method not in ALLOWED_METHODS:
        return 405, "method not allowed"
    try:
        services.accept_ping(
            key,
            action=action,
            method=request.method,
            body=request.body if request.method == "POST" else b"",
            rid=request.GET.get("rid"),
            remote_addr=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except services.InvalidPing as exc:
        metrics.PINGS.labels("invalid").inc()
        return 400, exc.message
    except NotFoundError:
        metrics.PINGS.labels("unknown").inc()
        return 404, "not found"
    metrics.PINGS.labels("accepted").inc()
    return 200, "OK"


@csrf_exempt
def ping(request: HttpRequest, key, action: str | None = None) -> HttpResponse:
    status, text = answer(request, key, action)
    response = HttpResponse(text, status=status)
    for name, value in headers():
        response[name] = value
    if status == 405:
        response["Allow"] = ", ".join(ALLOWED_METHODS)
    return response
