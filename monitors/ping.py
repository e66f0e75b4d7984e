"""Heartbeat ping endpoints, Healthchecks-compatible: ``/ping/<uuid>[/start|/fail|/log|/<exit status>]``.

HEAD, GET and POST are equivalent; the key in the URL is the only credential;
a POSTed body (its first PING_BODY_LIMIT bytes) is kept with the ping.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from monitors import services
from tracepoint.errors import NotFoundError
from tracepoint.ratelimit import client_ip


def _text(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    response["Ping-Body-Limit"] = str(services.ping_body_limit())
    return response


@csrf_exempt
@never_cache
def ping(request: HttpRequest, key, action: str | None = None) -> HttpResponse:
    if request.method not in ("GET", "HEAD", "POST"):
        response = _text("method not allowed", 405)
        response["Allow"] = "GET, HEAD, POST"
        return response
    try:
        services.record_ping(
            key,
            action=action,
            method=request.method,
            body=request.body if request.method == "POST" else b"",
            rid=request.GET.get("rid"),
            remote_addr=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except services.InvalidPing as exc:
        return _text(exc.message, 400)
    except NotFoundError:
        return _text("not found", 404)
    return _text("OK")
