"""The HTTP side of live streams (tracepoint/stream.py), shared by every app's stream views: the SSE
response, CORS for the stream service on its own origin, and the refusals (no role, no Redis, not under
ASGI) in the error shape."""

from __future__ import annotations

from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework.exceptions import AuthenticationFailed

from tracepoint import links, stream
from tracepoint.accounts.authentication import KEYWORDS, TokenAuthentication
from tracepoint.accounts.roles import VIEWER, has_role
from tracepoint.api.errors import error_response


def token_user(request: HttpRequest):
    """The user of an ``Authorization: Token …`` header (API clients of a stream), or None."""
    parts = request.headers.get("Authorization", "").split()
    if len(parts) != 2 or parts[0].lower().encode() not in KEYWORDS:
        return None
    try:
        user, _ = TokenAuthentication().authenticate_key(parts[1])
    except AuthenticationFailed:
        return None
    return user


async def sse_response(events) -> StreamingHttpResponse:
    """An SSE answer streaming ``events`` (tracepoint.stream.events)."""
    # A stream may stay open for minutes: it must not keep this request's database connection.
    await sync_to_async(connections.close_all)()
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: do not buffer a stream
    return response


def _allowed_origin(request: HttpRequest) -> str | None:
    """The page's origin when it may read this stream with its cookies (the stream service on another port)."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    # Exact origins only (scheme, host and port): never a pattern from ALLOWED_HOSTS.
    trusted = {_origin(links.base_url()), *map(_origin, settings.CSRF_TRUSTED_ORIGINS)}
    return origin if origin in trusted else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def with_cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    origin = _allowed_origin(request)
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
    response["Vary"] = "Origin, Cookie, Authorization"
    return response


def needs_asgi() -> HttpResponse:
    # Under a WSGI server a stream would hold a worker for minutes: a handful of
    # clients could starve every other request. The ASGI stream service serves them.
    return error_response(
        503,
        "Live streams are served by the ASGI stream service (see README: live stream), not by this server.",
        details={"dependency": "stream service"},
        headers={"Retry-After": "60"},
    )


def unavailable() -> HttpResponse:
    return error_response(
        503,
        "The live stream needs Redis (REDIS_URL); poll the API instead.",
        details={"dependency": "redis"},
        headers={"Retry-After": "60"},
    )


async def page_stream_refusal(request: HttpRequest) -> HttpResponse | None:
    """Why a dashboard page's stream (session login) cannot be opened, or None when it can."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    if not await sync_to_async(has_role)(user, VIEWER):
        return HttpResponse(status=403)
    if not stream.available():
        return unavailable()
    if not isinstance(request, ASGIRequest):
        return needs_asgi()
    return None
